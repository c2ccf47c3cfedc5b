package setup

import (
	"context"
	"errors"
	"strings"

	"chpass/shared/ldap"
	"chpass/shared/rotation"
	"chpass/shared/secretjson"
)

// cloudSecrets builds the secret writers of the clouds compiled in (see cloudResolvers).
var cloudSecrets = map[string]func() rotation.Secrets{}

// CloudSecrets returns the secret writer of backend ("secretsmanager" or "kms") when this
// binary has it compiled in (see Resolvers), with credentials from the environment.
func CloudSecrets(backend string) (rotation.Secrets, bool) {
	build, ok := cloudSecrets[backend]
	if !ok {
		return nil, false
	}
	return build(), true
}

// bindPasswords returns how to re-read a directory's bind password from the secret service its
// reference names (Secrets Manager or KMS, as compiled in): the current version, then the
// pending one, each through #key when the reference has one. nil when ref is no such secret.
func (a *App) bindPasswords(ref string) ldap.BindPasswords {
	secret, key, hasKey := strings.Cut(ref, "#")
	backend, stages := "", rotation.Stages{}
	switch {
	case strings.HasPrefix(secret, "arn:") && strings.Contains(secret, ":secretsmanager:"):
		backend, stages = "secretsmanager", rotation.AWSStages
	case strings.HasPrefix(secret, "kms:"): // kms.Prefix; the package is not linked into AWS builds
		backend, stages, secret = "kms", rotation.KMSStages, strings.TrimPrefix(secret, "kms:")
	default:
		return nil
	}
	store, ok := CloudSecrets(backend)
	if !ok {
		return nil
	}
	return func(ctx context.Context) ([]string, error) {
		var out []string
		for _, stage := range []string{stages.Current, stages.Pending} {
			v, err := store.Value(ctx, secret, "", stage)
			if errors.Is(err, rotation.ErrVersionNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if hasKey {
				if v, err = secretjson.Field(v, key); err != nil {
					return nil, err
				}
			}
			out = append(out, v)
		}
		return out, nil
	}
}
