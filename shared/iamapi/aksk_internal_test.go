package iamapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"chpass/shared/guard"
)

// BenchmarkVerifySignature measures verifySignature alone: parse the header,
// build the canonical request, HMAC it and compare.
func BenchmarkVerifySignature(b *testing.B) {
	now := time.Date(2026, 11, 24, 4, 7, 33, 0, time.UTC)
	h := &Handler{
		keys:  map[string]AccessKey{"AK": {ID: "AK", Secret: "secret-0123456789", User: "alice"}},
		guard: &guard.Memory{Now: func() time.Time { return now }},
		now:   func() time.Time { return now },
	}
	body := []byte(`{"new_password":"Password2!","old_password":"Password1"}`)
	r := httptest.NewRequest(http.MethodPost, "/v5/caller-password", strings.NewReader(string(body)))
	r.Header.Set("X-Domain-Id", "domain123")
	r.Header.Set("X-Sdk-Date", now.Format(DateFormat))
	signed := []string{"x-domain-id", "x-sdk-date"}
	sig := sign("secret-0123456789", stringToSign(r, body, signed, now.Format(DateFormat)))
	authz := "SDK-HMAC-SHA256 Access=AK, SignedHeaders=x-domain-id;x-sdk-date, Signature=" + sig
	b.ReportAllocs()
	for b.Loop() {
		// A fresh memory each time: the same signature would be a replay.
		h.guard = &guard.Memory{Now: func() time.Time { return now }}
		if _, err := h.verifySignature(r, body, authz); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCanonicalURI(t *testing.T) {
	tests := map[string]string{
		"/v5/caller-password":  "/v5/caller-password/",
		"/v5/caller-password/": "/v5/caller-password/",
		"/":                    "/",
		"":                     "/",
		"/a b/c~d":             "/a%20b/c~d/",
	}
	for in, want := range tests {
		if got := canonicalURI(in); got != want {
			t.Errorf("canonicalURI(%q) = %q, want %q", in, got, want)
		}
	}
}
