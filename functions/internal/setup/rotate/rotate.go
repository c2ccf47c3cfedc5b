// Package rotate builds the rotation function, rotate-password, from a setup.App:
// Secrets Manager's rotation steps, the Function Compute timer over KMS secrets, and
// either locally on the embedded secret backend. Only the binaries that rotate import it.
package rotate

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	fcevents "github.com/aliyun/fc-runtime-go-sdk/events"
	"github.com/aws/aws-lambda-go/events"

	"chpass/functions/internal/setup"
	"chpass/shared/embedded"
	"chpass/shared/gateway"
	"chpass/shared/password"
	"chpass/shared/platform"
	"chpass/shared/rotation"
)

// Build builds the rotation function. It accepts Secrets Manager's rotation event
// (the four steps, with the secretsmanager backend) and the Function Compute timer event (the
// slot-locked protocol over the timer's secrets, with the kms or embedded backend); -event and
// functions/local take either.
func Build(ctx context.Context, a *setup.App) (platform.Function, error) {
	backend := a.Config.Rotation.Backend
	if backend == "" {
		backend = map[string]string{gateway.Lambda: "secretsmanager", gateway.FC: "kms", gateway.Local: "embedded"}[platform.Detect()]
	}
	secrets, stages, err := rotationSecrets(ctx, a, backend)
	if err != nil {
		return platform.Function{}, err
	}
	r := &rotation.Rotator{
		Secrets: secrets, Stages: stages, Policy: a.Config.Policy,
		Logger: a.Logger, WrongPassword: func(err error) bool { return password.ErrorCode(err) == password.EUNAUTHORIZED },
		Account: func(ctx context.Context, name string) (rotation.Account, error) {
			d, err := a.Directory(ctx, name)
			if err != nil {
				return nil, err
			}
			acct, ok := d.(rotation.Account)
			if !ok {
				return nil, fmt.Errorf("directory %q cannot verify a password", name)
			}
			return acct, nil
		},
		Rotated: func(ctx context.Context, secret, version, directory, user string) {
			rotationEvent(ctx, a, secret, version, directory, user)
		},
	}
	rotate := platform.SecretsManagerRotation(func(ctx context.Context, e events.SecretsManagerSecretRotationEvent) error {
		switch backend {
		case "secretsmanager":
			return r.Step(ctx, e.SecretID, e.ClientRequestToken, e.Step)
		case "embedded":
			return rotateLocally(ctx, r, e)
		}
		return fmt.Errorf("a Secrets Manager rotation event needs rotation.backend secretsmanager (or embedded, locally), not %s", backend)
	})
	timer := platform.FCTimer(func(ctx context.Context, e fcevents.TimerEvent) error {
		return rotateOnTimer(ctx, a, r, e)
	})
	return platform.Function{Kinds: []platform.Kind{rotate, timer}}, nil
}

// rotateOnTimer rotates the secrets the payload names ({"secrets": [...]}; else rotation.secrets)
// for the slot of the trigger time.
func rotateOnTimer(ctx context.Context, a *setup.App, r *rotation.Rotator, e fcevents.TimerEvent) error {
	at, err := time.Parse(time.RFC3339, *e.TriggerTime)
	if err != nil {
		return fmt.Errorf("triggerTime is not an RFC 3339 time")
	}
	names := a.Config.Rotation.Secrets
	if e.Payload != nil && strings.TrimSpace(*e.Payload) != "" {
		var p struct {
			Secrets []string `json:"secrets"`
		}
		if err := json.Unmarshal([]byte(*e.Payload), &p); err != nil {
			return errors.New(`the timer's payload is not {"secrets": ["name", ...]}`)
		}
		if len(p.Secrets) > 0 {
			names = p.Secrets
		}
	}
	if len(names) == 0 {
		return errors.New("no secret to rotate: the payload and rotation.secrets name none")
	}
	var errs []error
	for _, name := range names {
		errs = append(errs, r.Rotate(ctx, name, rotation.SlotVersion(at)))
	}
	return errors.Join(errs...)
}

// rotateLocally runs a Secrets Manager rotation step on the embedded backend, seen with Secrets
// Manager's stage names, doing locally what the service does around the function: before
// createSecret it starts the rotation (the token's version, pending, no value), after a
// successful finishSecret it removes the pending stage.
func rotateLocally(ctx context.Context, r *rotation.Rotator, e events.SecretsManagerSecretRotationEvent) error {
	kmsView, ok := r.Secrets.(*embedded.Secrets)
	if !ok {
		return errors.New("the embedded backend is not open")
	}
	aws, err := kmsView.As(rotation.AWSStages)
	if err != nil {
		return err
	}
	local := *r
	local.Secrets, local.Stages = aws, rotation.AWSStages
	if e.Step == rotation.StepCreate {
		if err := aws.Start(ctx, e.SecretID, e.ClientRequestToken); err != nil {
			return err
		}
	}
	if err := local.Step(ctx, e.SecretID, e.ClientRequestToken, e.Step); err != nil {
		return err
	}
	if e.Step == rotation.StepFinish {
		if err := aws.MoveStage(ctx, e.SecretID, rotation.AWSStages.Pending, "", e.ClientRequestToken); err != nil && !errors.Is(err, rotation.ErrStageConflict) {
			return err
		}
	}
	return nil
}

// rotationSecrets returns the backend's secret writer and stages.
func rotationSecrets(ctx context.Context, a *setup.App, backend string) (rotation.Secrets, rotation.Stages, error) {
	if backend != "embedded" {
		secrets, ok := setup.CloudSecrets(backend)
		if !ok {
			return nil, rotation.Stages{}, fmt.Errorf("rotation.backend %s is not compiled into this binary", backend)
		}
		st := rotation.KMSStages
		if backend == "secretsmanager" {
			st = rotation.AWSStages
		}
		return secrets, st, nil
	}
	key, err := base64.StdEncoding.DecodeString(a.Config.Rotation.Key.Reveal())
	if err != nil || len(key) != 32 {
		return nil, rotation.Stages{}, errors.New("rotation.key: the embedded backend needs the base64 of 32 bytes")
	}
	store, err := a.Store(ctx)
	if err != nil {
		return nil, rotation.Stages{}, err
	}
	secrets, err := store.Secrets(key)
	if err != nil {
		return nil, rotation.Stages{}, err
	}
	for name, v := range a.Config.Rotation.Seed {
		if _, err := secrets.Describe(ctx, name); errors.Is(err, rotation.ErrSecretNotFound) {
			if err := secrets.Create(ctx, name, "seed", v.Reveal()); err != nil {
				return nil, rotation.Stages{}, fmt.Errorf("rotation.seed[%s]: %w", name, err)
			}
		}
	}
	return secrets, rotation.KMSStages, nil
}

// rotationEvent publishes the change event of a finished rotation, as the other
// functions publish theirs (events in the configuration; bounded, never failing
// the rotation): kind rotation, the account and its directory, the version as
// the task, proven by the platform's schedule.
func rotationEvent(ctx context.Context, a *setup.App, secret, version, directory, user string) {
	svc, err := a.WithEvents(password.NewService(a.Config.Policy, nil), directory)
	if err != nil {
		a.Logger.Error().Err(err).Str("event", "publish_failed").Str("secret", secret).Msg("change event not published")
		return
	}
	svc.Publish(password.WithOrigin(ctx, password.Origin{
		TaskID: version, Caller: "schedule:" + secret, Auth: "platform", Platform: platform.Detect(),
	}), password.KindRotation, user)
}
