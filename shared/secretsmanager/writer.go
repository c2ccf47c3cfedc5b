package secretsmanager

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"chpass/shared/rotation"
)

// Store is the write half of Secrets Manager that rotation needs: DescribeSecret, GetSecretValue
// of a version or stage, PutSecretValue and UpdateSecretVersionStage. It implements
// rotation.Secrets for secrets named by their ARN, with the Resolver's credentials, endpoint and
// timeout (per call).
type Store struct{ r *Resolver }

var _ rotation.Secrets = (*Store)(nil)

// NewStore returns a Store configured as New configures a Resolver.
func NewStore(opts Options) *Store { return &Store{r: New(opts)} }

// StoreFromEnv returns a Store that reads the process environment.
func StoreFromEnv() *Store { return NewStore(Options{}) }

// call runs fn with the client of arn's region, turning its error into an *Error that wraps the
// rotation error the AWS code means.
func (s *Store) call(ctx context.Context, op, arn string, fn func(ctx context.Context, c *sm.Client) error) error {
	if s.r.getenv("AWS_ACCESS_KEY_ID") == "" || s.r.getenv("AWS_SECRET_ACCESS_KEY") == "" {
		return &Error{Op: op, ARN: arn, Err: ErrNoCredentials}
	}
	region := ""
	if parts := strings.SplitN(arn, ":", 7); len(parts) == 7 && parts[0] == "arn" {
		region = parts[3]
	}
	if region == "" {
		region = s.r.getenv("AWS_REGION")
	}
	if region == "" {
		return &Error{Op: op, ARN: arn, Err: errors.New("no region: neither the ARN nor AWS_REGION names one")}
	}
	s.r.mu.Lock()
	c := s.r.client(region)
	s.r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, s.r.timeout)
	defer cancel()
	err := fn(ctx, c)
	if err == nil {
		return nil
	}
	e, ok := s.r.describe(ctx, arn, err).(*Error)
	if !ok {
		return err
	}
	e.Op = op
	var api smithy.APIError
	if errors.As(err, &api) {
		var kind error
		switch api.ErrorCode() {
		case "ResourceNotFoundException":
			kind = rotation.ErrVersionNotFound
			if op == "DescribeSecret" {
				kind = rotation.ErrSecretNotFound
			}
		case "ResourceExistsException":
			kind = rotation.ErrVersionExists
		case "InvalidParameterException":
			if op == "UpdateSecretVersionStage" {
				kind = rotation.ErrStageConflict
			}
		case "ThrottlingException", "TooManyRequestsException":
			kind = rotation.ErrThrottled
		}
		if kind != nil {
			e.Err = fmt.Errorf("%w%w", e.Err, noText{kind})
		}
	}
	return e
}

// Describe implements rotation.Secrets with DescribeSecret.
func (s *Store) Describe(ctx context.Context, arn string) (rotation.Description, error) {
	var d rotation.Description
	err := s.call(ctx, "DescribeSecret", arn, func(ctx context.Context, c *sm.Client) error {
		out, err := c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String(arn)})
		if err != nil {
			return err
		}
		d.RotationEnabled = aws.ToBool(out.RotationEnabled)
		for id, stages := range out.VersionIdsToStages {
			d.Versions = append(d.Versions, rotation.Version{ID: id, Stages: stages})
		}
		return nil
	})
	return d, err
}

// Value implements rotation.Secrets with GetSecretValue.
func (s *Store) Value(ctx context.Context, arn, id, stage string) (string, error) {
	var v string
	err := s.call(ctx, "GetSecretValue", arn, func(ctx context.Context, c *sm.Client) error {
		in := &sm.GetSecretValueInput{SecretId: aws.String(arn)}
		if id != "" {
			in.VersionId = aws.String(id)
		}
		if stage != "" {
			in.VersionStage = aws.String(stage)
		}
		out, err := c.GetSecretValue(ctx, in)
		if err != nil {
			return err
		}
		if out.SecretString == nil {
			return errors.New("the version holds no SecretString")
		}
		v = *out.SecretString
		return nil
	})
	return v, err
}

// Put implements rotation.Secrets with PutSecretValue, the version id as ClientRequestToken.
func (s *Store) Put(ctx context.Context, arn, id, value string, stages []string) error {
	return s.call(ctx, "PutSecretValue", arn, func(ctx context.Context, c *sm.Client) error {
		_, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String(arn),
			ClientRequestToken: aws.String(id), SecretString: aws.String(value), VersionStages: stages})
		return err
	})
}

// MoveStage implements rotation.Secrets with UpdateSecretVersionStage.
func (s *Store) MoveStage(ctx context.Context, arn, stage, to, from string) error {
	return s.call(ctx, "UpdateSecretVersionStage", arn, func(ctx context.Context, c *sm.Client) error {
		in := &sm.UpdateSecretVersionStageInput{SecretId: aws.String(arn), VersionStage: aws.String(stage)}
		if to != "" {
			in.MoveToVersionId = aws.String(to)
		}
		if from != "" {
			in.RemoveFromVersionId = aws.String(from)
		}
		_, err := c.UpdateSecretVersionStage(ctx, in)
		return err
	})
}
