package main

import (
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"chpass/shared/config"
)

// TestSignDemoToken checks -demo-token's token: HS256 under the configured secret,
// the user in the configured claim, the issuer and audience, an expiry; and a clear
// error, without a secret, when none is configured.
func TestSignDemoToken(t *testing.T) {
	const secret = "demo-hs256-secret-0123456789abcdef"
	tokens := config.Tokens{UserClaim: "preferred_username", HS256Secret: config.NewSecret(secret),
		Issuer: "https://idp.example", Audience: "chpass"}
	tok, err := signDemoToken(tokens, "alice")
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return []byte(secret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer("https://idp.example"), jwt.WithAudience("chpass"),
		jwt.WithExpirationRequired()); err != nil {
		t.Fatalf("token does not verify: %v", err)
	}
	if claims["preferred_username"] != "alice" {
		t.Fatalf("claims = %v, want preferred_username alice", claims)
	}

	_, err = signDemoToken(config.Tokens{UserClaim: "sub"}, "alice")
	if err == nil || !strings.Contains(err.Error(), "tokens.hs256_secret is not configured") {
		t.Fatalf("err = %v, want tokens.hs256_secret is not configured", err)
	}
}
