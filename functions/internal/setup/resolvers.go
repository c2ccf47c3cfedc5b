package setup

import (
	"context"

	"chpass/shared/config"
)

// cloudResolvers builds the resolvers of the secret services compiled in: each
// cloud's file adds its own unless its build tag (noaws, noalibaba) leaves it
// out, so that a cloud's binary links only its own SDK.
var cloudResolvers []func() config.Resolver

// Resolvers returns the secret resolvers compiled into this binary, beyond
// ${ENV}, which config always serves: ${arn:aws:secretsmanager:…} unless built
// with -tags noaws, ${kms:…} unless built with -tags noalibaba. Each reads its
// credentials only when it resolves a reference, so a configuration that uses
// none needs no cloud credentials. Each fetches a secret once however many
// keys reference it, so call Resolvers once per process.
func Resolvers(ctx context.Context) []config.Resolver {
	rs := make([]config.Resolver, 0, len(cloudResolvers))
	for _, build := range cloudResolvers {
		rs = append(rs, build())
	}
	return rs
}
