package setup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "chpass/functions/internal/setup"
	"chpass/functions/internal/setup/ehpc"
	"chpass/functions/internal/setup/iam"

	"chpass/shared/config"
	"chpass/shared/ehpcapi"
	"chpass/shared/eventbridge/eventbridgetest"
	"chpass/shared/password"
	"chpass/shared/webhook"
)

const hookSecret = "whsec-cAnArY-setup-0123456789abcdef0123"

// TestChangeEvents configures both publishers and checks, through the two
// functions' handlers: one signed webhook delivery and one EventBridge entry per
// self-service change and per reset user, naming who, what and how, and never a
// password or a secret anywhere (events, logs).
func TestChangeEvents(t *testing.T) {
	var mu sync.Mutex
	var hooks []password.Event
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify([]byte(hookSecret), r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature), body, time.Now(), time.Minute); err != nil {
			t.Errorf("webhook delivery: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var e password.Event
		json.Unmarshal(body, &e)
		mu.Lock()
		hooks = append(hooks, e)
		mu.Unlock()
	}))
	t.Cleanup(recv.Close)
	eb := eventbridgetest.NewServer(t, eventbridgetest.Options{Region: "eu-west-1", AccessKeyID: "AKIAEVENTS", SecretAccessKey: "sk-cAnArY-eb"})
	for k, v := range eb.Env() {
		t.Setenv(k, v)
	}
	t.Setenv("CHPASS_TEST_HOOK_SECRET", hookSecret)
	yml := fmt.Sprintf(`
store: {path: %s}
users:
  - {name: alice, password: Old-cAnArY-Pw1!}
  - {name: bob, password: Old-cAnArY-Pw1!}
  - {name: carol, password: Old-cAnArY-Pw1!}
tokens: {hs256_secret: events-jwt-secret-0123456789-0123456789}
access_keys:
  - {id: LTAIevents, secret: events-secret-0123456789, actions: ["*"], clusters: [c1]}
clusters:
  c1: {directory: embedded, status: running}
events:
  eventbridge: {bus: "arn:aws:events:eu-west-1:123456789012:event-bus/chpass"}
  webhook: {url: %s/hook, secret: "${CHPASS_TEST_HOOK_SECRET}"}
`, filepath.Join(t.TempDir(), "events.db"), recv.URL)
	cfg, err := config.Parse(context.Background(), strings.NewReader(yml))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	a := New(cfg, NewLogger(&logs, "test", "info"))
	t.Cleanup(func() { a.Close() })

	iam, err := iam.CallerPassword(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := demoToken(a, "alice")
	r := httptest.NewRequest(http.MethodPost, "/v5/caller-password", strings.NewReader(`{"old_password":"Old-cAnArY-Pw1!","new_password":"New-cAnArY-Pw2?"}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	iam.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("change: %d %s", w.Code, w.Body)
	}

	rpc, err := ehpc.ModifyUserPasswords(context.Background(), a, ehpc.NoAsync)
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]string{
		"Action": "ModifyUserPasswords", "Version": "2018-04-12", "Format": "JSON",
		"AccessKeyId": "LTAIevents", "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
		"SignatureNonce": fmt.Sprint(time.Now().UnixNano()), "Timestamp": time.Now().UTC().Format("2006-01-02T15:04:05Z"),
		"ClusterId": "c1", "User.1.Name": "bob", "User.1.Password": "Reset-cAnArY-Pw3#", "User.2.Name": "carol", "User.2.Password": "Reset-cAnArY-Pw4#",
	}
	params["Signature"] = ehpcapi.Sign(http.MethodGet, params, "events-secret-0123456789")
	q := url.Values{}
	for k, v := range params {
		q.Set(k, v)
	}
	w = httptest.NewRecorder()
	rpc.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/?"+q.Encode(), nil))
	if w.Code != http.StatusOK {
		t.Fatalf("reset: %d %s", w.Code, w.Body)
	}

	entries := eb.Entries()
	if len(hooks) != 3 || len(entries) != 3 {
		t.Fatalf("%d webhook deliveries and %d EventBridge entries, want 3 and 3", len(hooks), len(entries))
	}
	byUser := map[string]password.Event{}
	for _, e := range hooks {
		byUser[e.User] = e
	}
	if e := byUser["alice"]; e.Kind != password.KindSelfService || e.Auth != "token" || e.Caller != "alice" || e.Directory != "embedded" || e.RequestID == "" {
		t.Errorf("alice's event: %+v", e)
	}
	for _, u := range []string{"bob", "carol"} {
		if e := byUser[u]; e.Kind != password.KindAdminReset || e.Caller != "LTAIevents" || e.Auth != "rpc-v1" || e.Cluster != "c1" || e.RequestID == "" {
			t.Errorf("%s's event: %+v", u, e)
		}
	}
	var all bytes.Buffer
	for _, e := range entries {
		all.WriteString(e.Detail)
	}
	json.NewEncoder(&all).Encode(hooks)
	all.Write(logs.Bytes())
	if strings.Contains(all.String(), "cAnArY") {
		t.Error("a password or secret reached an event or a log line")
	}
}

// TestChangeEventsFailureLogged: an unreachable webhook leaves the change done,
// and a publish_failed line in the log.
func TestChangeEventsFailureLogged(t *testing.T) {
	yml := fmt.Sprintf(`
store: {path: %s}
users: [{name: alice, password: Old-cAnArY-Pw1!}]
tokens: {hs256_secret: events-jwt-secret-0123456789-0123456789}
events:
  timeout: 500ms
  webhook: {url: "http://127.0.0.1:1/hook", secret: whsec-cAnArY-0123456789abcdef0123456789}
`, filepath.Join(t.TempDir(), "events.db"))
	cfg, err := config.Parse(context.Background(), strings.NewReader(yml))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	a := New(cfg, NewLogger(&logs, "test", "info"))
	t.Cleanup(func() { a.Close() })
	iam, err := iam.CallerPassword(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := demoToken(a, "alice")
	r := httptest.NewRequest(http.MethodPost, "/v5/caller-password", strings.NewReader(`{"old_password":"Old-cAnArY-Pw1!","new_password":"New-cAnArY-Pw2?"}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	iam.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("the change failed with the webhook down: %d %s", w.Code, w.Body)
	}
	if !strings.Contains(logs.String(), `"event":"publish_failed"`) {
		t.Errorf("no publish_failed line: %s", logs.String())
	}
	if strings.Contains(logs.String(), "cAnArY") {
		t.Error("a secret reached the log")
	}
}
