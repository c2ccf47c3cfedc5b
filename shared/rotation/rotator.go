package rotation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
)

// Outcomes, in the log field OutcomeField of every step's line. Alarm on OutcomeFailed.
const (
	OutcomeField   = "rotation_outcome"
	OutcomeDone    = "done"    // the step changed something
	OutcomeNothing = "nothing" // the step found its work done already (a repeat, or another run did it)
	OutcomeLocked  = "locked"  // another invocation holds this slot's rotation
	OutcomeFailed  = "failed"  // the step failed; the platform retries, the error says why
)

// Rotator rotates secrets through a Secrets service and the directories their accounts live in.
// It is safe for concurrent use.
type Rotator struct {
	Secrets Secrets
	Stages  Stages
	// Account returns the directory called name (a key of directories, or "embedded").
	Account func(ctx context.Context, name string) (Account, error)
	// Policy makes the new passwords. Required.
	Policy Policy
	// WrongPassword reports whether an error of an Account means that the directory refused
	// the password (a wrong password, not an unreachable or failing directory): the steps bind
	// with the pending, current and previous passwords in turn and act on which is refused.
	// Required; setup supplies the password domain's test (error code EUNAUTHORIZED).
	WrongPassword func(error) bool
	Logger        zerolog.Logger
	// Rotated, when set, is told of every rotation that finished here (the current
	// stage moved to the new version), with the account's directory and user name,
	// never its password: setup publishes the change event through it. A
	// rotation that some earlier run finished is not told again.
	Rotated func(ctx context.Context, secret, version, directory, user string)
	// Attempts and Backoff bound the retries of a throttled secret-service call: Attempts tries
	// in all, waiting Backoff, then twice as long, … between them. Zero means 5 and 200ms.
	Attempts int
	Backoff  time.Duration
}

// step is one logged step of a rotation.
type step struct {
	r                     *Rotator
	secret, version, name string
}

// log writes the step's one line: the secret, the version, the step, the outcome and, on
// failure, the cause (never a value: the adapters' and directories' errors hold none).
func (s step) log(outcome string, err error) {
	ev := s.r.Logger.Info()
	if outcome == OutcomeFailed {
		ev = s.r.Logger.Error().Err(err)
	}
	ev.Str("event", "rotation").Str("secret", s.secret).Str("version", s.version).Str("step", s.name).
		Str(OutcomeField, outcome).Msg("rotation step")
}

// end logs the outcome of the step and returns its error as a *Failure.
func (s step) end(outcome string, err error) error {
	if err != nil {
		s.log(OutcomeFailed, err)
		return &Failure{Secret: s.secret, Version: s.version, Step: s.name, Err: err}
	}
	s.log(outcome, nil)
	return nil
}

// ready returns an error when r lacks a field it cannot run without, before any step changes
// anything.
func (r *Rotator) ready() error {
	switch {
	case r.Policy == nil:
		return errors.New("the Rotator has no Policy to generate passwords with")
	case r.WrongPassword == nil:
		return errors.New("the Rotator has no WrongPassword to tell a refused password from a failing directory")
	}
	return nil
}

// retry runs call until it succeeds, fails other than by throttling, or Attempts run out.
func (r *Rotator) retry(ctx context.Context, call func() error) error {
	attempts, wait := r.Attempts, r.Backoff
	if attempts <= 0 {
		attempts = 5
	}
	if wait <= 0 {
		wait = 200 * time.Millisecond
	}
	var err error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%w (gave up waiting: %v)", err, ctx.Err())
			case <-t.C:
			}
			wait *= 2
		}
		if err = call(); err == nil || !errors.Is(err, ErrThrottled) {
			return err
		}
	}
	return fmt.Errorf("%w (after %d attempts)", err, attempts)
}

func (r *Rotator) describe(ctx context.Context, secret string) (d Description, err error) {
	err = r.retry(ctx, func() error { d, err = r.Secrets.Describe(ctx, secret); return err })
	return d, err
}

func (r *Rotator) value(ctx context.Context, secret, id, stage string) (Value, error) {
	var s string
	err := r.retry(ctx, func() (err error) { s, err = r.Secrets.Value(ctx, secret, id, stage); return err })
	if err != nil {
		return Value{}, err
	}
	v, err := ParseValue(s)
	if err != nil {
		return Value{}, fmt.Errorf("version %s%s: %w", id, stage, err)
	}
	return v, nil
}

