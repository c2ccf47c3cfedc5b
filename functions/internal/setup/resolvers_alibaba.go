//go:build !noalibaba

package setup

import (
	"chpass/shared/config"
	"chpass/shared/kms"
)

func init() {
	cloudResolvers = append(cloudResolvers, func() config.Resolver { return kms.FromEnv() })
}
