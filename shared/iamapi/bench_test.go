package iamapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"chpass/shared/iamapi"
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
