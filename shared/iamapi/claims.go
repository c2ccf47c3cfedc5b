package iamapi

import (
	"context"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// tokenClaims is what a verified token proves about its holder.
type tokenClaims struct {
	user     string
	authTime time.Time // auth_time: when the person last signed in at the provider; zero when absent
	amr      []string  // amr: how they signed in
	acr      string    // acr: the assurance level the provider reports
}

// tokenChecker verifies a bearer token; the offline keys (tokenVerifier) and an
// OpenID Connect provider's published keys (remoteVerifier) both are one.
type tokenChecker interface {
	// verify returns the claims of a valid token. It answers APIG.0301 for a
	// token that is not valid and IAM.0504 when the provider cannot be reached.
	verify(ctx context.Context, token string) (tokenClaims, *apiError)
}

// claimRules are the checks on a token's claims shared by every kind of key.
type claimRules struct {
	userClaim       string // the claim naming the user
	authorizedParty string // required azp (or client_id, as Cognito's and Okta's access tokens name it) when set
}

func newClaimRules(cfg TokenConfig) claimRules {
	c := cfg.UserClaim
	if c == "" {
		c = "sub"
	}
	return claimRules{userClaim: c, authorizedParty: cfg.AuthorizedParty}
}

// check applies the rules to the claims of a token whose signature and times
// were already verified.
func (r claimRules) check(claims jwt.MapClaims) (tokenClaims, *apiError) {
	if r.authorizedParty != "" {
		azp, _ := claims["azp"].(string)
		if azp == "" {
			azp, _ = claims["client_id"].(string)
		}
		if azp != r.authorizedParty {
			return tokenClaims{}, authError("the token was issued to another client (azp)")
		}
	}
	user, _ := claims[r.userClaim].(string)
	if user == "" {
		return tokenClaims{}, authError("the token names no user in claim " + r.userClaim)
	}
	tc := tokenClaims{user: user}
	if at, ok := claims["auth_time"].(float64); ok && at > 0 {
		tc.authTime = time.Unix(int64(at), 0)
	}
	if amr, ok := claims["amr"].([]any); ok {
		for _, m := range amr {
			if s, ok := m.(string); ok {
				tc.amr = append(tc.amr, s)
			}
		}
	}
	tc.acr, _ = claims["acr"].(string)
	return tc, nil
}

// leewayOf returns the configured leeway, 30 s by default.
func leewayOf(cfg TokenConfig) time.Duration {
	if cfg.Leeway == 0 {
		return 30 * time.Second
	}
	return cfg.Leeway
}
