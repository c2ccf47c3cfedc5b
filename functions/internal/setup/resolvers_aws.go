//go:build !noaws

package setup

import (
	"chpass/shared/config"
	"chpass/shared/secretsmanager"
)

func init() {
	cloudResolvers = append(cloudResolvers, func() config.Resolver { return secretsmanager.FromEnv() })
}
