package setup_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "chpass/functions/internal/setup"
	"chpass/functions/internal/setup/ehpc"
	"chpass/functions/internal/setup/iam"

	"github.com/aliyun/fc-runtime-go-sdk/fc"
	"github.com/aws/aws-lambda-go/lambda"

	"chpass/shared/config"
	"chpass/shared/platform"
)

// signedAt is when the signed sample events were signed (X-Sdk-Date and the RPC
// Timestamp); a clock within 15 minutes of it accepts their signatures.
var signedAt = time.Date(2026, 11, 24, 4, 10, 0, 0, time.UTC)

// demoApp returns an App on the demo configuration, with a fresh store of cheap
// hashes, the clock now, the self-service page at /portal/ and both forgotten
// paths (which the page-*, reset-* and old-password-* sample events ask for).
func demoApp(tb testing.TB, now func() time.Time) *App {
	tb.Helper()
	demo, err := os.ReadFile("../../local/demo.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	yml := strings.Replace(string(demo), "path: .cache/chpass-demo.db",
		"path: "+filepath.Join(tb.TempDir(), "events.db")+"\n  argon2: {time: 1, memory_kib: 64, threads: 1}", 1)
	yml += "\npage: {path: /portal/, client_id: chpass-demo-page}\n" +
		"forgotten: {idp: {max_age: 10m, amr: [mfa]}, old_password: {}}\n"
	cfg, err := config.Parse(context.Background(), strings.NewReader(yml))
	if err != nil {
		tb.Fatal(err)
	}
	a := New(cfg, NewLogger(io.Discard, "events", "info"))
	a.Now = now
	tb.Cleanup(func() { a.Close() })
	return a
}

// invokeEvent feeds an event file through the platform's own SDK path, as the
// runtime would: aws-lambda-go's handler for Lambda events, fc-runtime-go-sdk's
// for Function Compute ones. It returns the response's status and body.
func invokeEvent(tb testing.TB, h http.Handler, path string) (int, string) {
	tb.Helper()
	payload, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var out []byte
	if name := filepath.Base(path); strings.HasPrefix(name, "fc-") || strings.Contains(name, "-fc-") {
		out, err = fc.NewHandler(platform.FCHandler(h)).Invoke(context.Background(), payload)
	} else {
		out, err = lambda.NewHandler(platform.LambdaHandler(h)).Invoke(context.Background(), payload)
	}
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	var resp struct {
		StatusCode int    `json:"statusCode"`
		Body       string `json:"body"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		tb.Fatalf("%s: %v in %s", path, err, out)
	}
	return resp.StatusCode, resp.Body
}

// TestEventsThroughPlatforms runs every sample event of both functions through the
// real platform path, the real handler and the embedded store: each succeeds when
// the clock is within 15 minutes of its signature, and on the real clock the
// signed ones are refused as stale while the ones a gateway authorized still work.
func TestEventsThroughPlatforms(t *testing.T) {
	builders := map[string]func(*App) (http.Handler, error){
		"caller-password": func(a *App) (http.Handler, error) { return iam.CallerPassword(context.Background(), a) },
		"modify-user-passwords": func(a *App) (http.Handler, error) {
			return ehpc.ModifyUserPasswords(context.Background(), a, ehpc.NoAsync)
		},
	}
	// What the signed events answer on the real clock, long after they were signed.
	stale := map[string]string{"caller-password": `"error_code":"APIG.0301"`, "modify-user-passwords": `"Code":"InvalidTimeStamp.Expired"`}
	for fn, build := range builders {
		files, err := filepath.Glob(filepath.Join("../../../events", fn, "*.json"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no events for %s: %v", fn, err)
		}
		for _, path := range files {
			name := filepath.Base(path)
			t.Run(fn+"/"+name, func(t *testing.T) {
				a := demoApp(t, func() time.Time { return signedAt })
				h, err := build(a)
				if err != nil {
					t.Fatal(err)
				}
				status, body := invokeEvent(t, h, path)
				if strings.HasPrefix(name, "page-") {
					checkPageEvent(t, name, status, body)
					return // TestPageThroughPlatforms checks them further
				}
				if status != http.StatusOK {
					t.Fatalf("at signing time: %d %s", status, body)
				}
				switch {
				case strings.HasPrefix(name, "policy-"):
					if !strings.Contains(body, `"password_policy"`) {
						t.Fatalf("policy body: %s", body)
					}
				case fn == "caller-password" && strings.HasPrefix(name, "reset-"):
					if body != "" || !holdsPassword(t, a, "alice", "Alice-Reset-Pass3#") {
						t.Fatalf("reset: body %s, or alice does not hold the new password", body)
					}
				case fn == "caller-password" && strings.HasPrefix(name, "old-password-"):
					if body != "" || !holdsPassword(t, a, "bob", "Bob-New-Pass2@") {
						t.Fatalf("old password: body %s, or bob does not hold the new password", body)
					}
				case fn == "caller-password":
					if body != "" {
						t.Fatalf("a change answers an empty body, got %s", body)
					}
				default:
					if !strings.Contains(body, `"RequestId"`) {
						t.Fatalf("no RequestId: %s", body)
					}
				}

				h, err = build(demoApp(t, time.Now))
				if err != nil {
					t.Fatal(err)
				}
				status, body = invokeEvent(t, h, path)
				// The reset's token has expired on the real clock; the old
				// password needs no clock.
				switch signed := !strings.HasPrefix(name, "policy-") && !strings.HasPrefix(name, "old-password-") && !gatewayAuthorized(t, path); {
				case strings.HasPrefix(name, "reset-"):
					if status != http.StatusUnauthorized {
						t.Fatalf("an expired token must be refused: %d %s", status, body)
					}
				case signed && !strings.Contains(body, stale[fn]):
					t.Fatalf("a stale signature must be refused: %d %s", status, body)
				case !signed && status != http.StatusOK:
					t.Fatalf("on the real clock: %d %s", status, body)
				}
			})
		}
	}
}

// gatewayAuthorized reports whether the event carries an API gateway authorizer
// context, which the demo configuration trusts in place of a signature.
func gatewayAuthorized(tb testing.TB, path string) bool {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var ev struct {
		RequestContext struct {
			Authorizer map[string]any `json:"authorizer"`
		} `json:"requestContext"`
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		tb.Fatal(err)
	}
	return len(ev.RequestContext.Authorizer) > 0
}

// checkPageEvent fails tb unless status and body are the answer to the page
// sample event name: page-redirect-* asks for /portal (a redirect to the page),
// the others for the page or one of its files.
func checkPageEvent(tb testing.TB, name string, status int, body string) {
	tb.Helper()
	switch {
	case strings.HasPrefix(name, "page-redirect-"):
		if status != http.StatusMovedPermanently {
			tb.Fatalf("%s: %d %s, want 301", name, status, body)
		}
	case status != http.StatusOK || !strings.Contains(body, "caller-password") && !strings.Contains(body, "<!doctype html>"):
		tb.Fatalf("%s: %d %.200s, want the page or its script", name, status, body)
	}
}

// holdsPassword reports whether a's embedded store holds pw for user: a change
// from pw succeeds only then.
func holdsPassword(tb testing.TB, a *App, user, pw string) bool {
	tb.Helper()
	s, err := a.Store(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return s.ChangePassword(context.Background(), user, pw, "Check-"+user+"-Pw9?x") == nil
}
