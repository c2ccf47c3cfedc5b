// Package secretsmanager resolves ${arn:aws:secretsmanager:…} configuration
// references with AWS Secrets Manager's GetSecretValue.
package secretsmanager

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"chpass/shared/secretjson"
)

// DefaultTimeout bounds each GetSecretValue, retries included.
const DefaultTimeout = 4 * time.Second

// ErrNoCredentials reports that the environment holds no AWS credentials:
// AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY is unset.
var ErrNoCredentials = errors.New("no AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set")

// Options configures a Resolver. The zero value reads the process environment
// and waits DefaultTimeout per fetch.
type Options struct {
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// Timeout bounds each fetch; zero means DefaultTimeout.
	Timeout time.Duration
	// HTTPClient sends the requests; nil means the SDK's default.
	HTTPClient *http.Client
}

// Resolver serves ${ARN} and ${ARN#key} references to Secrets Manager secrets.
// It reads its credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN, as Lambda sets them) and endpoint only when it first
// resolves a reference, and fetches each secret once per process.
type Resolver struct {
	getenv     func(string) string
	timeout    time.Duration
	httpClient *http.Client

	mu      sync.Mutex // held across a fetch, so that each ARN is fetched once
	clients map[string]*sm.Client
	cache   map[string]string // ARN -> SecretString
}

// New returns a Resolver. It needs no credentials until it resolves a reference.
func New(opts Options) *Resolver {
	r := &Resolver{getenv: opts.Getenv, timeout: opts.Timeout, httpClient: opts.HTTPClient,
		clients: map[string]*sm.Client{}, cache: map[string]string{}}
	if r.getenv == nil {
		r.getenv = os.Getenv
	}
	if r.timeout <= 0 {
		r.timeout = DefaultTimeout
	}
	return r
}

// FromEnv returns a Resolver that reads the process environment.
func FromEnv() *Resolver { return New(Options{}) }

// Resolve implements config.Resolver. It handles references of the form
// arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME, optionally followed by
// #KEY to select one string field of a secret whose SecretString is a JSON
// object. It asks the ARN's region, where the secret lives (AWS_REGION only
// when the ARN names none), at AWS_ENDPOINT_URL_SECRETS_MANAGER or else
// AWS_ENDPOINT_URL when set. Errors name the ARN, and the AWS error code when
// there is one, but never a secret's value.
func (r *Resolver) Resolve(ctx context.Context, ref string) (string, bool, error) {
	arn, key, hasKey := strings.Cut(ref, "#")
	parts := strings.SplitN(arn, ":", 7)
	if len(parts) < 3 || parts[0] != "arn" || parts[2] != "secretsmanager" {
		return "", false, nil
	}
	if len(parts) != 7 || parts[5] != "secret" || parts[6] == "" || parts[4] == "" {
		return "", true, fmt.Errorf("secretsmanager: %s is not a secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)", arn)
	}
	if hasKey && key == "" {
		return "", true, fmt.Errorf("secretsmanager: %s: empty JSON key after #", arn)
	}
	s, err := r.secret(ctx, arn, parts[3])
	if err != nil {
		return "", true, err
	}
	if !hasKey {
		return s, true, nil
	}
	v, err := secretjson.Field(s, key)
	if err != nil {
		return "", true, fmt.Errorf("secretsmanager: %s: %w", arn, err)
	}
	return v, true, nil
}

// secret returns the SecretString of arn, from the cache or from the service.
func (r *Resolver) secret(ctx context.Context, arn, region string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.cache[arn]; ok {
		return s, nil
	}
	s, err := r.fetch(ctx, arn, region)
	if err != nil {
		return "", err
	}
	r.cache[arn] = s
	return s, nil
}

