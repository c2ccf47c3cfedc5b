// Package iam builds the self-service function, caller-password, from a setup.App:
// the IAM v5 surface (shared/iamapi) over the configured directory. Only the
// binaries that serve that surface import it.
package iam

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"chpass/functions/internal/setup"
	"chpass/shared/config"
	"chpass/shared/guard"
	"chpass/shared/iamapi"
	"chpass/shared/password"
)

// CallerPassword builds the self-service function: POST /v5/caller-password and
// GET /v5/password-policy.
func CallerPassword(ctx context.Context, a *setup.App) (http.Handler, error) {
	c := a.Config
	dir, err := a.Directory(ctx, c.SelfService.Directory)
	if err != nil {
		return nil, err
	}
	keys := make([]iamapi.AccessKey, 0, len(c.AccessKeys))
	for _, k := range c.AccessKeys {
		if k.User != "" {
			keys = append(keys, iamapi.AccessKey{ID: k.ID, Secret: k.Secret.Reveal(), User: k.User})
		}
	}
	tokens, err := tokenConfig(c.Tokens)
	if err != nil {
		return nil, err
	}
	shared, err := a.Shared(ctx)
	if err != nil {
		return nil, err
	}
	if shared != nil && c.Redis.UserLockout {
		dir = password.WithLockout(dir, shared.Users(guard.Limits{Failures: c.Store.MaxFailures, Lock: c.Store.Lockout}))
	}
	svc, err := a.WithEvents(password.NewService(c.Policy, dir), c.SelfService.Directory)
	if err != nil {
		return nil, err
	}
	opts := iamapi.Options{
		Service:     svc,
		AccessKeys:  keys,
		Tokens:      tokens,
		Gateway:     iamapi.GatewayConfig{Trust: c.Gateway.Trust, UserClaim: c.Gateway.UserClaim},
		CORS:        iamapi.CORSConfig{AllowedOrigins: c.CORS.AllowedOrigins, AllowCredentials: c.CORS.AllowCredentials, MaxAge: c.CORS.MaxAge},
		Page:        pageConfig(c),
		IdPReset:    idpReset(c.Forgotten.IdP),
		OldPassword: oldPassword(c),
		Logger:      a.Logger,
		Now:         a.Now,
	}
	if shared != nil {
		opts.Guard = shared
	}
	return iamapi.New(opts)
}

func tokenConfig(t config.Tokens) (iamapi.TokenConfig, error) {
	tc := iamapi.TokenConfig{
		Issuer:          t.Issuer,
		Audience:        t.Audience,
		AuthorizedParty: t.AuthorizedParty,
		UserClaim:       t.UserClaim,
		HS256Secret:     t.HS256Secret.Reveal(),
		Leeway:          t.Leeway,
		FetchTimeout:    t.FetchTimeout,
		RefetchInterval: t.RefetchInterval,
	}
	for _, f := range t.PublicKeyFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return tc, fmt.Errorf("tokens.public_key_files: %w", err)
		}
		tc.PublicKeyPEMs = append(tc.PublicKeyPEMs, string(b))
	}
	if t.JWKSFile != "" {
		b, err := os.ReadFile(t.JWKSFile)
		if err != nil {
			return tc, fmt.Errorf("tokens.jwks_file: %w", err)
		}
		tc.JWKS = b
	}
	return tc, nil
}

func pageConfig(c *config.Config) iamapi.PageConfig {
	p := c.Page
	iss := p.Issuer
	if iss == "" {
		iss = c.Tokens.Issuer
	}
	return iamapi.PageConfig{Path: p.Path, Issuer: iss, ClientID: p.ClientID, Scope: p.Scope, Token: p.Token, ConnectOrigins: p.ConnectOrigins}
}

func idpReset(f *config.ForgottenIdP) iamapi.IdPResetConfig {
	if f == nil {
		return iamapi.IdPResetConfig{}
	}
	return iamapi.IdPResetConfig{MaxAge: f.MaxAge, AMR: f.AMR, ACR: f.ACR, PerUserPerHour: f.PerUserPerHour}
}

func oldPassword(c *config.Config) iamapi.OldPasswordConfig {
	f := c.Forgotten.OldPassword
	if f == nil {
		return iamapi.OldPasswordConfig{}
	}
	return iamapi.OldPasswordConfig{Enabled: true, PerUserPerHour: f.PerUserPerHour, PerSourcePerHour: f.PerSourcePerHour,
		DirectoryLocksOut: f.DirectoryLocksOut || (c.SelfService.Directory == config.Embedded && c.Store.MaxFailures > 0)}
}
