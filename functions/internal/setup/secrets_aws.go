//go:build !noaws

package setup

import (
	"chpass/shared/rotation"
	"chpass/shared/secretsmanager"
)

func init() {
	cloudSecrets["secretsmanager"] = func() rotation.Secrets { return secretsmanager.StoreFromEnv() }
}
