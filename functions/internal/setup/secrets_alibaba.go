//go:build !noalibaba

package setup

import (
	"chpass/shared/kms"
	"chpass/shared/rotation"
)

func init() {
	cloudSecrets["kms"] = func() rotation.Secrets { return kms.StoreFromEnv() }
}
