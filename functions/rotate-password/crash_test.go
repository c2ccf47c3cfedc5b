package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chpass/shared/kms"
	"chpass/shared/kms/kmstest"
	"chpass/shared/ldap"
	"chpass/shared/ldap/ldaptest"
	"chpass/shared/logtest"
	"chpass/shared/password"
	"chpass/shared/password/directorytest"
	"chpass/shared/rotation"
	"chpass/shared/secretsmanager"
	smtest "chpass/shared/secretsmanager/secretsmanagertest"

	"github.com/rs/zerolog"
)

// errCut stands for the process dying: the call before it happened, nothing after it does.
var errCut = errors.New("cut off")

// cutter lets limit calls through, then cuts: the limit-th call's effect stays, its answer is
// lost, and every later call fails.
type cutter struct {
	mu           sync.Mutex
	calls, limit int // limit 0: never cut
	log          []string
}

func (c *cutter) before() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.limit > 0 && c.calls >= c.limit {
		return errCut
	}
	return nil
}

func (c *cutter) after(op string, err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	c.log = append(c.log, op)
	if c.limit > 0 && c.calls >= c.limit {
		return errCut
	}
	return err
}

type cutSecrets struct {
	in rotation.Secrets
	c  *cutter
}

func (s cutSecrets) Describe(ctx context.Context, secret string) (rotation.Description, error) {
	if err := s.c.before(); err != nil {
		return rotation.Description{}, err
	}
	d, err := s.in.Describe(ctx, secret)
	return d, s.c.after("secrets.Describe", err)
}

func (s cutSecrets) Value(ctx context.Context, secret, id, stage string) (string, error) {
	if err := s.c.before(); err != nil {
		return "", err
	}
	v, err := s.in.Value(ctx, secret, id, stage)
	return v, s.c.after("secrets.Value", err)
}

func (s cutSecrets) Put(ctx context.Context, secret, id, value string, stages []string) error {
	if err := s.c.before(); err != nil {
		return err
	}
	return s.c.after("secrets.Put", s.in.Put(ctx, secret, id, value, stages))
}

func (s cutSecrets) MoveStage(ctx context.Context, secret, stage, to, from string) error {
	if err := s.c.before(); err != nil {
		return err
	}
	return s.c.after("secrets.MoveStage", s.in.MoveStage(ctx, secret, stage, to, from))
}

type cutAccount struct {
	in   rotation.Account
	c    *cutter
	down atomic.Bool // the directory is down for changes
}

func (a *cutAccount) Verify(ctx context.Context, name, pw string) error {
	if err := a.c.before(); err != nil {
		return err
	}
	return a.c.after("directory.Verify", a.in.Verify(ctx, name, pw))
}

func (a *cutAccount) ChangePassword(ctx context.Context, name, old, pw string) error {
	if err := a.c.before(); err != nil {
		return err
	}
	if a.down.Load() {
		return a.c.after("directory.ChangePassword", password.Errorf(password.EUNAVAILABLE, "The directory is unavailable."))
	}
	return a.c.after("directory.ChangePassword", a.in.ChangePassword(ctx, name, old, pw))
}

func (a *cutAccount) ResetPassword(ctx context.Context, name, pw string) error {
	if err := a.c.before(); err != nil {
		return err
	}
	if a.down.Load() {
		return a.c.after("directory.ResetPassword", password.Errorf(password.EUNAVAILABLE, "The directory is unavailable."))
	}
	return a.c.after("directory.ResetPassword", a.in.ResetPassword(ctx, name, pw))
}

// cloud is one secret service with its protocol, as the platform drives it.
type cloud struct {
	name    string
	stages  rotation.Stages
	secrets rotation.Secrets
	// create makes a secret holding value and returns its id and first version.
	create func(value string) (secret, version string)
	// run is one attempt of the platform: Secrets Manager calls the four steps in order (stopping
	// at a failure); the FC timer calls the function once. It returns the version being rotated.
	run func(r *rotation.Rotator, secret, version string) error
	// begin starts a rotation and returns its version: the token, or the slot's version.
	begin func(secret string) string
	// end does what the service does after a successful rotation.
	end func(secret, version string)
	// versions returns id -> stages and id -> value.
	versions func(secret string) (map[string][]string, map[string]string)
	// throttle makes the service throttle its next n requests.
	throttle func(n int)
	// env points a child process's SDK at the fake service.
	env map[string]string
}