func (r *Rotator) put(ctx context.Context, secret, id, value string, stages []string) error {
	return r.retry(ctx, func() error { return r.Secrets.Put(ctx, secret, id, value, stages) })
}

func (r *Rotator) move(ctx context.Context, secret, stage, to, from string) error {
	return r.retry(ctx, func() error { return r.Secrets.MoveStage(ctx, secret, stage, to, from) })
}

// generate makes the pending value from the current one.
func (r *Rotator) generate(cur Value) (string, error) {
	pw, err := r.Policy.Generate(cur.Username, cur.Exclude, cur.Length)
	if err != nil {
		return "", err
	}
	return cur.WithPassword(pw)
}

// setPending makes the directory hold pending's password: nothing when it binds already; else as
// the account (with the current password, or the previous one when a cut-off run changed it
// before the stages moved) or as the service account, per the secret's mode.
//
// It binds with the current password first, and with the pending one only when the current one
// is refused: in the usual run (nothing set yet) no bind fails, and after a cut-off run that set
// the pending password the refused one is the password just before it, which Active Directory
// does not count in badPwdCount (a wrong password equal to one of the two previous ones is not
// counted). Binding with the pending password first would count a failed logon on every
// rotation, towards a lockout (AD's badPwdCount, OpenLDAP ppolicy's pwdFailureTime).
func (r *Rotator) setPending(ctx context.Context, secret string, pending Value) (string, error) {
	acct, err := r.account(ctx, pending)
	if err != nil {
		return "", err
	}
	holdsCurrent := false
	cur, err := r.value(ctx, secret, "", r.Stages.Current)
	switch {
	case errors.Is(err, ErrVersionNotFound):
	case err != nil:
		return "", err
	case cur.Username == pending.Username && cur.Password != pending.Password:
		err = acct.Verify(ctx, cur.Username, cur.Password)
		if err != nil && !r.WrongPassword(err) {
			return "", fmt.Errorf("binding with the current password: %w", err)
		}
		holdsCurrent = err == nil
	}
	if !holdsCurrent {
		err = acct.Verify(ctx, pending.Username, pending.Password)
		if err == nil {
			return OutcomeNothing, nil
		}
		if !r.WrongPassword(err) {
			return "", fmt.Errorf("binding with the pending password: %w", err)
		}
	}
	if pending.Mode == ModeService {
		return OutcomeDone, acct.ResetPassword(ctx, pending.Username, pending.Password)
	}
	var lastErr error
	for _, stage := range []string{r.Stages.Current, r.Stages.Previous} {
		old, err := r.value(ctx, secret, "", stage)
		if errors.Is(err, ErrVersionNotFound) {
			continue
		}
		if err != nil {
			return "", err
		}
		if old.Username != pending.Username {
			return "", fmt.Errorf("the %s version names user %q, the pending one %q", stage, old.Username, pending.Username)
		}
		err = acct.ChangePassword(ctx, pending.Username, old.Password, pending.Password)
		if err == nil {
			return OutcomeDone, nil
		}
		if !r.WrongPassword(err) {
			return "", err
		}
		lastErr = err
	}
	return "", fmt.Errorf("neither the current nor the previous password binds: %w", lastErr)
}

// account returns the directory of v, addressing v's DN when the secret names one.
func (r *Rotator) account(ctx context.Context, v Value) (Account, error) {
	acct, err := r.Account(ctx, v.Directory)
	if err != nil || v.DN == "" {
		return acct, err
	}
	da, ok := acct.(DNAccount)
	if !ok {
		return nil, fmt.Errorf("directory %q does not take accounts by DN; remove the secret's \"dn\"", v.Directory)
	}
	return byDN{a: da, dn: v.DN}, nil
}

// testPending binds with the pending password.
func (r *Rotator) testPending(ctx context.Context, pending Value) error {
	acct, err := r.account(ctx, pending)
	if err != nil {
		return err
	}
	if err := acct.Verify(ctx, pending.Username, pending.Password); err != nil {
		return fmt.Errorf("the pending password does not bind: %w", err)
	}
	return nil
}

// rotated tells Rotated, when set, that the rotation of secret to version v
// finished here.
func (r *Rotator) rotated(ctx context.Context, secret, version string, v Value) {
	if r.Rotated != nil {
		r.Rotated(ctx, secret, version, v.Directory, v.Username)
	}
}
