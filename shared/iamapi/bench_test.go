package iamapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rs/zerolog"

	"chpass/shared/iamapi"
	"chpass/shared/iamapi/oidctest"
	"chpass/shared/password"
)

// BenchmarkChange measures one password change through the handler, bearer token
// and all, against the in-memory directory. The policy is off for reuse so that
// alternating between two passwords always succeeds.
func BenchmarkChange(b *testing.B) {
	e := newEnv(b, func(o *iamapi.Options, d *fakeDir) {
		o.Logger = zerolog.New(io.Discard)
		p := password.DefaultPolicy()
		p.PasswordReusePrevention = 0
		o.Service = password.NewService(p, d)
	})
	tok := hsToken(b)
	bodies := [2]string{body(oldPW, newPW), body(newPW, oldPW)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		r := httptest.NewRequest(http.MethodPost, iamapi.ChangePath, strings.NewReader(bodies[i%2]))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Auth-Token", tok)
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkSignatureVerification measures one SDK-HMAC-SHA256 verification: the
// request is signed once and replayed (within the clock skew) to a handler whose
// directory refuses at once, so the time is the handler's own.
func BenchmarkSignatureVerification(b *testing.B) {
	e := newEnv(b, func(o *iamapi.Options, _ *fakeDir) { o.Logger = zerolog.New(io.Discard) })
	r0 := signed(b, body("Wrong-"+oldPW, newPW))
	raw := body("Wrong-"+oldPW, newPW)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, iamapi.ChangePath, strings.NewReader(raw))
		r.Header = r0.Header
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		if w.Code != http.StatusBadRequest { // authenticated, then IAM.1103
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkTokenVerification verifies the same RS256 token of an in-process
// OpenID Connect provider through the handler (whose directory then refuses the
// old password at once): with the key set read from a file (tokens.jwks_file)
// and with the key set found by discovery and cached (tokens.issuer alone).
// Ratio reports remote/file; the goal is at most 2.
func BenchmarkTokenVerification(b *testing.B) {
	p := oidctest.Start(b)
	now := time.Now()
	tok := p.SignedBy(b, jwt.MapClaims{"iss": p.Issuer(), "aud": p.ClientID(), "preferred_username": user,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	file := iamapi.TokenConfig{Issuer: p.Issuer(), Audience: p.ClientID(), UserClaim: "preferred_username", JWKS: p.JWKS(b)}
	remote := iamapi.TokenConfig{Issuer: p.Issuer(), Audience: p.ClientID(), UserClaim: "preferred_username"}
	raw := body("Wrong-"+oldPW, newPW)
	handler := func(tb testing.TB, tc iamapi.TokenConfig) func() {
		e := newEnv(tb, func(o *iamapi.Options, _ *fakeDir) {
			o.Logger, o.Tokens, o.Now = zerolog.New(io.Discard), tc, time.Now
		})
		return func() {
			r := httptest.NewRequest(http.MethodPost, iamapi.ChangePath, strings.NewReader(raw))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, r)
			if w.Code != http.StatusBadRequest { // authenticated, then IAM.1103
				tb.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	}
	run := func(tc iamapi.TokenConfig) func(*testing.B) {
		return func(b *testing.B) {
			do := handler(b, tc)
			b.ReportAllocs()
			for b.Loop() {
				do()
			}
		}
	}
	b.Run("JWKSFile", run(file))
	b.Run("DiscoveryCached", run(remote))
	// Ratio alternates the two in one loop, so that both see the same machine load.
	b.Run("Ratio", func(b *testing.B) {
		f, r := handler(b, file), handler(b, remote)
		var tf, tr time.Duration
		for b.Loop() {
			t0 := time.Now()
			f()
			t1 := time.Now()
			r()
			tf, tr = tf+t1.Sub(t0), tr+time.Since(t1)
		}
		b.ReportMetric(float64(tf.Nanoseconds())/float64(b.N), "file-ns/op")
		b.ReportMetric(float64(tr.Nanoseconds())/float64(b.N), "remote-ns/op")
		b.ReportMetric(float64(tr)/float64(tf), "remote/file")
		if fetches := p.JWKSFetches(); fetches > 3 {
			b.Errorf("the key set was fetched %d times over the runs; the cache is not used", fetches)
		}
	})
}
