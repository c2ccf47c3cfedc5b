package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"chpass/shared/logtest"
	"chpass/shared/rotation"
	smtest "chpass/shared/secretsmanager/secretsmanagertest"
)

// TestSecretsManagerRefusals checks the refusals of AWS's rotation templates: nothing changes and
// the error says why; a token already current succeeds doing nothing.
func TestSecretsManagerRefusals(t *testing.T) {
	env, dir := slapd(t)
	c := clouds(t)[0]
	u := env.FreshUsers(t, 1, "")[0]
	val := fmt.Sprintf(`{"username":%q,"password":%q,"directory":"slapd"}`, u.Name, u.Password)
	var logs logtest.Buffer
	r := rotator(c.secrets, c.stages, dir, &logs)
	ctx := context.Background()

	secret, first := c.create(val)
	tok := c.begin(secret)
	if err := r.Step(ctx, secret, "0b1c2d3e-0000-4000-8000-ffffffffffff", rotation.StepCreate); err == nil ||
		!strings.Contains(err.Error(), "the token is not a version of the secret") {
		t.Errorf("unknown token: %v", err)
	}
	if err := r.Step(ctx, secret, first, rotation.StepFinish); err != nil {
		t.Errorf("the current version's token: %v, want success doing nothing", err)
	}
	if err := r.Step(ctx, secret, tok, "rotateSecret"); err == nil || !strings.Contains(err.Error(), `unknown step "rotateSecret"`) {
		t.Errorf("unknown step: %v", err)
	}
	// A version staged neither pending nor current: the first after a rotation (previous).
	if err := c.run(r, secret, tok); err != nil {
		t.Fatal(err)
	}
	c.end(secret, tok)
	if err := r.Step(ctx, secret, first, rotation.StepCreate); err == nil || !strings.Contains(err.Error(), "staged neither AWSPENDING nor AWSCURRENT") {
		t.Errorf("a previous version's token: %v", err)
	}
	// Rotation not enabled.
	off, _ := c.create(val)
	stagesBefore, _ := c.versions(off)
	srv := awsServer(t, c)
	srv.AddSecret(off, "0b1c2d3e-0000-4000-8000-00000000aaaa", val, false)
	srv.StartRotation(off, "0b1c2d3e-0000-4000-8000-00000000bbbb")
	if err := r.Step(ctx, off, "0b1c2d3e-0000-4000-8000-00000000bbbb", rotation.StepCreate); err == nil || !strings.Contains(err.Error(), "rotation is not enabled") {
		t.Errorf("rotation disabled: %v", err)
	}
	if _, values := c.versions(off); len(values) != 1 {
		t.Errorf("a refused step changed the secret: %v -> %v", stagesBefore, values)
	}
	if !strings.Contains(logs.String(), `"rotation_outcome":"failed"`) || !strings.Contains(logs.String(), `"rotation_outcome":"nothing"`) {
		t.Errorf("refusals and the no-op were not logged:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), u.Password) {
		t.Error("a password reached the logs")
	}
}

// awsServer digs the fake behind the first cloud (for the cases only the service can set up).
var awsServers sync.Map

func awsServer(t *testing.T, c cloud) *smtest.Server {
	v, ok := awsServers.Load(c.secrets)
	if !ok {
		t.Fatal("no fake behind the Secrets Manager store")
	}
	return v.(*smtest.Server)
}

// TestDirectoryDownDuringSet: the rotation fails at setSecret, nothing is staged current, the
// retry finishes.
func TestDirectoryDownDuringSet(t *testing.T) {
	env, dir := slapd(t)
	for _, c := range clouds(t) {
		t.Run(c.name, func(t *testing.T) {
			u := env.FreshUsers(t, 1, "")[0]
			secret, first := c.create(fmt.Sprintf(`{"username":%q,"password":%q,"directory":"slapd"}`, u.Name, u.Password))
			version := c.begin(secret)
			acct := &cutAccount{in: dir, c: &cutter{}}
			acct.down.Store(true)
			var logs logtest.Buffer
			err := c.run(rotator(c.secrets, c.stages, acct, &logs), secret, version)
			if err == nil || !strings.Contains(err.Error(), "unavailable") || !strings.Contains(err.Error(), "setSecret") {
				t.Fatalf("err = %v, want an unavailable directory at setSecret", err)
			}
			checkNoLockout(t, env, c, u.Name, secret)
			if !env.Bind(t, u.Name, u.Password) {
				t.Error("the old password no longer binds after a failed set")
			}
			acct.down.Store(false)
			if err := c.run(rotator(c.secrets, c.stages, acct, &logs), secret, version); err != nil {
				t.Fatal(err)
			}
			c.end(secret, version)
			checkInvariants(t, env, c, u.Name, secret, first, version)
		})
	}
}

// TestThrottling: a throttled service is retried with backoff and the rotation finishes; a
// service that keeps throttling fails the rotation clearly, with no lockout.
func TestThrottling(t *testing.T) {
	env, dir := slapd(t)
	for _, c := range clouds(t) {
		t.Run(c.name, func(t *testing.T) {
			u := env.FreshUsers(t, 1, "")[0]
			secret, first := c.create(fmt.Sprintf(`{"username":%q,"password":%q,"directory":"slapd"}`, u.Name, u.Password))
			version := c.begin(secret)
			var logs logtest.Buffer
			r := rotator(c.secrets, c.stages, dir, &logs)
			c.throttle(1000)
			err := c.run(r, secret, version)
			if !errors.Is(err, rotation.ErrThrottled) || !strings.Contains(err.Error(), "after 3 attempts") {
				t.Errorf("always throttled: err = %v", err)
			}
			// AWS: more than the SDK's own three attempts absorb; KMS: the SDK does not retry.
			n := 2
			if c.name == "SecretsManager" {
				n = 4
			}
			c.throttle(n)
			if err := c.run(r, secret, version); err != nil {
				t.Fatalf("throttled a little: %v", err)
			}
			c.end(secret, version)
			checkInvariants(t, env, c, u.Name, secret, first, version)
		})
	}
}

// TestTwoRotationsAtOnce runs two invocations of one rotation together, as an overlapping
// schedule or a platform retry would: one new version, the account binds with it.
func TestTwoRotationsAtOnce(t *testing.T) {
	env, dir := slapd(t)
	for _, c := range clouds(t) {
		t.Run(c.name, func(t *testing.T) {
			for round := 0; round < 5; round++ {
				u := env.FreshUsers(t, 1, "")[0]
				secret, first := c.create(fmt.Sprintf(`{"username":%q,"password":%q,"directory":"slapd"}`, u.Name, u.Password))
				version := c.begin(secret)
				var wg sync.WaitGroup
				errs := make([]error, 2)
				var logs logtest.Buffer
				for i := range errs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						errs[i] = c.run(rotator(c.secrets, c.stages, dir, &logs), secret, version)
					}()
				}
				wg.Wait()
				// Secrets Manager runs one rotation at a time per secret; should two overlap, a
				// step may fail and the service retries: run once more, as it would.
				if errs[0] != nil || errs[1] != nil {
					t.Logf("overlapping runs: %v / %v", errs[0], errs[1])
					if err := c.run(rotator(c.secrets, c.stages, dir, &logs), secret, version); err != nil {
						t.Fatal(err)
					}
				}
				c.end(secret, version)
				checkInvariants(t, env, c, u.Name, secret, first, version)
				if c.name == "KMS" && errs[0] != nil && errs[1] != nil {
					t.Errorf("both timer invocations failed: %v / %v", errs[0], errs[1])
				}
			}
		})
	}
}
