package setup_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chpass/functions/internal/setup/iam"

	"github.com/aliyun/fc-runtime-go-sdk/fc"
	"github.com/aws/aws-lambda-go/lambda"

	"chpass/shared/platform"
)

// TestPageThroughPlatforms: the self-service page works when the platform hands
// caller-password its path: the page-*.json sample events (API Gateway HTTP API
// payload 2.0 on the routes template.yaml declares, a Function URL, an FC HTTP
// trigger) go through the platforms' SDK handlers and shared/platform's event
// mappers to the real handler, which answers the page, its script and config
// with the page's CSP, and /portal with a relative redirect to /portal/.
func TestPageThroughPlatforms(t *testing.T) {
	files, err := filepath.Glob("../../../events/caller-password/page-*.json")
	if err != nil || len(files) < 3 {
		t.Fatalf("page sample events: %v %v", files, err)
	}
	h, err := iam.CallerPassword(context.Background(), demoApp(t, time.Now))
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		status      int
		ctype, body string // body: a substring the answer must hold
		location    string
	}
	wants := map[string]want{
		"page-apigw-http-v2.json":          {status: 200, ctype: "text/javascript", body: "v5/caller-password"},
		"page-redirect-apigw-http-v2.json": {status: 301, location: "portal/"},
		"page-function-url.json":           {status: 200, ctype: "text/html", body: `<script src="app.js" defer></script>`},
		"page-fc-http.json":                {status: 200, ctype: "text/html", body: `<script src="app.js" defer></script>`},
	}
	for _, f := range files {
		name := filepath.Base(f)
		w, ok := wants[name]
		if !ok {
			t.Errorf("%s: no expectation in TestPageThroughPlatforms", name)
			continue
		}
		payload, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) {
			status, hdr, body := invokePlatform(t, h, name, payload)
			if status != w.status {
				t.Fatalf("status %d, want %d; body %.300s", status, w.status, body)
			}
			if w.location != "" {
				if got := hdr["location"]; got != w.location {
					t.Fatalf("Location %q, want %q", got, w.location)
				}
				return
			}
			if ct := hdr["content-type"]; !strings.HasPrefix(ct, w.ctype) {
				t.Errorf("Content-Type %q, want %s", ct, w.ctype)
			}
			if csp := hdr["content-security-policy"]; !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") ||
				!strings.Contains(csp, "connect-src 'self' https://idp.chpass.demo") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if hdr["x-content-type-options"] != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", hdr["x-content-type-options"])
			}
			if !strings.Contains(body, w.body) {
				t.Errorf("body lacks %q: %.300s", w.body, body)
			}
		})
		t.Run(strings.TrimSuffix(name, ".json")+"/config.json", func(t *testing.T) {
			cfgPayload := withPath(t, payload, "/portal/config.json")
			status, hdr, body := invokePlatform(t, h, name, cfgPayload)
			var cfg map[string]any
			if status != 200 || !strings.HasPrefix(hdr["content-type"], "application/json") || json.Unmarshal([]byte(body), &cfg) != nil {
				t.Fatalf("config.json: %d %q %s", status, hdr["content-type"], body)
			}
			if cfg["client_id"] != "chpass-demo-page" || cfg["issuer"] != "https://idp.chpass.demo" || cfg["api"] != "../" || cfg["old_password"] != true || cfg["reset"] != true {
				t.Errorf("config.json %v", cfg)
			}
		})
	}
}

// withPath returns the event payload with its request path set to p.
func withPath(tb testing.TB, payload []byte, p string) []byte {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		tb.Fatal(err)
	}
	m["rawPath"] = p
	if rc, ok := m["requestContext"].(map[string]any); ok {
		if hp, ok := rc["http"].(map[string]any); ok {
			hp["path"] = p
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// invokePlatform feeds payload through its platform's SDK handler (FC for
// fc-*.json and *-fc-*.json, Lambda otherwise) and returns the status, the
// headers (lower-cased names) and the body of the answer.
func invokePlatform(tb testing.TB, h http.Handler, name string, payload []byte) (int, map[string]string, string) {
	tb.Helper()
	var (
		out []byte
		err error
	)
	if strings.HasPrefix(name, "fc-") || strings.Contains(name, "-fc-") {
		out, err = fc.NewHandler(platform.FCHandler(h)).Invoke(context.Background(), payload)
	} else {
		out, err = lambda.NewHandler(platform.LambdaHandler(h)).Invoke(context.Background(), payload)
	}
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	var resp struct {
		StatusCode      int               `json:"statusCode"`
		Headers         map[string]string `json:"headers"`
		Body            string            `json:"body"`
		IsBase64Encoded bool              `json:"isBase64Encoded"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		tb.Fatalf("%s: %v in %s", name, err, out)
	}
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			tb.Fatal(err)
		}
		resp.Body = string(b)
	}
	hdr := map[string]string{}
	for k, v := range resp.Headers {
		hdr[strings.ToLower(k)] = v
	}
	return resp.StatusCode, hdr, resp.Body
}
