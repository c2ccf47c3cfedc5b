package iamapi_test

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"chpass/shared/iamapi"
	"chpass/shared/iamapi/oidctest"
	"chpass/shared/password"
)

// clock is a settable clock for the handler, starting at the real time (the
// provider signs tokens at the real time).
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const refetch = time.Minute

// oidcEnv is a handler whose only token setting is the provider's issuer (and
// the claims to check).
func oidcEnv(tb testing.TB, p *oidctest.Provider, c *clock, mods ...func(*iamapi.TokenConfig)) *env {
	tb.Helper()
	return newEnv(tb, func(o *iamapi.Options, _ *fakeDir) {
		o.Tokens = iamapi.TokenConfig{
			Issuer: p.Issuer(), Audience: p.ClientID(), UserClaim: "preferred_username",
			RefetchInterval: refetch,
		}
		for _, m := range mods {
			m(&o.Tokens)
		}
		o.Now = c.Now
	})
}

func withToken(tok string) *http.Request {
	r := post(body(oldPW, newPW))
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

var alice = oidctest.User{Subject: "0b5e-alice", PreferredUsername: user}

// TestOIDCDiscovery: tokens.issuer alone verifies the provider's tokens, found
// by discovery, and the change goes through for the user the claim names.
func TestOIDCDiscovery(t *testing.T) {
	p := oidctest.Start(t)
	c := &clock{t: time.Now()}
	e := oidcEnv(t, p, c)
	res := e.do(t, withToken(p.IDToken(t, alice)))
	if res.status != http.StatusOK {
		t.Fatalf("status %d %s %s, want 200", res.status, res.code, res.msg)
	}
	if e.dir.password(user) != newPW {
		t.Fatal("the password did not change")
	}
	if n := p.JWKSFetches(); n != 1 {
		t.Errorf("key set fetched %d times, want 1", n)
	}
	// A second token with the same key: verified from the cache.
	e.do(t, withToken(p.IDToken(t, alice)))
	if n := p.JWKSFetches(); n != 1 {
		t.Errorf("key set fetched %d times after a second token, want 1 (cached)", n)
	}
}

// TestOIDCKeyRotation rotates the provider's key while the handler runs: a
// token with the new kid makes it refetch, but at most once per interval, so a
// flood of made-up kids fetches nothing, and a known kid with a bad signature
// fetches nothing either.
func TestOIDCKeyRotation(t *testing.T) {
	p := oidctest.Start(t)
	c := &clock{t: time.Now()}
	e := oidcEnv(t, p, c)
	old := p.IDToken(t, alice)
	if res := e.do(t, withToken(old)); res.status != http.StatusOK {
		t.Fatalf("first token: %d %s %s", res.status, res.code, res.msg)
	}
	authenticated := func(tok string) bool {
		res := e.do(t, withToken(tok))
		return res.code != iamapi.CodeUnauthenticated && res.code != iamapi.CodeProviderUnavailable
	}

	stranger, _ := rsa.GenerateKey(rand.Reader, 2048)
	for i := range 50 {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
			"iss": p.Issuer(), "aud": p.ClientID(), "preferred_username": user,
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
		})
		tok.Header["kid"] = "made-up-" + strings.Repeat("x", i)
		s, _ := tok.SignedString(stranger)
		if authenticated(s) {
			t.Fatal("a token signed by an unknown key was accepted")
		}
	}
	if n := p.JWKSFetches(); n != 1 {
		t.Fatalf("50 made-up kids fetched the key set %d times in all, want 1", n)
	}

	p.Rotate(t)
	fresh := p.IDToken(t, alice)
	if authenticated(fresh) {
		t.Fatal("a new kid was accepted within the refetch interval without a fetch")
	}
	c.Add(refetch + time.Second)
	if !authenticated(fresh) {
		t.Fatal("a token signed by the rotated key was refused after the interval")
	}
	if n := p.JWKSFetches(); n != 2 {
		t.Errorf("key set fetched %d times after rotation, want 2", n)
	}
	if authenticated(old) {
		t.Fatal("a token signed by the retired key was accepted")
	}
	// The retired key's kid is unknown now, and within the interval: no fetch.
	if n := p.JWKSFetches(); n != 2 {
		t.Errorf("a retired kid fetched the key set (%d fetches), want 2", n)
	}
	// A known kid with a forged signature: refused, no fetch.
	parts := strings.Split(fresh, ".")
	forged := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	c.Add(refetch + time.Second)
	if authenticated(forged) {
		t.Fatal("a forged signature was accepted")
	}
	if n := p.JWKSFetches(); n != 2 {
		t.Errorf("a forged signature under a known kid fetched the key set (%d fetches), want 2", n)
	}
}

