package platform

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/events"

	"chpass/shared/gateway"
)

// kindRotation names the event Secrets Manager sends a rotation function.
const kindRotation = "Secrets Manager rotation"

func init() { registerDetector(Detector{Name: kindRotation, Match: isRotation}) }

// isRotation reports whether data is a Secrets Manager rotation event:
// {"Step", "SecretId", "ClientRequestToken", "RotationToken"}.
func isRotation(data []byte) bool { return hasFields(data, "Step", "SecretId", "ClientRequestToken") }

// SecretsManagerRotation is the kind of a function that Secrets Manager calls to rotate a secret,
// once per step (https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_lambda-functions.html).
// fn runs with the invocation's context, which carries gateway.Info (the platform and its request
// id, never an Authorizer); its error is the invocation's failure, which Secrets Manager reports
// as the rotation's. The response is null.
func SecretsManagerRotation(fn func(ctx context.Context, e events.SecretsManagerSecretRotationEvent) error) Kind {
	return Kind{
		Name: kindRotation, On: []string{gateway.Lambda}, Match: isRotation,
		Handle: func(ctx context.Context, on string, data []byte) (any, error) {
			var e events.SecretsManagerSecretRotationEvent
			if err := decodeEvent(data, &e); err != nil {
				return nil, fmt.Errorf("malformed %s event: %w", kindRotation, err)
			}
			if e.Step == "" || e.SecretID == "" || e.ClientRequestToken == "" {
				return nil, errors.New("malformed " + kindRotation + " event: Step, SecretId and ClientRequestToken are required")
			}
			return nil, fn(gateway.With(ctx, invocationInfo(ctx, on)), e)
		},
	}
}
