package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chpass/shared/password"
	"chpass/shared/webhook"
)

var secret = []byte("whsec-cAnArY-0123456789abcdef0123456789")

// receiver verifies each delivery's HMAC as a receiver would (computed here
// from the spec, not with webhook.Sign) and answers with the next status.
type receiver struct {
	t        *testing.T
	statuses []int
	calls    atomic.Int32
	mu       sync.Mutex
	got      []password.Event
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(rc.calls.Add(1))
	body, _ := io.ReadAll(r.Body)
	ts, sig := r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "." + string(body)))
	if want := "v1=" + hex.EncodeToString(m.Sum(nil)); !hmac.Equal([]byte(sig), []byte(want)) {
		rc.t.Errorf("delivery %d: signature %q does not verify", n, sig)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if err := webhook.Verify(secret, ts, sig, body, time.Now(), time.Minute); err != nil {
		rc.t.Errorf("Verify: %v", err)
	}
	var e password.Event
	if err := json.Unmarshal(body, &e); err != nil || r.Header.Get(webhook.HeaderEventID) != e.ID {
		rc.t.Errorf("delivery %d: body %s, event id header %q", n, body, r.Header.Get(webhook.HeaderEventID))
	}
	rc.mu.Lock()
	rc.got = append(rc.got, e)
	rc.mu.Unlock()
	status := http.StatusOK
	if n <= len(rc.statuses) {
		status = rc.statuses[n-1]
	}
	w.WriteHeader(status)
}

var event = password.Event{ID: "ev-1", Kind: password.KindSelfService, User: "alice", Directory: "corp",
	Time: time.Date(2026, 11, 29, 17, 0, 0, 0, time.UTC), RequestID: "req-1", Auth: "token"}

func TestPublish(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int
		attempts int32
		ok       bool
	}{
		{name: "Delivered", attempts: 1, ok: true},
		{name: "RetriedAfter503And429", statuses: []int{503, 429}, attempts: 3, ok: true},
		{name: "GivesUpAfterMaxAttempts", statuses: []int{500, 502, 503, 504}, attempts: 3},
		{name: "NoRetryOnClientError", statuses: []int{400}, attempts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := &receiver{t: t, statuses: tt.statuses}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			p, err := webhook.New(webhook.Options{URL: srv.URL + "/hook?token=cAnArY-in-query", Secret: secret, Backoff: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			err = p.Publish(context.Background(), event)
			if (err == nil) != tt.ok {
				t.Fatalf("Publish = %v, want ok %v", err, tt.ok)
			}
			if err != nil && (strings.Contains(err.Error(), "cAnArY") || strings.Contains(err.Error(), "/hook")) {
				t.Errorf("the error quotes the URL's path or query: %v", err)
			}
			if n := rc.calls.Load(); n != tt.attempts {
				t.Errorf("%d attempts, want %d", n, tt.attempts)
			}
			if tt.ok && rc.got[len(rc.got)-1].User != "alice" {
				t.Errorf("received %+v", rc.got)
			}
		})
	}
}

// TestPublishWithinDeadline: retries stop when the deadline leaves no room.
func TestPublishWithinDeadline(t *testing.T) {
	rc := &receiver{t: t, statuses: []int{503, 503, 503, 503, 503, 503}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	p, _ := webhook.New(webhook.Options{URL: srv.URL, Secret: secret, MaxAttempts: 6, Backoff: 150 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := p.Publish(ctx, event); err == nil {
		t.Fatal("Publish succeeded against a failing receiver")
	}
	if n := rc.calls.Load(); n > 2 {
		t.Errorf("%d attempts within a 200ms deadline at 150ms backoff, want at most 2", n)
	}
}

func TestVerifyRefuses(t *testing.T) {
	body := []byte(`{"id":"ev-1"}`)
	now := time.Now()
	good := webhook.Sign(secret, "1700000000", body)
	at := time.Unix(1700000000, 0)
	tests := map[string]error{
		"Good":          webhook.Verify(secret, "1700000000", good, body, at, time.Minute),
		"OtherBody":     webhook.Verify(secret, "1700000000", good, []byte(`{"id":"ev-2"}`), at, time.Minute),
		"OtherSecret":   webhook.Verify([]byte("another-secret-0123456789abcdef012"), "1700000000", good, body, at, time.Minute),
		"Replayed":      webhook.Verify(secret, "1700000000", good, body, at.Add(10*time.Minute), time.Minute),
		"BadTimestamp":  webhook.Verify(secret, "soon", good, body, now, time.Minute),
		"TimestampEdit": webhook.Verify(secret, "1700000001", good, body, at, time.Minute),
	}
	for name, err := range tests {
		if (err == nil) != (name == "Good") {
			t.Errorf("%s: Verify = %v", name, err)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	for name, o := range map[string]webhook.Options{
		"PlainHTTP":   {URL: "http://hooks.example.com/x", Secret: secret},
		"ShortSecret": {URL: "https://hooks.example.com/x", Secret: []byte("short")},
		"NotURL":      {URL: "hooks", Secret: secret},
	} {
		if _, err := webhook.New(o); err == nil {
			t.Errorf("%s: New accepted %+v", name, o.URL)
		}
	}
}