// TestOIDCProviderUnavailable: a provider that cannot be reached answers 503
// IAM.0504, never a silent acceptance, and is asked again only after the
// interval; keys already fetched keep verifying while it is down.
func TestOIDCProviderUnavailable(t *testing.T) {
	t.Run("BeforeDiscovery", func(t *testing.T) {
		p := oidctest.Start(t)
		c := &clock{t: time.Now()}
		e := oidcEnv(t, p, c)
		tok := p.IDToken(t, alice)
		p.Stop()
		for range 3 {
			res := e.do(t, withToken(tok))
			if res.status != http.StatusServiceUnavailable || res.code != iamapi.CodeProviderUnavailable {
				t.Fatalf("got %d %s, want 503 %s", res.status, res.code, iamapi.CodeProviderUnavailable)
			}
		}
		if e.dir.password(user) != oldPW {
			t.Fatal("the password changed")
		}
		if !strings.Contains(e.log.String(), "discovery failed") {
			t.Error("the second attempt within the interval was not answered from the failed discovery")
		}
	})
	t.Run("KeysCachedThenDown", func(t *testing.T) {
		p := oidctest.Start(t)
		c := &clock{t: time.Now()}
		e := oidcEnv(t, p, c)
		tok := p.IDToken(t, alice)
		tok2 := p.IDToken(t, alice)
		if res := e.do(t, withToken(tok)); res.status != http.StatusOK {
			t.Fatalf("first token: %d %s", res.status, res.code)
		}
		p.Rotate(t) // the next kid is unknown
		fresh := p.IDToken(t, alice)
		p.Stop()
		if res := e.do(t, withToken(tok2)); res.code == iamapi.CodeUnauthenticated || res.code == iamapi.CodeProviderUnavailable {
			t.Fatalf("a cached key stopped verifying when the provider went down: %s", res.code)
		}
		c.Add(refetch + time.Second)
		if res := e.do(t, withToken(fresh)); res.code != iamapi.CodeProviderUnavailable {
			t.Fatalf("an unknown kid with the provider down: %d %s, want %s", res.status, res.code, iamapi.CodeProviderUnavailable)
		}
	})
}

