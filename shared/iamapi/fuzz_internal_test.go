package iamapi

import (
	"chpass/shared/guard"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzDecodeChange feeds the JSON body decoder anything: it never panics, what
// it accepts is two strings within the limits, and what it refuses is a
// catalog code whose message holds none of the body.
func FuzzDecodeChange(f *testing.F) {
	for _, s := range []string{
		`{"old_password":"Old-Pass-1","new_password":"New-Pass-2"}`,
		`{"old_password":"a","new_password":"b","Xq9":1}`,
		`{"old_password":"\ud800","new_password":"\u00e9"}`,
		`{"old_password":"a","old_password":"b"}`,
		`{"new_password":null}`, `[]`, `{}`, ``, `{"old_password":1}`, "{\"old_password\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	v := newRequestValidator()
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeChange(v, body)
		if err != nil {
			if _, ok := catalog[err.code]; !ok {
				t.Fatalf("code %q is not in the catalog", err.code)
			}
			if p := probe(body); p != "" && strings.Contains(err.msg, p) {
				t.Fatalf("message %q echoes the body", err.msg)
			}
			return
		}
		for _, s := range []string{req.OldPassword, req.NewPassword} {
			if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxPasswordLength || strings.IndexFunc(s, unicode.IsControl) >= 0 {
				t.Fatalf("accepted a field the rules refuse: %q", s)
			}
		}
	})
}

// probe returns a run of 6 letters of the body that no message of the decoder
// holds by itself, or "".
func probe(body []byte) string {
	s := string(body)
	for i := 0; i+6 <= len(s); i++ {
		w := s[i : i+6]
		if strings.IndexFunc(w, func(r rune) bool { return r < 'A' || r > 'Z' }) < 0 {
			return w // upper-case letters only: no message has six in a row
		}
	}
	return ""
}

// FuzzParseSignature feeds the SDK-HMAC-SHA256 Authorization parser and the
// whole verification anything: it never panics and never authenticates a
// request that the key did not sign.
func FuzzParseSignature(f *testing.F) {
	now := time.Date(2026, 11, 24, 4, 7, 33, 0, time.UTC)
	body := []byte(`{"new_password":"Password2!","old_password":"Password1"}`)
	signedReq := func(path string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/v5/caller-password", strings.NewReader(string(body)))
		r.URL.Path = path
		r.Header.Set("X-Sdk-Date", now.Format(DateFormat))
		return r
	}
	good := "SDK-HMAC-SHA256 Access=AK, SignedHeaders=x-sdk-date, Signature=" +
		sign("secret-0123456789", stringToSign(signedReq("/v5/caller-password"), body, []string{"x-sdk-date"}, now.Format(DateFormat)))
	for _, s := range []string{good, "SDK-HMAC-SHA256 Access=AK, SignedHeaders=, Signature=00", "SDK-HMAC-SHA256 ", "SDK-HMAC-SHA256 a=b=c,,", "Bearer x"} {
		f.Add(s, "/v5/caller-password")
	}
	f.Fuzz(func(t *testing.T, authz, path string) {
		parseSignature(authz)
		h := &Handler{
			keys:  map[string]AccessKey{"AK": {ID: "AK", Secret: "secret-0123456789", User: "alice"}},
			guard: &guard.Memory{Now: func() time.Time { return now }},
			now:   func() time.Time { return now },
		}
		user, err := h.verifySignature(signedReq(path), body, authz)
		// Spacing may differ; the key, the signed headers, the signature and the
		// canonical path may not.
		got, _ := parseSignature(authz)
		want, _ := parseSignature(good)
		same := got.accessKey == want.accessKey && got.signature == want.signature &&
			strings.Join(got.signedHeaders, ";") == strings.Join(want.signedHeaders, ";")
		if err == nil && (!same || canonicalURI(path) != "/v5/caller-password/") {
			t.Fatalf("authenticated %q as %q with a signature the key did not make", authz, user)
		}
	})
}

// FuzzVerifyToken feeds the JWT verifier anything, header and claims included:
// it never panics, and what it accepts names the user the key's holder signed.
func FuzzVerifyToken(f *testing.F) {
	const secret = "fuzz-jwt-secret-0123456789-0123456789"
	now := time.Date(2026, 11, 24, 4, 7, 33, 0, time.UTC)
	v, err := newTokenVerifier(TokenConfig{HS256Secret: secret, Issuer: "https://idp"}, func() time.Time { return now })
	if err != nil {
		f.Fatal(err)
	}
	mk := func(alg jwt.SigningMethod, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(alg, claims).SignedString([]byte(secret))
		if err != nil {
			f.Fatal(err)
		}
		return s
	}
	good := mk(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "iss": "https://idp", "exp": now.Add(time.Hour).Unix()})
	f.Add(good)
	f.Add(mk(jwt.SigningMethodHS512, jwt.MapClaims{"sub": "alice", "iss": "https://idp", "exp": now.Add(time.Hour).Unix()}))
	f.Add(mk(jwt.SigningMethodHS256, jwt.MapClaims{"sub": []string{"alice"}, "iss": "https://idp", "exp": "soon"}))
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, token string) {
		claims, aerr := v.verify(context.Background(), token)
		if aerr == nil && claims.user != "alice" {
			t.Fatalf("accepted a token naming %q that the key's holder did not sign", claims.user)
		}
		if aerr != nil && aerr.code != CodeUnauthenticated {
			t.Fatalf("code %s, want %s", aerr.code, CodeUnauthenticated)
		}
	})
}