var seq atomic.Int64

func clouds(t *testing.T) []cloud { return cloudsB(t) }

func cloudsB(t testing.TB) []cloud {
	aws := smtest.NewServer(t, smtest.Options{Region: "eu-central-1", AccessKeyID: "AKIAROTATEEXAMPLE", SecretAccessKey: "rotate-aws-secret"})
	awsEnv := aws.Env()
	awsStore := secretsmanager.NewStore(secretsmanager.Options{Getenv: func(k string) string { return awsEnv[k] }})
	ali := kmstest.NewServer(t, kmstest.Options{AccessKeyID: "LTAIrotateEXAMPLE", AccessKeySecret: "rotate-ali-secret"})
	aliEnv := ali.Env()
	aliEnv["FC_REGION"] = "cn-hangzhou"
	kmsStore := kms.NewStore(kms.Options{Getenv: func(k string) string { return aliEnv[k] }})
	uuid := func() string { return fmt.Sprintf("0b1c2d3e-0000-4000-8000-%012d", seq.Add(1)) }
	steps := []string{rotation.StepCreate, rotation.StepSet, rotation.StepTest, rotation.StepFinish}
	cs := []cloud{
		{
			name: "SecretsManager", stages: rotation.AWSStages, secrets: awsStore,
			create: func(value string) (string, string) {
				arn := fmt.Sprintf("arn:aws:secretsmanager:eu-central-1:123456789012:secret:rot-%d", seq.Add(1))
				v := uuid()
				aws.AddSecret(arn, v, value, true)
				return arn, v
			},
			begin: func(secret string) string { tok := uuid(); aws.StartRotation(secret, tok); return tok },
			run: func(r *rotation.Rotator, secret, token string) error {
				for _, s := range steps {
					if err := r.Step(context.Background(), secret, token, s); err != nil {
						return err
					}
				}
				return nil
			},
			end:      aws.EndRotation,
			versions: aws.Versions,
			throttle: aws.Throttle,
			env:      awsEnv,
		},
		{
			name: "KMS", stages: rotation.KMSStages, secrets: kmsStore,
			create: func(value string) (string, string) {
				name := fmt.Sprintf("rot-%d", seq.Add(1))
				ali.AddSecret(name, "v0", value)
				return name, "v0"
			},
			begin: func(string) string {
				return rotation.SlotVersion(time.Date(2026, 11, 29, 3, 0, int(seq.Add(1)%60), 0, time.UTC))
			},
			run: func(r *rotation.Rotator, secret, slot string) error {
				return r.Rotate(context.Background(), secret, slot)
			},
			end:      func(string, string) {},
			versions: ali.Versions,
			throttle: ali.Throttle,
			env:      aliEnv,
		},
	}
	awsServers.Store(rotation.Secrets(awsStore), aws)
	return cs
}

func slapd(t *testing.T) (ldaptest.Env, *ldap.Directory) { return slapdB(t) }

func slapdB(t testing.TB) (ldaptest.Env, *ldap.Directory) {
	env := ldaptest.Require(t)
	d, err := ldap.New(ldap.Config{URL: env.URL, InsecurePlain: true, BindDN: env.AdminDN, BindPassword: env.AdminPassword,
		UserDNTemplate: "uid=%s," + env.People, PoolSize: 2, Retries: 0})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return env, d
}

// binder tells whether a user's password is pw, by a bind as the user.
type binder interface {
	Bind(tb testing.TB, name, pw string) bool
}

// target is a directory the cut-off matrix runs against.
type target struct {
	name  string
	env   binder
	dir   *ldap.Directory
	fresh func(t testing.TB) directorytest.Account
	// failedLogons, when set, returns the failed logons the directory counted for name since its
	// last successful bind (AD's badPwdCount); the matrix reads it after every run, before the
	// checks bind.
	failedLogons func(t testing.TB, name string) string
}

func slapdTarget(t *testing.T) target {
	env, dir := slapd(t)
	return target{name: "slapd", env: env, dir: dir,
		fresh: func(t testing.TB) directorytest.Account { return env.FreshUsers(t, 1, "")[0] }}
}