// TestOIDCClaims checks aud, azp, the user claim and the times with the
// configured leeway (not go-oidc's fixed ones).
func TestOIDCClaims(t *testing.T) {
	p := oidctest.Start(t)
	now := time.Now()
	base := func(mod func(jwt.MapClaims)) string {
		c := jwt.MapClaims{"iss": p.Issuer(), "aud": p.ClientID(), "preferred_username": user, "azp": "portal",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if mod != nil {
			mod(c)
		}
		return p.SignedBy(t, c)
	}
	tests := []struct {
		name string
		cfg  func(*iamapi.TokenConfig)
		tok  string
		ok   bool
	}{
		{name: "OK", tok: base(nil), ok: true},
		{name: "WrongAudience", tok: base(func(c jwt.MapClaims) { c["aud"] = "someone-else" })},
		{name: "WrongIssuer", tok: base(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })},
		{name: "AzpMatches", cfg: func(tc *iamapi.TokenConfig) { tc.AuthorizedParty = "portal" }, tok: base(nil), ok: true},
		{name: "AzpDiffers", cfg: func(tc *iamapi.TokenConfig) { tc.AuthorizedParty = "portal" },
			tok: base(func(c jwt.MapClaims) { c["azp"] = "other-app" })},
		{name: "CognitoClientID", cfg: func(tc *iamapi.TokenConfig) { tc.AuthorizedParty = "portal"; tc.Audience = "" },
			tok: base(func(c jwt.MapClaims) { delete(c, "azp"); delete(c, "aud"); c["client_id"] = "portal" }), ok: true},
		{name: "NoUserClaim", tok: base(func(c jwt.MapClaims) { delete(c, "preferred_username") })},
		{name: "ExpiredWithinLeeway", tok: base(func(c jwt.MapClaims) { c["exp"] = now.Add(-20 * time.Second).Unix() }), ok: true},
		{name: "ExpiredBeyondLeeway", tok: base(func(c jwt.MapClaims) { c["exp"] = now.Add(-40 * time.Second).Unix() })},
		{name: "ExpiredBeyondLongerLeeway", cfg: func(tc *iamapi.TokenConfig) { tc.Leeway = time.Minute },
			tok: base(func(c jwt.MapClaims) { c["exp"] = now.Add(-40 * time.Second).Unix() }), ok: true},
		{name: "NoExp", tok: base(func(c jwt.MapClaims) { delete(c, "exp") })},
		// go-oidc alone allows 5 minutes of nbf skew; the configured 30 s applies.
		{name: "NotBeforeBeyondLeeway", tok: base(func(c jwt.MapClaims) { c["nbf"] = now.Add(2 * time.Minute).Unix() })},
		{name: "IssuedInTheFuture", tok: base(func(c jwt.MapClaims) { c["iat"] = now.Add(2 * time.Minute).Unix() })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t: now}
			var mods []func(*iamapi.TokenConfig)
			if tt.cfg != nil {
				mods = append(mods, tt.cfg)
			}
			e := oidcEnv(t, p, c, mods...)
			res := e.do(t, withToken(tt.tok))
			if ok := res.status == http.StatusOK; ok != tt.ok {
				t.Fatalf("accepted = %v (%d %s %s), want %v", ok, res.status, res.code, res.msg, tt.ok)
			}
			if !tt.ok && res.code != iamapi.CodeUnauthenticated {
				t.Fatalf("code %s, want %s", res.code, iamapi.CodeUnauthenticated)
			}
		})
	}
	t.Run("HS256WithTheProvidersKid", func(t *testing.T) {
		// An HMAC token can never be verified with a published key.
		e := oidcEnv(t, p, &clock{t: now})
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": p.Issuer(), "aud": p.ClientID(),
			"preferred_username": user, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
		s, _ := tok.SignedString([]byte(hsSecret))
		if res := e.do(t, withToken(s)); res.code != iamapi.CodeUnauthenticated {
			t.Fatalf("an HS256 token: %d %s", res.status, res.code)
		}
	})
}

// TestOIDCIssuerMustBeHTTPS refuses a plain-http issuer off loopback.
func TestOIDCIssuerMustBeHTTPS(t *testing.T) {
	for _, iss := range []string{"http://idp.example.com", "ftp://idp.example.com", "idp.example.com"} {
		t.Run(iss, func(t *testing.T) {
			_, err := iamapi.New(iamapi.Options{Service: newEnvService(t), Tokens: iamapi.TokenConfig{Issuer: iss}})
			if err == nil || !strings.Contains(err.Error(), "Tokens.Issuer") {
				t.Fatalf("New = %v, want an error naming Tokens.Issuer", err)
			}
		})
	}
}

func newEnvService(tb testing.TB) *password.Service {
	tb.Helper()
	return password.NewService(password.DefaultPolicy(), newFakeDir())
}
