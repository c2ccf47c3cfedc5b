package iamapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"chpass/shared/iamapi"
)

func TestTokens(t *testing.T) {
	rk, ek := testKeys(t)
	otherRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	type header int
	const (
		xAuth header = iota
		bearerHdr
	)
	tests := []struct {
		name  string
		token func(tb testing.TB) string
		hdr   header
		code  string
	}{
		{"HS256", func(tb testing.TB) string { return hsToken(tb) }, xAuth, ""},
		{"HS256/Bearer", func(tb testing.TB) string { return hsToken(tb) }, bearerHdr, ""},
		{"RS256/PEM", func(tb testing.TB) string { return makeToken(tb, jwt.SigningMethodRS256, rk, "", nil) }, bearerHdr, ""},
		{"PS256/PEM", func(tb testing.TB) string { return makeToken(tb, jwt.SigningMethodPS256, rk, "", nil) }, bearerHdr, ""},
		{"ES256/JWKS", func(tb testing.TB) string { return makeToken(tb, jwt.SigningMethodES256, ek, ecKID, nil) }, xAuth, ""},
		{"RS256/JWKSKid", func(tb testing.TB) string { return makeToken(tb, jwt.SigningMethodRS256, rk, rsaKID, nil) }, xAuth, ""},
		{"WithinLeeway", func(tb testing.TB) string {
			return makeToken(tb, jwt.SigningMethodHS256, []byte(hsSecret), "", jwt.MapClaims{"exp": fixedNow.Add(-20 * time.Second).Unix()})
		}, xAuth, ""},
		{"Expired", func(tb testing.TB) string {
			return makeToken(tb, jwt.SigningMethodHS256, []byte(hsSecret), "", jwt.MapClaims{"exp": fixedNow.Add(-time.Minute).Unix()})
		}, xAuth, iamapi.CodeUnauthenticated},
		{"NoExp", func(tb testing.TB) string {
			return makeToken(tb, jwt.SigningMethodHS256, []byte(hsSecret), "", jwt.MapClaims{"exp": nil})
		}, xAuth, iamapi.CodeUnauthenticated},
		{"NotYetValid", func(tb testing.TB) string {
			return makeToken(tb, jwt.SigningMethodHS256, []byte(hsSecret), "", jwt.MapClaims{"nbf": fixedNow.Add(time.Minute).Unix()})
		}, xAuth, iamapi.CodeUnauthenticated},
		{"IssuedInFuture", func(tb testing.TB) string {
			return makeToken(tb, jwt.SigningMethodHS256, []byte(hsSecret), "", jwt.MapClaims{"iat": fixedNow.Add(time.Minute).Unix()})
		}, xAuth, iamapi.CodeUnauthenticated},
		{"WrongIssuer", func(tb testing.TB) string {
			return makeToken(tb, jwt.SigningMethodHS256, []byte(hsSecret), "", jwt.MapClaims{"iss": "https://evil.example"})
		}, xAuth, iamapi.CodeUnauthenticated},
		{"WrongAudience", func(tb testing.TB) string {
			return makeToken(tb, jwt.SigningMethodHS256, []byte(hsSecret), "", jwt.MapClaims{"aud": "other"})
		}, xAuth, iamapi.CodeUnauthenticated},
		{"NoUserClaim", func(tb testing.TB) string {
			return makeToken(tb, jwt.SigningMethodHS256, []byte(hsSecret), "", jwt.MapClaims{"sub": nil})
		}, xAuth, iamapi.CodeUnauthenticated},
		{"AlgNone", func(tb testing.TB) string {
			return makeToken(tb, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", nil)
		}, xAuth, iamapi.CodeUnauthenticated},
		{"AlgConfusion/HS256WithRSAPublicKey", func(tb testing.TB) string {
			// Sign HS256 with the PEM text of the RSA public key as the HMAC secret.
			return makeToken(tb, jwt.SigningMethodHS256, []byte(pemPublic(tb, &rk.PublicKey)), "", nil)
		}, xAuth, iamapi.CodeUnauthenticated},
		{"WrongKey/HS256", func(tb testing.TB) string {
			return makeToken(tb, jwt.SigningMethodHS256, []byte("another-secret-of-at-least-32-bytes!!"), "", nil)
		}, xAuth, iamapi.CodeUnauthenticated},
		{"WrongKey/RS256", func(tb testing.TB) string { return makeToken(tb, jwt.SigningMethodRS256, otherRSA, "", nil) }, xAuth, iamapi.CodeUnauthenticated},
		{"WrongKey/ES256SameKid", func(tb testing.TB) string { return makeToken(tb, jwt.SigningMethodES256, otherEC, ecKID, nil) }, xAuth, iamapi.CodeUnauthenticated},
		{"UnknownKid", func(tb testing.TB) string { return makeToken(tb, jwt.SigningMethodES256, ek, "nope", nil) }, xAuth, iamapi.CodeUnauthenticated},
		{"ES384NotConfigured", func(tb testing.TB) string {
			k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
			return makeToken(tb, jwt.SigningMethodES384, k, "", nil)
		}, xAuth, iamapi.CodeUnauthenticated},
		{"TamperedPayload", func(tb testing.TB) string {
			parts := strings.Split(hsToken(tb), ".")
			parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"bob","iss":"` + issuer + `","aud":"` + audience + `","exp":9999999999}`))
			return strings.Join(parts, ".")
		}, xAuth, iamapi.CodeUnauthenticated},
		{"Garbage", func(tb testing.TB) string { return "not.a.token" }, bearerHdr, iamapi.CodeUnauthenticated},
		{"TooLong", func(tb testing.TB) string { return strings.Repeat("a", iamapi.MaxTokenBytes+1) }, xAuth, iamapi.CodeUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			r := post(body(oldPW, newPW))
			tok := tt.token(t)
			if tt.hdr == bearerHdr {
				r.Header.Set("Authorization", "Bearer "+tok)
			} else {
				r.Header.Set("X-Auth-Token", tok)
			}
			res := e.do(t, r)
			if res.code != tt.code {
				t.Fatalf("code = %q, want %q (%s)", res.code, tt.code, res.msg)
			}
			if changed := e.dir.password(user) == newPW; changed != (tt.code == "") {
				t.Errorf("password changed = %v", changed)
			}
		})
	}
}

func TestTokensCustomUserClaim(t *testing.T) {
	e := newEnv(t, func(o *iamapi.Options, _ *fakeDir) { o.Tokens.UserClaim = "preferred_username" })
	r := post(body(oldPW, newPW))
	r.Header.Set("X-Auth-Token", makeToken(t, jwt.SigningMethodHS256, []byte(hsSecret), "", jwt.MapClaims{"sub": user, "preferred_username": "bob"}))
	if res := e.do(t, r); res.status != http.StatusOK {
		t.Fatalf("code %q", res.code)
	}
	if e.dir.password("bob") != newPW {
		t.Fatal("the claim's user did not change")
	}
}

func TestTokensNotConfigured(t *testing.T) {
	e := newEnv(t, func(o *iamapi.Options, _ *fakeDir) { o.Tokens = iamapi.TokenConfig{} })
	if res := e.do(t, bearer(t, post(body(oldPW, newPW)))); res.code != iamapi.CodeUnauthenticated {
		t.Fatalf("code = %q, want %s", res.code, iamapi.CodeUnauthenticated)
	}
}
