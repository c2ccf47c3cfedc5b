package setup_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "chpass/functions/internal/setup"
	"chpass/functions/internal/setup/ehpc"
	"chpass/functions/internal/setup/iam"

	"chpass/shared/config"
	"chpass/shared/ehpcapi"
)

// benchApp returns an App on a fresh embedded store with the default (production)
// argon2id cost, seeded with users, with every credential a fixture.
func benchApp(tb testing.TB, users int) *App {
	tb.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "store:\n  path: %s\n", filepath.Join(tb.TempDir(), "bench.db"))
	b.WriteString("policy:\n  password_reuse_prevention: 3\nusers:\n  - {name: alice, password: 'Alice-Old-Pass1!'}\n")
	for i := 1; i <= users; i++ {
		fmt.Fprintf(&b, "  - {name: user%03d, password: 'Seed-Pass-%03d!'}\n", i, i)
	}
	b.WriteString(`access_keys:
  - {id: LTAIbenchKEY, secret: bench-secret-0123456789, actions: ["*"], clusters: ["*"]}
tokens: {hs256_secret: bench-jwt-secret-0123456789-0123456789}
clusters:
  bench: {directory: embedded, status: running}
`)
	cfg, err := config.Parse(context.Background(), strings.NewReader(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	a := New(cfg, NewLogger(io.Discard, "bench", "info"))
	tb.Cleanup(func() { a.Close() })
	if _, err := a.Store(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return a
}

// BenchmarkSelfServiceChange measures one POST /v5/caller-password through the
// handler (bearer token, policy, argon2id verify and hash, history 3) on the
// embedded store, with a new password each round so that history never refuses.
func BenchmarkSelfServiceChange(b *testing.B) {
	a := benchApp(b, 0)
	h, err := iam.CallerPassword(context.Background(), a)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := demoToken(a, "alice")
	if err != nil {
		b.Fatal(err)
	}
	old := "Alice-Old-Pass1!"
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		next := fmt.Sprintf("Alice-Pass-%d!", i)
		req := httptest.NewRequest(http.MethodPost, "/v5/caller-password", strings.NewReader(`{"old_password":"`+old+`","new_password":"`+next+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		old = next
	}
}

// BenchmarkBatch100Resets measures one signed ModifyUserPasswords of 100 users
// through the handler on the embedded store (8 at a time), and the peak heap seen
// while it ran.
func BenchmarkBatch100Resets(b *testing.B) {
	a := benchApp(b, 100)
	h, err := ehpc.ModifyUserPasswords(context.Background(), a, ehpc.NoAsync)
	if err != nil {
		b.Fatal(err)
	}
	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > peak.Load() {
					peak.Store(ms.HeapAlloc)
				}
			}
		}
	}()
	round := 0
	b.ReportAllocs()
	for b.Loop() {
		round++
		params := map[string]string{
			"Action": "ModifyUserPasswords", "Version": "2018-04-12", "Format": "JSON",
			"AccessKeyId": "LTAIbenchKEY", "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
			"SignatureNonce": fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), round),
			"Timestamp":      time.Now().UTC().Format("2006-01-02T15:04:05Z"), "ClusterId": "bench",
		}
		for i := 1; i <= 100; i++ {
			params[fmt.Sprintf("User.%d.Name", i)] = fmt.Sprintf("user%03d", i)
			params[fmt.Sprintf("User.%d.Password", i)] = fmt.Sprintf("Round-%d-Pass-%03d!", round, i)
		}
		params["Signature"] = ehpcapi.Sign(http.MethodGet, params, "bench-secret-0123456789")
		q := url.Values{}
		for k, v := range params {
			q.Set(k, v)
		}
		req := httptest.NewRequest(http.MethodGet, "/?"+q.Encode(), nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	close(stop)
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/100/1000, "ms/reset")
}
