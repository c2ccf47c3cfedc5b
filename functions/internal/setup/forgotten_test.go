package setup_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	. "chpass/functions/internal/setup"
	"chpass/functions/internal/setup/iam"

	"chpass/shared/config"
	"chpass/shared/iamapi"
)

// TestOldPasswordPathConfigured: forgotten.old_password opens the path in front
// of the embedded store (which locks out), and is refused in front of an LDAP
// directory unless the operator states that it locks out.
func TestOldPasswordPathConfigured(t *testing.T) {
	yml := fmt.Sprintf(`
store: {path: %s}
users: [{name: alice, password: Old-exp-Pw1!}]
forgotten: {old_password: {}}
`, filepath.Join(t.TempDir(), "exp.db"))
	cfg, err := config.Parse(context.Background(), strings.NewReader(yml))
	if err != nil {
		t.Fatal(err)
	}
	a := New(cfg, NewLogger(io.Discard, "caller-password", "info"))
	t.Cleanup(func() { a.Close() })
	h, err := iam.CallerPassword(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, iamapi.OldPasswordPath,
		strings.NewReader(`{"user_name":"alice","old_password":"Old-exp-Pw1!","new_password":"New-exp-Pw2?z"}`))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	s, _ := a.Store(context.Background())
	if err := s.ChangePassword(context.Background(), "alice", "New-exp-Pw2?z", "Third-exp-Pw3#"); err != nil {
		t.Fatalf("the store does not hold the new password: %v", err)
	}

	ldapYML := fmt.Sprintf(`
store: {path: %s}
self_service: {directory: corp}
directories:
  corp: {type: ldap, ldap: {url: "ldaps://127.0.0.1:1", bind_dn: "cn=x,dc=example,dc=org", bind_password: x, user_dn_template: "uid=%%s,dc=example,dc=org"}}
forgotten: {old_password: {}}
`, filepath.Join(t.TempDir(), "exp2.db"))
	cfg2, err := config.Parse(context.Background(), strings.NewReader(ldapYML))
	if err != nil {
		t.Fatal(err)
	}
	a2 := New(cfg2, NewLogger(io.Discard, "caller-password", "info"))
	t.Cleanup(func() { a2.Close() })
	if _, err := iam.CallerPassword(context.Background(), a2); err == nil || !strings.Contains(err.Error(), "locks out") {
		t.Fatalf("LDAP without directory_locks_out: %v", err)
	}
}
