package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"chpass/functions/internal/setup"
	"chpass/functions/internal/setup/iam"
	"chpass/shared/config"
	"chpass/shared/iamapi"
)

// TestCORSOnlyOnCallerPassword: with cors configured, the local server (which
// has no CORS of its own, as an FC HTTP trigger has none) answers preflights of
// the IAM routes for the allowed origin, and the E-HPC API answers none.
func TestCORSOnlyOnCallerPassword(t *testing.T) {
	yml := fmt.Sprintf(`
store: {path: %s}
cors: {allowed_origins: ["https://portal.example.com"], max_age: 2m}
tasks: {key: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=}
`, filepath.Join(t.TempDir(), "cors.db"))
	cfg, err := config.Parse(context.Background(), strings.NewReader(yml))
	if err != nil {
		t.Fatal(err)
	}
	a := setup.New(cfg, setup.NewLogger(io.Discard, "local", "info"))
	t.Cleanup(func() { a.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h, err := serve(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	preflight := func(path, method string) *http.Response {
		r, _ := http.NewRequest(http.MethodOptions, srv.URL+path, nil)
		r.Header.Set("Origin", "https://portal.example.com")
		r.Header.Set("Access-Control-Request-Method", method)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, p := range []struct{ path, method string }{{iamapi.ChangePath, "POST"}, {iamapi.PolicyPath, "GET"}} {
		resp := preflight(p.path, p.method)
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "https://portal.example.com" ||
			resp.Header.Get("Access-Control-Allow-Methods") != p.method || resp.Header.Get("Access-Control-Max-Age") != "120" {
			t.Errorf("preflight %s: %d %v", p.path, resp.StatusCode, resp.Header)
		}
	}
	resp := preflight("/?Action=ModifyUserPasswords", "POST")
	if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "" {
		t.Errorf("the E-HPC API answered a preflight with Access-Control-Allow-Origin %q", v)
	}
	t.Run("StarWithCredentialsRefused", func(t *testing.T) {
		yml := fmt.Sprintf("store: {path: %s}\ncors: {allowed_origins: [\"*\"], allow_credentials: true}\n", filepath.Join(t.TempDir(), "c.db"))
		cfg, err := config.Parse(context.Background(), strings.NewReader(yml))
		if err != nil {
			t.Fatal(err)
		}
		a := setup.New(cfg, setup.NewLogger(io.Discard, "caller-password", "info"))
		t.Cleanup(func() { a.Close() })
		if _, err := iam.CallerPassword(context.Background(), a); err == nil || !strings.Contains(err.Error(), "credentials") {
			t.Fatalf("CallerPassword = %v, want a refusal of * with credentials", err)
		}
	})
}