// adBinder is the Samba AD domain as a binder.
type adBinder struct{ ldaptest.ADEnv }

func (e adBinder) Bind(tb testing.TB, name, pw string) bool { return e.ADEnv.Bind(tb, name, pw) == nil }

// sambaTarget is the Samba AD domain with the AD dialect, as the delegated service account (Reset
// Password on OU=People, not a Domain Admin), users found by sAMAccountName. A successful bind sets
// badPwdCount back to 0, and a wrong bind with one of the two previous passwords is not counted, so
// the checks' own binds leave it at 0 between runs: any count is the rotation's doing.
func sambaTarget(t *testing.T) target {
	env := ldaptest.RequireAD(t)
	d, err := ldap.New(ldap.Config{Dialect: ldap.ActiveDirectory, URL: env.URL, CAFile: env.CA, BindDN: env.ServiceDN,
		BindPassword: env.ServicePassword, UserSearch: &ldap.UserSearch{Base: env.People}, PoolSize: 2, Retries: 0})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return target{name: "samba", env: adBinder{env}, dir: d,
		fresh:        func(t testing.TB) directorytest.Account { return env.FreshUsers(t, 1)[0] },
		failedLogons: func(t testing.TB, name string) string { return env.Attr(t, name, "badPwdCount") }}
}

// checkNoFailedLogons fails t when the directory counted a failed logon for user.
func checkNoFailedLogons(t *testing.T, tg target, user, when string) {
	t.Helper()
	if tg.failedLogons == nil {
		return
	}
	if n := tg.failedLogons(t, user); n != "0" {
		t.Errorf("badPwdCount is %q after %s: the rotation counted a failed logon towards a lockout", n, when)
	}
}

func rotator(secrets rotation.Secrets, st rotation.Stages, acct rotation.Account, logs *logtest.Buffer) *rotation.Rotator {
	return &rotation.Rotator{Secrets: secrets, Stages: st, Policy: password.DefaultPolicy(),
		WrongPassword: func(err error) bool { return password.ErrorCode(err) == password.EUNAUTHORIZED },
		Account:       func(context.Context, string) (rotation.Account, error) { return acct, nil },
		Logger:        zerolog.New(logs), Attempts: 3, Backoff: 10 * time.Millisecond}
}

// checkInvariants checks the three after a run that finished: the account binds with the
// current value, exactly one version is current, the rotated version is current, the first is
// previous and kept, and no third version was made.
func checkInvariants(t *testing.T, env binder, c cloud, user, secret, first, rotated string) {
	t.Helper()
	stages, values := c.versions(secret)
	current := 0
	for id, ss := range stages {
		for _, s := range ss {
			if s == c.stages.Current {
				current++
				if id != rotated {
					t.Errorf("version %s is current, want %s", id, rotated)
				}
			}
			if s == c.stages.Pending {
				if _, ok := values[id]; ok && c.name == "KMS" {
					t.Errorf("version %s is still pending after the rotation", id)
				}
			}
		}
	}
	if current != 1 {
		t.Errorf("%d versions are current, want 1: %v", current, stages)
	}
	if len(values) != 2 {
		t.Errorf("%d versions hold values, want 2 (the first and the rotated): %v", len(values), stages)
	}
	if !contains(stages[first], c.stages.Previous) {
		t.Errorf("the first version has stages %v, want %s", stages[first], c.stages.Previous)
	}
	v, err := rotation.ParseValue(values[rotated])
	if err != nil {
		t.Fatal(err)
	}
	if !env.Bind(t, user, v.Password) {
		t.Error("the account does not bind with the current password")
	}
	old, _ := rotation.ParseValue(values[first])
	if env.Bind(t, user, old.Password) {
		t.Error("the account still binds with the first password")
	}
}

