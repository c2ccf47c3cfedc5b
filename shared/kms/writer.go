package kms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/responses"
	alikms "github.com/aliyun/alibaba-cloud-sdk-go/services/kms"

	"chpass/shared/rotation"
)

// Store is the write half of KMS generic secrets that rotation needs: ListSecretVersionIds,
// GetSecretValue of a version or stage, PutSecretValue and UpdateSecretVersionStage. It
// implements rotation.Secrets with the Resolver's credentials, region, endpoint and timeout.
type Store struct{ r *Resolver }

var _ rotation.Secrets = (*Store)(nil)

// NewStore returns a Store configured as New configures a Resolver.
func NewStore(opts Options) *Store { return &Store{r: New(opts)} }

// StoreFromEnv returns a Store that reads the process environment.
func StoreFromEnv() *Store { return NewStore(Options{}) }

// do sends req as the Resolver sends GetSecretValue, and turns a failure into an *Error that
// wraps the rotation error KMS's code means.
func (s *Store) do(ctx context.Context, op, name string, req requests.AcsRequest, resp responses.AcsResponse) error {
	r := s.r
	if err := ctx.Err(); err != nil {
		return &Error{Op: op, Name: name, Err: err}
	}
	if sdkDebug(r.getenv("DEBUG")) {
		return &Error{Op: op, Name: name, Err: errors.New("DEBUG names sdk, which makes the Alibaba Cloud SDK print secrets; unset it")}
	}
	r.mu.Lock() // the SDK client is not safe for concurrent use
	defer r.mu.Unlock()
	if r.client == nil {
		c, err := r.newClient()
		if err != nil {
			return &Error{Op: op, Name: name, Err: err}
		}
		r.client = c
	}
	req.SetScheme(requests.HTTPS)
	if ep := r.getenv("CHPASS_KMS_ENDPOINT"); ep != "" {
		scheme, host, err := splitEndpoint(ep)
		if err != nil {
			return &Error{Op: op, Name: name, Err: err}
		}
		req.SetScheme(scheme)
		req.SetDomain(host)
	}
	timeout := r.timeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	req.SetReadTimeout(timeout)
	req.SetConnectTimeout(timeout)
	err := r.client.DoAction(req, resp)
	if err == nil {
		return nil
	}
	e, ok := describe(name, timeout, err).(*Error)
	if !ok {
		return err
	}
	e.Op = op
	var se *sdkerrors.ServerError
	if errors.As(err, &se) {
		var kind error
		switch se.ErrorCode() {
		case "Forbidden.ResourceNotFound":
			kind = rotation.ErrVersionNotFound
			if op == "ListSecretVersionIds" {
				kind = rotation.ErrSecretNotFound
			}
		case "Rejected.ResourceExist":
			kind = rotation.ErrVersionExists
		case "Rejected.ValidationFailed":
			kind = rotation.ErrStageConflict
		case "Throttling", "Throttling.User", "Throttling.Api":
			kind = rotation.ErrThrottled
		}
		if kind != nil {
			e.Err = fmt.Errorf("%w%w", e.Err, noText{kind})
		}
	}
	return e
}

// Describe implements rotation.Secrets with ListSecretVersionIds.
func (s *Store) Describe(ctx context.Context, name string) (rotation.Description, error) {
	req := alikms.CreateListSecretVersionIdsRequest()
	req.SecretName = name
	req.PageSize = requests.NewInteger(100)
	resp := alikms.CreateListSecretVersionIdsResponse()
	if err := s.do(ctx, "ListSecretVersionIds", name, req, resp); err != nil {
		return rotation.Description{}, err
	}
	d := rotation.Description{RotationEnabled: true}
	for _, v := range resp.VersionIds.VersionId {
		d.Versions = append(d.Versions, rotation.Version{ID: v.VersionId, Stages: v.VersionStages.VersionStage})
	}
	return d, nil
}

// Value implements rotation.Secrets with GetSecretValue.
func (s *Store) Value(ctx context.Context, name, id, stage string) (string, error) {
	req := alikms.CreateGetSecretValueRequest()
	req.SecretName, req.VersionId, req.VersionStage = name, id, stage
	resp := alikms.CreateGetSecretValueResponse()
	if err := s.do(ctx, "GetSecretValue", name, req, resp); err != nil {
		return "", err
	}
	return resp.SecretData, nil
}

// Put implements rotation.Secrets with PutSecretValue.
func (s *Store) Put(ctx context.Context, name, id, value string, stages []string) error {
	req := alikms.CreatePutSecretValueRequest()
	req.SecretName, req.VersionId, req.SecretData, req.SecretDataType = name, id, value, "text"
	if len(stages) > 0 {
		b, _ := json.Marshal(stages)
		req.VersionStages = string(b)
	}
	return s.do(ctx, "PutSecretValue", name, req, alikms.CreatePutSecretValueResponse())
}

// MoveStage implements rotation.Secrets with UpdateSecretVersionStage.
func (s *Store) MoveStage(ctx context.Context, name, stage, to, from string) error {
	req := alikms.CreateUpdateSecretVersionStageRequest()
	req.SecretName, req.VersionStage, req.MoveToVersion, req.RemoveFromVersion = name, stage, to, from
	return s.do(ctx, "UpdateSecretVersionStage", name, req, alikms.CreateUpdateSecretVersionStageResponse())
}
