package iamapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"chpass/shared/iamapi"
)

func withPage(c iamapi.PageConfig) func(*iamapi.Options, *fakeDir) {
	return func(o *iamapi.Options, _ *fakeDir) { o.Page = c }
}

var pageCfg = iamapi.PageConfig{Path: "/self/portal/", Issuer: "https://idp.example.test/realms/corp", ClientID: "chpass-page",
	ConnectOrigins: []string{"https://auth.example.test"}}

// TestPageServed: the page, its script and style are served at the configured
// path with a strict CSP (no inline script, no other origin but the provider's),
// and the configuration the script reads points the API relative to the page.
func TestPageServed(t *testing.T) {
	e := newEnv(t, withPage(pageCfg))
	get := func(p string) result {
		return e.do(t, httptest.NewRequest(http.MethodGet, p, nil))
	}
	index := httptest.NewRecorder()
	e.h.ServeHTTP(index, httptest.NewRequest(http.MethodGet, "/self/portal/", nil))
	if index.Code != 200 || !strings.HasPrefix(index.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("index: %d %s", index.Code, index.Header().Get("Content-Type"))
	}
	html := index.Body.String()
	if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`).MatchString(html) || strings.Contains(html, " on") && regexp.MustCompile(`\son[a-z]+=`).MatchString(html) {
		t.Error("the page has an inline script or an inline event handler")
	}
	if strings.Contains(html, "http://") || strings.Contains(html, "https://") {
		t.Error("the page loads something from another origin")
	}
	csp := index.Header().Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'",
		"connect-src 'self' https://idp.example.test https://auth.example.test"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("CSP allows unsafe sources: %q", csp)
	}
	for _, f := range []struct{ path, ctype string }{{"app.js", "text/javascript"}, {"app.css", "text/css"}} {
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/self/portal/"+f.path, nil))
		if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), f.ctype) || w.Body.Len() < 100 || w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d %s %d bytes", f.path, w.Code, w.Header().Get("Content-Type"), w.Body.Len())
		}
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/self/portal/config.json", nil))
	var cfg map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg["api"] != "../../" || cfg["client_id"] != "chpass-page" || cfg["issuer"] != pageCfg.Issuer || cfg["token"] != "id_token" || cfg["scope"] != "openid profile" ||
		cfg["old_password"] != false || cfg["reset"] != false {
		t.Errorf("config.json: %v", cfg)
	}
	red := httptest.NewRecorder()
	e.h.ServeHTTP(red, httptest.NewRequest(http.MethodGet, "/self/portal", nil))
	if red.Code != http.StatusMovedPermanently || red.Header().Get("Location") != "portal/" {
		t.Errorf("without the slash: %d %q", red.Code, red.Header().Get("Location"))
	}
	if r := get("/self/portal/other.js"); r.code != iamapi.CodeNotFound {
		t.Errorf("another file: %d %s", r.status, r.code)
	}
	if r := e.do(t, httptest.NewRequest(http.MethodPost, "/self/portal/", strings.NewReader("x"))); r.code != iamapi.CodeMethodNotAllowed {
		t.Errorf("POST to the page: %d %s", r.status, r.code)
	}
}

// TestPageOffByDefault: no page unless a path is configured.
func TestPageOffByDefault(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/", "/portal/", "/portal/app.js"} {
		if r := e.do(t, httptest.NewRequest(http.MethodGet, p, nil)); r.code != iamapi.CodeNotFound {
			t.Errorf("%s: %d %s, want 404", p, r.status, r.code)
		}
	}
}

func TestPageConfigRefused(t *testing.T) {
	for name, c := range map[string]iamapi.PageConfig{
		"NoClient":      {Path: "/portal/", Issuer: "https://idp.example.test"},
		"PlainIssuer":   {Path: "/portal/", Issuer: "http://idp.example.test", ClientID: "c"},
		"UnderAPI":      {Path: "/v5/portal/", Issuer: "https://idp.example.test", ClientID: "c"},
		"RelativePath":  {Path: "portal/", Issuer: "https://idp.example.test", ClientID: "c"},
		"DotDot":        {Path: "/a/../portal/", Issuer: "https://idp.example.test", ClientID: "c"},
		"OtherToken":    {Path: "/portal/", Issuer: "https://idp.example.test", ClientID: "c", Token: "refresh_token"},
		"PlainConnects": {Path: "/portal/", Issuer: "https://idp.example.test", ClientID: "c", ConnectOrigins: []string{"http://x.example"}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := iamapi.New(iamapi.Options{Service: newEnvService(t), Page: c}); err == nil || !strings.Contains(err.Error(), "Page") {
				t.Fatalf("New = %v, want an error naming Page", err)
			}
		})
	}
}
