package kms_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"chpass/shared/kms"
	"chpass/shared/kms/kmstest"
	"chpass/shared/rotation"
	"chpass/shared/rotation/rotationtest"
)

func newStore(t *testing.T) (*kms.Store, *kmstest.Server) {
	srv := kmstest.NewServer(t, kmstest.Options{AccessKeyID: "LTAIwriterEXAMPLE", AccessKeySecret: "writer-secret", SecurityToken: "writer-sts"})
	env := srv.Env()
	env["FC_REGION"] = "cn-hangzhou"
	return kms.NewStore(kms.Options{Getenv: func(k string) string { return env[k] }}), srv
}

var ids atomic.Int64

// TestStoreContract runs the rotation.Secrets contract against the Store, through the Alibaba
// Cloud SDK, on the fake KMS, which checks every request's signature.
func TestStoreContract(t *testing.T) {
	s, srv := newStore(t)
	rotationtest.TestSecrets(t, rotationtest.Harness{
		Secrets: s, Stages: rotation.KMSStages,
		NewVersionID: func() string { return fmt.Sprintf("v%d", ids.Add(1)) },
		NewSecret: func(tb testing.TB, value string) (string, string) {
			name, id := fmt.Sprintf("contract-%d", ids.Add(1)), fmt.Sprintf("v%d", ids.Add(1))
			srv.AddSecret(name, id, value)
			return name, id
		},
	})
}

func TestStoreErrors(t *testing.T) {
	s, srv := newStore(t)
	ctx := context.Background()
	srv.AddSecret("errors", "v1", `{"password":"CANARY-kms-writer-0001"}`)
	_, err := s.Describe(ctx, "nope")
	if !errors.Is(err, rotation.ErrSecretNotFound) || !strings.Contains(err.Error(), "Forbidden.ResourceNotFound") {
		t.Errorf("missing secret: %v", err)
	}
	srv.Throttle(100)
	_, err = s.Describe(ctx, "errors")
	if !errors.Is(err, rotation.ErrThrottled) || !strings.Contains(err.Error(), "Throttling") {
		t.Errorf("throttled: %v", err)
	}
	srv.Throttle(0)
	err = s.Put(ctx, "errors", "v1", `{"password":"CANARY-kms-writer-0002"}`, nil)
	if !errors.Is(err, rotation.ErrVersionExists) || strings.Contains(err.Error(), "CANARY") {
		t.Errorf("a refused put: %v", err)
	}
}
