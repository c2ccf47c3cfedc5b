// Package eventbridge publishes password change events to an Amazon EventBridge
// bus with PutEvents (aws-sdk-go-v2), so that rules route them to SNS, email or
// a SIEM.
//
// Each event is one entry: Source "chpass", DetailType "Password Changed", Detail
// the password.Event as JSON (never a password or a hash), on the configured bus.
package eventbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	eb "github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"

	"chpass/shared/password"
)

// Source and DetailType of every entry.
const (
	Source     = "chpass"
	DetailType = "Password Changed"
)

// Options configures a Publisher.
type Options struct {
	// Bus is the event bus name or ARN; the function's role may put events on it only.
	Bus string
	// Region is the bus's region; default the ARN's, else AWS_REGION.
	Region string
	// Getenv reads credentials and endpoint (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
	// AWS_SESSION_TOKEN, AWS_ENDPOINT_URL_EVENTBRIDGE); nil is os.Getenv.
	Getenv     func(string) string
	HTTPClient *http.Client
	// MaxAttempts bounds the SDK's retries of one PutEvents; default 3.
	MaxAttempts int
}

// Publisher puts events on one bus. It is safe for concurrent use.
type Publisher struct {
	bus    string
	client *eb.Client
}

var _ password.Publisher = (*Publisher)(nil)

// New returns the Publisher; it needs credentials only when it publishes.
func New(opts Options) (*Publisher, error) {
	if opts.Bus == "" {
		return nil, errors.New("eventbridge: bus is required")
	}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	region := opts.Region
	if p := strings.SplitN(opts.Bus, ":", 6); region == "" && len(p) == 6 && p[0] == "arn" {
		region = p[3]
	}
	if region == "" {
		region = getenv("AWS_REGION")
	}
	if region == "" {
		return nil, errors.New("eventbridge: no region: give the bus's ARN, or set AWS_REGION")
	}
	o := eb.Options{
		Region: region,
		Credentials: aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
			if id == "" || secret == "" {
				return aws.Credentials{}, errors.New("no AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set")
			}
			return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: getenv("AWS_SESSION_TOKEN"), Source: "EnvironmentVariables"}, nil
		})),
		RetryMaxAttempts: opts.MaxAttempts,
	}
	if o.RetryMaxAttempts <= 0 {
		o.RetryMaxAttempts = 3
	}
	if !strings.EqualFold(getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true") {
		if ep := getenv("AWS_ENDPOINT_URL_EVENTBRIDGE"); ep != "" {
			o.BaseEndpoint = aws.String(ep)
		} else if ep := getenv("AWS_ENDPOINT_URL"); ep != "" {
			o.BaseEndpoint = aws.String(ep)
		}
	}
	if opts.HTTPClient != nil {
		o.HTTPClient = opts.HTTPClient
	}
	return &Publisher{bus: opts.Bus, client: eb.New(o)}, nil
}

// Publish implements password.Publisher with one PutEvents entry. The SDK
// retries throttling and 5xx within ctx's deadline. A failed entry is an error
// naming the code EventBridge gave.
func (p *Publisher) Publish(ctx context.Context, e password.Event) error {
	detail, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("eventbridge: %w", err)
	}
	out, err := p.client.PutEvents(ctx, &eb.PutEventsInput{Entries: []types.PutEventsRequestEntry{{
		EventBusName: aws.String(p.bus),
		Source:       aws.String(Source),
		DetailType:   aws.String(DetailType),
		Detail:       aws.String(string(detail)),
		Time:         aws.Time(e.Time),
		Resources:    []string{},
	}}})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return fmt.Errorf("eventbridge: PutEvents on %s: %s", p.bus, ae.ErrorCode())
		}
		if ctx.Err() != nil {
			return fmt.Errorf("eventbridge: PutEvents on %s: %w", p.bus, ctx.Err())
		}
		return fmt.Errorf("eventbridge: PutEvents on %s: the call failed", p.bus)
	}
	if out.FailedEntryCount > 0 && len(out.Entries) > 0 {
		return fmt.Errorf("eventbridge: PutEvents on %s: entry refused: %s", p.bus, aws.ToString(out.Entries[0].ErrorCode))
	}
	return nil
}
