package iamapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"chpass/shared/iamapi"
)

const portal = "https://portal.example.com"

func withCORS(c iamapi.CORSConfig) func(*iamapi.Options, *fakeDir) {
	return func(o *iamapi.Options, _ *fakeDir) { o.CORS = c }
}

func preflightReq(path, origin, method string) *http.Request {
	r := httptest.NewRequest(http.MethodOptions, path, nil)
	r.Header.Set("Origin", origin)
	r.Header.Set("Access-Control-Request-Method", method)
	r.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	return r
}

func TestCORS(t *testing.T) {
	named := iamapi.CORSConfig{AllowedOrigins: []string{portal, "http://127.0.0.1:8080"}, MaxAge: 5 * time.Minute}
	tests := []struct {
		name       string
		cfg        iamapi.CORSConfig
		req        func(tb testing.TB) *http.Request
		status     int
		allowOrig  string // "" means the header must be absent
		allowMeth  string
		creds      bool
		changed    bool
		preflights bool
	}{
		{name: "Preflight/Change", cfg: named, req: func(testing.TB) *http.Request {
			return preflightReq(iamapi.ChangePath, portal, "POST")
		}, status: 204, allowOrig: portal, allowMeth: "POST", preflights: true},
		{name: "Preflight/Policy", cfg: named, req: func(testing.TB) *http.Request {
			return preflightReq(iamapi.PolicyPath, "http://127.0.0.1:8080", "GET")
		}, status: 204, allowOrig: "http://127.0.0.1:8080", allowMeth: "GET", preflights: true},
		{name: "Preflight/OtherOrigin", cfg: named, req: func(testing.TB) *http.Request {
			return preflightReq(iamapi.ChangePath, "https://evil.example.com", "POST")
		}, status: 204},
		{name: "Preflight/NoCORSConfigured", req: func(testing.TB) *http.Request {
			return preflightReq(iamapi.ChangePath, portal, "POST")
		}, status: 405},
		{name: "Change/AllowedOrigin", cfg: named, req: func(tb testing.TB) *http.Request {
			r := bearer(tb, post(body(oldPW, newPW)))
			r.Header.Set("Origin", portal)
			return r
		}, status: 200, allowOrig: portal, changed: true},
		{name: "Change/OtherOrigin", cfg: named, req: func(tb testing.TB) *http.Request {
			r := bearer(tb, post(body(oldPW, newPW)))
			r.Header.Set("Origin", "https://evil.example.com")
			return r
		}, status: 200, changed: true}, // the browser refuses to show the answer
		{name: "Policy/AnyOrigin", cfg: iamapi.CORSConfig{AllowedOrigins: []string{"*"}}, req: func(testing.TB) *http.Request {
			r := httptest.NewRequest(http.MethodGet, iamapi.PolicyPath, nil)
			r.Header.Set("Origin", "https://anywhere.example")
			return r
		}, status: 200, allowOrig: "*"},
		{name: "Change/Credentials", cfg: iamapi.CORSConfig{AllowedOrigins: []string{portal}, AllowCredentials: true}, req: func(tb testing.TB) *http.Request {
			r := bearer(tb, post(body(oldPW, newPW)))
			r.Header.Set("Origin", portal)
			return r
		}, status: 200, allowOrig: portal, creds: true, changed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, withCORS(tt.cfg))
			res := e.do(t, tt.req(t))
			if res.status != tt.status {
				t.Fatalf("status %d (%s), want %d", res.status, res.code, tt.status)
			}
			if got := res.header.Get("Access-Control-Allow-Origin"); got != tt.allowOrig {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tt.allowOrig)
			}
			if got := res.header.Get("Access-Control-Allow-Methods"); got != tt.allowMeth {
				t.Errorf("Access-Control-Allow-Methods = %q, want %q", got, tt.allowMeth)
			}
			if got := res.header.Get("Access-Control-Allow-Credentials") == "true"; got != tt.creds {
				t.Errorf("Access-Control-Allow-Credentials true = %v, want %v", got, tt.creds)
			}
			if tt.preflights {
				if h := res.header.Get("Access-Control-Allow-Headers"); !strings.Contains(h, "Authorization") || !strings.Contains(h, "Content-Type") {
					t.Errorf("Access-Control-Allow-Headers = %q", h)
				}
				if tt.cfg.MaxAge > 0 && res.header.Get("Access-Control-Max-Age") != "300" {
					t.Errorf("Access-Control-Max-Age = %q, want 300", res.header.Get("Access-Control-Max-Age"))
				}
			}
			if tt.allowOrig != "" && tt.allowOrig != "*" && !strings.Contains(strings.Join(res.header.Values("Vary"), ","), "Origin") {
				t.Error("Vary: Origin is missing")
			}
			if changed := e.dir.password(user) == newPW; changed != tt.changed {
				t.Errorf("password changed = %v, want %v", changed, tt.changed)
			}
		})
	}
}

func TestCORSConfigRefused(t *testing.T) {
	tests := map[string]iamapi.CORSConfig{
		"StarWithCredentials": {AllowedOrigins: []string{"*"}, AllowCredentials: true},
		"StarAmongOthers":     {AllowedOrigins: []string{portal, "*"}},
		"Path":                {AllowedOrigins: []string{portal + "/app"}},
		"NoScheme":            {AllowedOrigins: []string{"portal.example.com"}},
		"OtherScheme":         {AllowedOrigins: []string{"ftp://portal.example.com"}},
	}
	for name, c := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := iamapi.New(iamapi.Options{Service: newEnvService(t), CORS: c})
			if err == nil || !strings.Contains(err.Error(), "CORS") {
				t.Fatalf("New = %v, want an error naming CORS", err)
			}
		})
	}
}
