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
	"chpass/shared/iamapi/oidctest"
)

// TestCallerPasswordOIDCDiscovery configures tokens.issuer alone, with the user
// claim and audience a Keycloak-like provider gives, and changes a password in
// the embedded store with a token from a sign-in at the in-process provider.
func TestCallerPasswordOIDCDiscovery(t *testing.T) {
	p := oidctest.Start(t)
	yml := fmt.Sprintf(`
store: {path: %s}
users: [{name: alice, password: Old-oidc-Pw1!}]
tokens: {issuer: %s, audience: %s, user_claim: preferred_username, refetch_interval: 30s}
`, filepath.Join(t.TempDir(), "oidc.db"), p.Issuer(), p.ClientID())
	cfg, err := config.Parse(context.Background(), strings.NewReader(yml))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Tokens.Discovery() {
		t.Fatal("tokens.issuer alone is not discovery")
	}
	a := New(cfg, NewLogger(io.Discard, "caller-password", "info"))
	t.Cleanup(func() { a.Close() })
	h, err := iam.CallerPassword(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	tok := p.IDToken(t, oidctest.User{Subject: "f00-alice", PreferredUsername: "alice"})
	r := httptest.NewRequest(http.MethodPost, iamapi.ChangePath,
		strings.NewReader(`{"old_password":"Old-oidc-Pw1!","new_password":"New-oidc-Pw2?x"}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	s, _ := a.Store(context.Background())
	if err := s.ChangePassword(context.Background(), "alice", "New-oidc-Pw2?x", "New-oidc-Pw3?y"); err != nil {
		t.Fatalf("the store does not hold the new password: %v", err)
	}
}
