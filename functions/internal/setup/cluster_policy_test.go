package setup_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	. "chpass/functions/internal/setup"
	"chpass/functions/internal/setup/ehpc"

	"chpass/shared/config"
)

// TestClusterPolicyOnEmbeddedStore resets one embedded user through three
// clusters: one on the global policy (history 1, no minimum age), one whose own
// policy remembers 5 passwords, one whose own policy has a minimum age of an
// hour. Each cluster's resets follow its own policy in full.
func TestClusterPolicyOnEmbeddedStore(t *testing.T) {
	yml := fmt.Sprintf(`
store: {path: %s, argon2: {time: 1, memory_kib: 64, threads: 1}}
policy: {password_reuse_prevention: 1, minimum_password_age: 0}
users: [{name: bob, password: "Bob-Seed-Pass1!"}]
access_keys:
  - {id: LTAIpolicyKEY, secret: policy-secret-0123456789, actions: ["*"], clusters: ["*"]}
clusters:
  global: {directory: embedded, status: running}
  hist: {directory: embedded, status: running, policy: {password_reuse_prevention: 5}}
  age: {directory: embedded, status: running, policy: {password_reuse_prevention: 1, minimum_password_age: 60}}
`, filepath.Join(t.TempDir(), "policy.db"))
	cfg, err := config.Parse(context.Background(), strings.NewReader(yml))
	if err != nil {
		t.Fatal(err)
	}
	a := New(cfg, NewLogger(io.Discard, "policy", "info"))
	t.Cleanup(func() { a.Close() })
	h, err := ehpc.ModifyUserPasswords(context.Background(), a, ehpc.NoAsync)
	if err != nil {
		t.Fatal(err)
	}
	reset := func(cluster, pw string) (int, rpcBody) {
		return rpc(t, h, "LTAIpolicyKEY", "policy-secret-0123456789", resetParams(cluster, "bob", pw))
	}
	// refused wants UserChangePasswordFailure whose Detail holds detail.
	refused := func(cluster, pw, detail string) {
		t.Helper()
		code, b := reset(cluster, pw)
		if code != http.StatusNotAcceptable || b.Code != "AgentError.Account.UserChangePasswordFailure" ||
			len(b.Results) != 1 || !strings.Contains(b.Results[0].Detail, detail) {
			t.Fatalf("reset in %s: %d %+v, want UserChangePasswordFailure saying %q", cluster, code, b, detail)
		}
	}
	ok := func(cluster, pw string) {
		t.Helper()
		if code, b := reset(cluster, pw); code != http.StatusOK {
			t.Fatalf("reset in %s: %d %+v, want 200", cluster, code, b)
		}
	}
	ok("global", "Reset-Pass-1a!")
	ok("global", "Reset-Pass-2b!")
	// The global policy remembers only the current password; "hist" remembers 5.
	refused("hist", "Reset-Pass-1a!", "last 5 passwords")
	refused("hist", "Bob-Seed-Pass1!", "last 5 passwords")
	// "age" refuses a reset within its hour of the last change; the others do not.
	refused("age", "Reset-Pass-3c!", "60 minutes")
	ok("hist", "Reset-Pass-3c!")
	ok("global", "Reset-Pass-2b!")
}