// checkNoLockout checks that some staged version's password binds: the directory never holds a
// password no stage of the secret holds.
func checkNoLockout(t *testing.T, env binder, c cloud, user, secret string) {
	t.Helper()
	stages, values := c.versions(secret)
	for id, val := range values {
		if len(stages[id]) == 0 {
			continue
		}
		if v, err := rotation.ParseValue(val); err == nil && env.Bind(t, user, v.Password) {
			return
		}
	}
	t.Errorf("lockout: the directory holds a password that no stage of the secret holds (%v)", stages)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestCrashAtEveryCallBoundary cuts a rotation off after each secret-service and directory call
// of an uncut run, in both modes and on both clouds' protocols, against slapd and the fake
// services (through the vendors' SDKs), checks that no lockout state was left, reruns it as the
// platform would, and checks the invariants and that every run was logged.
func TestCrashAtEveryCallBoundary(t *testing.T) { crashMatrix(t, slapdTarget(t)) }

// TestCrashAtEveryCallBoundaryAD is the same matrix on Samba AD with the AD dialect; it also
// checks, after every run (uncut, cut off, rerun) and before the checks bind, that badPwdCount is
// 0: nothing in rotation binds with a password the directory would count as a failed logon.
func TestCrashAtEveryCallBoundaryAD(t *testing.T) { crashMatrix(t, sambaTarget(t)) }

func crashMatrix(t *testing.T, tg target) {
	env, dir := tg.env, tg.dir
	for _, c := range clouds(t) {
		for _, mode := range []string{rotation.ModeSelf, rotation.ModeService} {
			t.Run(c.name+"/"+mode, func(t *testing.T) {
				// An uncut run counts the calls.
				u := tg.fresh(t)
				val := fmt.Sprintf(`{"username":%q,"password":%q,"directory":%q,"mode":%q}`, u.Name, u.Password, tg.name, mode)
				secret, first := c.create(val)
				cut := &cutter{}
				var logs logtest.Buffer
				version := c.begin(secret)
				if err := c.run(rotator(cutSecrets{c.secrets, cut}, c.stages, &cutAccount{in: dir, c: cut}, &logs), secret, version); err != nil {
					t.Fatalf("an uncut rotation failed: %v", err)
				}
				c.end(secret, version)
				checkNoFailedLogons(t, tg, u.Name, "an uncut rotation")
				checkInvariants(t, env, c, u.Name, secret, first, version)
				total := cut.calls
				t.Logf("%d calls: %s", total, strings.Join(cut.log, " "))
				for k := 1; k <= total; k++ {
					t.Run(fmt.Sprintf("After%02d", k), func(t *testing.T) {
						u := tg.fresh(t)
						val := fmt.Sprintf(`{"username":%q,"password":%q,"directory":%q,"mode":%q}`, u.Name, u.Password, tg.name, mode)
						secret, first := c.create(val)
						version := c.begin(secret)
						cut := &cutter{limit: k}
						var logs logtest.Buffer
						err := c.run(rotator(cutSecrets{c.secrets, cut}, c.stages, &cutAccount{in: dir, c: cut}, &logs), secret, version)
						if k < total && !errors.Is(err, errCut) {
							t.Fatalf("cut after call %d (%s): err = %v, want the cut", k, cut.log[k-1], err)
						}
						checkNoFailedLogons(t, tg, u.Name, fmt.Sprintf("a run cut off after call %d", k))
						checkNoLockout(t, env, c, u.Name, secret)
						if err != nil && !strings.Contains(logs.String(), `"rotation_outcome":"failed"`) {
							t.Errorf("the cut-off run logged no failure:\n%s", logs.String())
						}
						// The platform runs it again.
						var logs2 logtest.Buffer
						if err := c.run(rotator(c.secrets, c.stages, dir, &logs2), secret, version); err != nil {
							t.Fatalf("the rerun after a cut at call %d failed: %v", k, err)
						}
						c.end(secret, version)
						checkNoFailedLogons(t, tg, u.Name, fmt.Sprintf("the rerun after a cut at call %d", k))
						checkInvariants(t, env, c, u.Name, secret, first, version)
						if !strings.Contains(logs2.String(), `"rotation_outcome"`) {
							t.Error("the rerun logged nothing")
						}
						// Canary sweep: neither the old password nor any generated one (every
						// version's value) reaches the logs of the cut-off run or of the rerun.
						_, values := c.versions(secret)
						for _, l := range []string{logs.String(), logs2.String()} {
							if strings.Contains(l, u.Password) || strings.Contains(l, "Fresh-") {
								t.Error("the old password reached the logs")
							}
							for _, val := range values {
								if v, err := rotation.ParseValue(val); err == nil && strings.Contains(l, v.Password) {
									t.Error("a generated password reached the logs")
								}
							}
						}
					})
				}
			})
		}
	}
}
