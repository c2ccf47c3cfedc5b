package secretsmanager_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"chpass/shared/rotation"
	"chpass/shared/rotation/rotationtest"
	"chpass/shared/secretsmanager"
	smtest "chpass/shared/secretsmanager/secretsmanagertest"
)

// newStore starts a fake Secrets Manager and returns a Store signed for it through the SDK.
func newStore(t *testing.T) (*secretsmanager.Store, *smtest.Server) {
	srv := smtest.NewServer(t, smtest.Options{Region: "eu-central-1", AccessKeyID: "AKIAWRITEREXAMPLE",
		SecretAccessKey: "writer-secret-key", SessionToken: "writer-session-token"})
	env := srv.Env()
	return secretsmanager.NewStore(secretsmanager.Options{Getenv: func(k string) string { return env[k] }}), srv
}

var ids atomic.Int64

func uuid() string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", ids.Add(1)) }

// TestStoreContract runs the rotation.Secrets contract against the Store, through the SDK, on
// the fake service, which checks every request's signature.
func TestStoreContract(t *testing.T) {
	s, srv := newStore(t)
	rotationtest.TestSecrets(t, rotationtest.Harness{
		Secrets: s, Stages: rotation.AWSStages, NewVersionID: uuid,
		NewSecret: func(tb testing.TB, value string) (string, string) {
			arn := fmt.Sprintf("arn:aws:secretsmanager:eu-central-1:123456789012:secret:contract-%d", ids.Add(1))
			v := uuid()
			srv.AddSecret(arn, v, value, true)
			return arn, v
		},
	})
}

// TestStoreErrors checks the codes behind each port error and that throttling is told as such.
func TestStoreErrors(t *testing.T) {
	s, srv := newStore(t)
	ctx := context.Background()
	arn := "arn:aws:secretsmanager:eu-central-1:123456789012:secret:errors"
	srv.AddSecret(arn, uuid(), `{"password":"CANARY-sm-writer-0001"}`, false)
	_, err := s.Describe(ctx, arn+"x")
	if !errors.Is(err, rotation.ErrSecretNotFound) || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Errorf("missing secret: %v", err)
	}
	srv.Throttle(10)
	_, err = s.Describe(ctx, arn)
	if !errors.Is(err, rotation.ErrThrottled) || !strings.Contains(err.Error(), "ThrottlingException") {
		t.Errorf("throttled: %v", err)
	}
	srv.Throttle(0)
	err = s.Put(ctx, arn, "short", `{"password":"CANARY-sm-writer-0001"}`, nil)
	if err == nil || strings.Contains(err.Error(), "CANARY") {
		t.Errorf("a refused put: %v", err)
	}
}
