package setup_test

import (
	"errors"
	"time"

	. "chpass/functions/internal/setup"

	"github.com/golang-jwt/jwt/v5"
)

// demoToken returns a one-hour HS256 token naming user, signed with a's
// tokens.hs256_secret and carrying its issuer and audience, as local's
// -demo-token does.
func demoToken(a *App, user string) (string, error) {
	t := a.Config.Tokens
	if t.HS256Secret.IsZero() {
		return "", errors.New("tokens.hs256_secret is not configured")
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
