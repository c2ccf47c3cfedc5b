package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"

	"chpass/shared/kms"
	"chpass/shared/logtest"
	"chpass/shared/rotation"
	"chpass/shared/secretsmanager"
)

// killer SIGKILLs this process right after the limit-th call returns.
type killer struct{ cutter }

func (k *killer) after(op string, err error) error {
	k.mu.Lock()
	k.calls++
	n := k.calls
	k.mu.Unlock()
	if n == k.limit {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	return err
}

// TestRotateHelperProcess is the child that TestKill9 starts: it runs one rotation attempt and
// kills itself with SIGKILL after the call CHPASS_KILL_AFTER.
func TestRotateHelperProcess(t *testing.T) {
	if os.Getenv("CHPASS_ROTATE_CHILD") != "1" {
		t.Skip("only run as TestKill9's child")
	}
	limit, _ := strconv.Atoi(os.Getenv("CHPASS_KILL_AFTER"))
	tg := slapdTarget
	if os.Getenv("CHPASS_TARGET") == "samba" {
		tg = sambaTarget
	}
	dir := tg(t).dir
	var secrets rotation.Secrets
	st := rotation.KMSStages
	if os.Getenv("CHPASS_CLOUD") == "SecretsManager" {
		secrets, st = secretsmanager.NewStore(secretsmanager.Options{}), rotation.AWSStages
	} else {
		secrets = kms.NewStore(kms.Options{})
	}
	k := &killer{cutter{limit: limit}}
	r := rotator(killSecrets{secrets, k}, st, killAccount{dir, k}, &logtest.Buffer{})
	secret, version := os.Getenv("CHPASS_SECRET"), os.Getenv("CHPASS_VERSION")
	if os.Getenv("CHPASS_CLOUD") == "SecretsManager" {
		for _, s := range []string{rotation.StepCreate, rotation.StepSet, rotation.StepTest, rotation.StepFinish} {
			if err := r.Step(context.Background(), secret, version, s); err != nil {
				t.Fatal(err)
			}
		}
	} else if err := r.Rotate(context.Background(), secret, version); err != nil {
		t.Fatal(err)
	}
	t.Fatal("the rotation finished before the kill point")
}

type killSecrets struct {
	in rotation.Secrets
	k  *killer
}

func (s killSecrets) Describe(ctx context.Context, secret string) (rotation.Description, error) {
	d, err := s.in.Describe(ctx, secret)
	return d, s.k.after("Describe", err)
}
func (s killSecrets) Value(ctx context.Context, secret, id, stage string) (string, error) {
	v, err := s.in.Value(ctx, secret, id, stage)
	return v, s.k.after("Value", err)
}
func (s killSecrets) Put(ctx context.Context, secret, id, value string, stages []string) error {
	return s.k.after("Put", s.in.Put(ctx, secret, id, value, stages))
}
func (s killSecrets) MoveStage(ctx context.Context, secret, stage, to, from string) error {
	return s.k.after("MoveStage", s.in.MoveStage(ctx, secret, stage, to, from))
}

type killAccount struct {
	in rotation.Account
	k  *killer
}

func (a killAccount) Verify(ctx context.Context, name, pw string) error {
	return a.k.after("Verify", a.in.Verify(ctx, name, pw))
}
func (a killAccount) ChangePassword(ctx context.Context, name, old, pw string) error {
	return a.k.after("ChangePassword", a.in.ChangePassword(ctx, name, old, pw))
}
func (a killAccount) ResetPassword(ctx context.Context, name, pw string) error {
	return a.k.after("ResetPassword", a.in.ResetPassword(ctx, name, pw))
}

// TestKill9 kills a child process running a rotation with SIGKILL at the representative cut
// points (right after the pending version is put, after the directory's change, after the
// current stage moved), on both clouds' protocols, then reruns as the platform would and checks
// the invariants. TestCrashAtEveryCallBoundary covers every other boundary by injection.
func TestKill9(t *testing.T) { kill9(t, slapdTarget(t)) }

// TestKill9AD is TestKill9 on Samba AD with the AD dialect; it also checks that badPwdCount is 0
// after the killed run and after the rerun, before the checks bind.
func TestKill9AD(t *testing.T) { kill9(t, sambaTarget(t)) }

func kill9(t *testing.T, tg target) {
	env, dir := tg.env, tg.dir
	for _, c := range clouds(t) {
		t.Run(c.name, func(t *testing.T) {
			// Find the call numbers of the representative points in an uncut run.
			u := tg.fresh(t)
			val := fmt.Sprintf(`{"username":%q,"password":%q,"directory":%q}`, u.Name, u.Password, tg.name)
			secret, _ := c.create(val)
			version := c.begin(secret)
			cut := &cutter{}
			if err := c.run(rotator(cutSecrets{c.secrets, cut}, c.stages, &cutAccount{in: dir, c: cut}, &logtest.Buffer{}), secret, version); err != nil {
				t.Fatal(err)
			}
			points := map[string]int{}
			for i, op := range cut.log {
				name := map[string]string{"secrets.Put": "AfterPut", "directory.ChangePassword": "AfterChange", "secrets.MoveStage": "AfterMoveCurrent"}[op]
				if name != "" && points[name] == 0 {
					points[name] = i + 1
				}
			}
			if len(points) != 3 {
				t.Fatalf("representative points not found in %v", cut.log)
			}
			for name, k := range points {
				t.Run(name, func(t *testing.T) {
					u := tg.fresh(t)
					secret, first := c.create(fmt.Sprintf(`{"username":%q,"password":%q,"directory":%q}`, u.Name, u.Password, tg.name))
					version := c.begin(secret)
					cmd := exec.Command(os.Args[0], "-test.run=^TestRotateHelperProcess$", "-test.count=1")
					cmd.Env = append(os.Environ(), "CHPASS_ROTATE_CHILD=1", "CHPASS_KILL_AFTER="+strconv.Itoa(k),
						"CHPASS_CLOUD="+c.name, "CHPASS_TARGET="+tg.name, "CHPASS_SECRET="+secret, "CHPASS_VERSION="+version, "FC_REGION=cn-hangzhou")
					for key, v := range c.env {
						cmd.Env = append(cmd.Env, key+"="+v)
					}
					out, err := cmd.CombinedOutput()
					var ee *exec.ExitError
					if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
						t.Fatalf("the child was not killed by SIGKILL: %v\n%s", err, out)
					}
					checkNoFailedLogons(t, tg, u.Name, "the run killed "+name)
					checkNoLockout(t, env, c, u.Name, secret)
					if err := c.run(rotator(c.secrets, c.stages, dir, &logtest.Buffer{}), secret, version); err != nil {
						t.Fatalf("the rerun after kill -9 %s failed: %v", name, err)
					}
					c.end(secret, version)
					checkNoFailedLogons(t, tg, u.Name, "the rerun after kill -9 "+name)
					checkInvariants(t, env, c, u.Name, secret, first, version)
				})
			}
		})
	}
}
