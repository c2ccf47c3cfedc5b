//go:build !noaws

package setup

import (
	"context"
	"slices"
	"testing"

	"github.com/rs/zerolog"

	"chpass/shared/config"
	smtest "chpass/shared/secretsmanager/secretsmanagertest"
)

// TestBindPasswordsRereadsCurrentThenPending checks how an instance re-reads its directory's
// bind secret after an invalid-credentials bind: the reference config kept, through Secrets
// Manager (the SDK, against the fake that checks signatures), the current version then the
// pending one, each through #password.
func TestBindPasswordsRereadsCurrentThenPending(t *testing.T) {
	const arn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:chpass/directory-AbCdEf"
	srv := smtest.NewServer(t, smtest.Options{Region: "eu-central-1", AccessKeyID: "AKIABINDEXAMPLE", SecretAccessKey: "bind-secret"})
	for k, v := range srv.Env() {
		t.Setenv(k, v)
	}
	srv.AddSecret(arn, "0b1c2d3e-0000-4000-8000-000000000001", `{"username":"pwadmin","password":"Bind-Old-1!","directory":"corp"}`, true)
	srv.StartRotation(arn, "0b1c2d3e-0000-4000-8000-000000000002")
	a := New(&config.Config{}, zerolog.Nop())
	if a.bindPasswords("ENV_VAR") != nil || a.bindPasswords("") != nil {
		t.Error("a reference to no secret service gets a re-reader")
	}
	src := a.bindPasswords(arn + "#password")
	got, err := src(context.Background())
	if err != nil || !slices.Equal(got, []string{"Bind-Old-1!"}) {
		t.Fatalf("before the pending value: %v, %v", got, err)
	}
	// createSecret puts the pending value.
	if err := putPending(arn); err != nil {
		t.Fatal(err)
	}
	got, err = src(context.Background())
	if err != nil || !slices.Equal(got, []string{"Bind-Old-1!", "Bind-New-2!"}) {
		t.Fatalf("with a pending value: %v, %v", got, err)
	}
	if c := config.Reference("${" + arn + "#password}"); c != arn+"#password" {
		t.Errorf("Reference = %q", c)
	}
}

// putPending puts the pending value as createSecret would.
func putPending(arn string) error {
	store := cloudSecrets["secretsmanager"]()
	return store.Put(context.Background(), arn, "0b1c2d3e-0000-4000-8000-000000000002",
		`{"username":"pwadmin","password":"Bind-New-2!","directory":"corp"}`, []string{"AWSPENDING"})
}
