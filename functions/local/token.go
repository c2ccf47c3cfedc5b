package main

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"chpass/shared/config"
)

// signDemoToken returns a one-hour HS256 token naming user, signed with the configured
// tokens.hs256_secret (t), for trying the functions locally (-demo-token).
func signDemoToken(t config.Tokens, user string) (string, error) {
	if t.HS256Secret.IsZero() {
		return "", errors.New("-demo-token: tokens.hs256_secret is not configured")
	}
	claim := t.UserClaim
	if claim == "" {
		claim = "sub"
	}
	now := time.Now()
	claims := jwt.MapClaims{claim: user, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if t.Issuer != "" {
		claims["iss"] = t.Issuer
	}
	if t.Audience != "" {
		claims["aud"] = t.Audience
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(t.HS256Secret.Reveal()))
}