func (r *Resolver) fetch(ctx context.Context, arn, region string) (string, error) {
	if r.getenv("AWS_ACCESS_KEY_ID") == "" || r.getenv("AWS_SECRET_ACCESS_KEY") == "" {
		return "", &Error{ARN: arn, Err: ErrNoCredentials}
	}
	// The ARN's region is where the secret lives; AWS_REGION only fills in for
	// an ARN without one.
	if region == "" {
		region = r.getenv("AWS_REGION")
	}
	if region == "" {
		return "", &Error{ARN: arn, Err: errors.New("no region: neither the ARN nor AWS_REGION names one")}
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	out, err := r.client(region).GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return "", r.describe(ctx, arn, err)
	}
	switch {
	case out.SecretString != nil:
		return *out.SecretString, nil
	case out.SecretBinary != nil:
		return "", &Error{ARN: arn, Err: errors.New("the secret holds SecretBinary only; store the value as SecretString")}
	default:
		return "", &Error{ARN: arn, Err: errors.New("the response holds no SecretString")}
	}
}

// describe turns a GetSecretValue error into an *Error that holds no response body.
func (r *Resolver) describe(ctx context.Context, arn string, err error) error {
	var api smithy.APIError
	var deser *smithy.DeserializationError
	switch {
	case errors.As(err, &api):
		msg := safeMessage(api.ErrorMessage())
		return &Error{ARN: arn, Code: api.ErrorCode(), Err: fmt.Errorf("%s%w", msg, noText{err})}
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &Error{ARN: arn, Err: fmt.Errorf("no answer within %v: %w", r.timeout, ctx.Err())}
	case ctx.Err() != nil:
		return &Error{ARN: arn, Err: ctx.Err()}
	case errors.As(err, &deser):
		// A decoding error may quote the body, which holds the secret.
		return &Error{ARN: arn, Err: fmt.Errorf("cannot decode the response%w", noText{err})}
	default:
		return &Error{ARN: arn, Err: err}
	}
}

// safeMessage is the first line of an AWS error message, at most 300 bytes: a
// signature mismatch goes on to quote the canonical request, whose signed headers
// hold the session token, and the string to sign.
func safeMessage(msg string) string {
	msg, _, _ = strings.Cut(msg, "\n")
	if i := strings.Index(msg, "The Canonical String"); i >= 0 {
		msg = msg[:i]
	}
	msg = strings.TrimSpace(msg)
	if len(msg) > 300 {
		msg = strings.ToValidUTF8(msg[:300], "") + "…"
	}
	if msg == "" {
		return "(no message)"
	}
	return msg
}

// client returns the Secrets Manager client of region, built on first use.
func (r *Resolver) client(region string) *sm.Client {
	if c, ok := r.clients[region]; ok {
		return c
	}
	getenv := r.getenv
	opts := sm.Options{
		Region: region,
		Credentials: aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
			if id == "" || secret == "" {
				return aws.Credentials{}, ErrNoCredentials
			}
			return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret,
				SessionToken: getenv("AWS_SESSION_TOKEN"), Source: "EnvironmentVariables"}, nil
		})),
	}
	if ep := r.endpoint(); ep != "" {
		opts.BaseEndpoint = aws.String(ep)
	}
	if r.httpClient != nil {
		opts.HTTPClient = r.httpClient
	}
	c := sm.New(opts)
	r.clients[region] = c
	return c
}

// endpoint returns the SDK-standard endpoint override, if any.
func (r *Resolver) endpoint() string {
	if strings.EqualFold(r.getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true") {
		return ""
	}
	if ep := r.getenv("AWS_ENDPOINT_URL_SECRETS_MANAGER"); ep != "" {
		return ep
	}
	return r.getenv("AWS_ENDPOINT_URL")
}

// Error is a failed fetch of a secret. Its text names the ARN and the AWS error
// code, never the secret's value.
type Error struct {
	Op   string // the operation; empty means GetSecretValue
	ARN  string
	Code string // the AWS error code, such as ResourceNotFoundException; empty when AWS gave none
	Err  error
}

// Error implements error.
func (e *Error) Error() string {
	op := e.Op
	if op == "" {
		op = "GetSecretValue"
	}
	if e.Code != "" {
		return fmt.Sprintf("secretsmanager: %s %s: %s: %v", op, e.ARN, e.Code, e.Err)
	}
	return fmt.Sprintf("secretsmanager: %s %s: %v", op, e.ARN, e.Err)
}

// Unwrap returns the cause, for errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Err }

// noText wraps an error so that it stays reachable by errors.As but adds nothing
// to the text of the error that wraps it.
type noText struct{ err error }

func (noText) Error() string   { return "" }
func (n noText) Unwrap() error { return n.err }
