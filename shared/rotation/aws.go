package rotation

import (
	"context"
	"errors"
	"fmt"
)

// The steps of Secrets Manager's rotation protocol.
const (
	StepCreate = "createSecret"
	StepSet    = "setSecret"
	StepTest   = "testSecret"
	StepFinish = "finishSecret"
)

// Step runs one step of Secrets Manager's rotation of secret to version token, as AWS's rotation
// templates do. Every step is idempotent and safe after a crash of any earlier one. It refuses,
// changing nothing, when rotation is not enabled on the secret, when token is not one of its
// versions, or when token's version is staged neither pending nor current; when it is current
// already, it succeeds doing nothing.
func (r *Rotator) Step(ctx context.Context, secret, token, name string) error {
	s := step{r: r, secret: secret, version: token, name: name}
	switch name {
	case StepCreate, StepSet, StepTest, StepFinish:
	default:
		return s.end("", fmt.Errorf("unknown step %q: want %s, %s, %s or %s", name, StepCreate, StepSet, StepTest, StepFinish))
	}
	if err := r.ready(); err != nil {
		return s.end("", err)
	}
	d, err := r.describe(ctx, secret)
	if err != nil {
		return s.end("", err)
	}
	if !d.RotationEnabled {
		return s.end("", errors.New("rotation is not enabled on the secret"))
	}
	v, ok := d.Version(token)
	if !ok {
		return s.end("", errors.New("the token is not a version of the secret"))
	}
	if v.Has(r.Stages.Current) {
		return s.end(OutcomeNothing, nil)
	}
	if !v.Has(r.Stages.Pending) {
		return s.end("", fmt.Errorf("the token's version is staged neither %s nor %s", r.Stages.Pending, r.Stages.Current))
	}
	outcome, err := r.runStep(ctx, secret, token, name, d)
	return s.end(outcome, err)
}

func (r *Rotator) runStep(ctx context.Context, secret, token, name string, d Description) (string, error) {
	switch name {
	case StepCreate:
		cur, err := r.value(ctx, secret, "", r.Stages.Current)
		if err != nil {
			return "", err
		}
		if _, err := r.Secrets.Value(ctx, secret, token, r.Stages.Pending); err == nil {
			return OutcomeNothing, nil
		} else if !errors.Is(err, ErrVersionNotFound) {
			return "", err
		}
		val, err := r.generate(cur)
		if err != nil {
			return "", err
		}
		return OutcomeDone, r.put(ctx, secret, token, val, []string{r.Stages.Pending})
	case StepSet:
		pending, err := r.value(ctx, secret, token, r.Stages.Pending)
		if err != nil {
			return "", err
		}
		return r.setPending(ctx, secret, pending)
	case StepTest:
		pending, err := r.value(ctx, secret, token, r.Stages.Pending)
		if err != nil {
			return "", err
		}
		return OutcomeDone, r.testPending(ctx, pending)
	default: // StepFinish
		cur, ok := d.Staged(r.Stages.Current)
		if !ok {
			return "", fmt.Errorf("no version is staged %s", r.Stages.Current)
		}
		if err := r.move(ctx, secret, r.Stages.Current, token, cur.ID); err != nil {
			return "", err
		}
		if r.Rotated != nil {
			if v, err := r.value(ctx, secret, token, ""); err == nil {
				r.rotated(ctx, secret, token, v)
			}
		}
		return OutcomeDone, nil
	}
}
