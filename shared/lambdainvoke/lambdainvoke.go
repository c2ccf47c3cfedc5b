// Package lambdainvoke hands a task to the asynchronous invocation of the running Lambda function
// itself: Invoke with InvocationType Event, through aws-sdk-go-v2's Lambda client, carrying the
// internal run-task event (platform.NewRunTaskEvent).
package lambdainvoke

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"chpass/shared/platform"
)

// Options configures an Invoker. The zero value reads the process environment.
type Options struct {
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// HTTPClient sends the requests; nil means the SDK's default.
	HTTPClient *http.Client
}

// Invoker sends run-task events to the function's own asynchronous invocation.
type Invoker struct {
	function string
	client   *lambda.Client
}

// FromEnv returns the Invoker of the running function: its name from AWS_LAMBDA_FUNCTION_NAME,
// its region from AWS_REGION, its credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN (as Lambda sets them, read at each call), and the endpoint from
// AWS_ENDPOINT_URL_LAMBDA or else AWS_ENDPOINT_URL when set. It fails when the function's name or
// region is unset, that is, outside Lambda.
func FromEnv(opts Options) (*Invoker, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	name, region := getenv("AWS_LAMBDA_FUNCTION_NAME"), getenv("AWS_REGION")
	if name == "" || region == "" {
		return nil, errors.New("lambdainvoke: AWS_LAMBDA_FUNCTION_NAME and AWS_REGION must be set (Lambda sets them)")
	}
	o := lambda.Options{
		Region: region,
		Credentials: aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
			if id == "" || secret == "" {
				return aws.Credentials{}, errors.New("no AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set")
			}
			return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret,
				SessionToken: getenv("AWS_SESSION_TOKEN"), Source: "EnvironmentVariables"}, nil
		})),
	}
	if !strings.EqualFold(getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true") {
		ep := getenv("AWS_ENDPOINT_URL_LAMBDA")
		if ep == "" {
			ep = getenv("AWS_ENDPOINT_URL")
		}
		if ep != "" {
			o.BaseEndpoint = aws.String(ep)
		}
	}
	if opts.HTTPClient != nil {
		o.HTTPClient = opts.HTTPClient
	}
	return &Invoker{function: name, client: lambda.New(o)}, nil
}

// Dispatch asks Lambda to run task id asynchronously in this same function (batch.Options.Dispatch).
// Lambda answers 202 once it has queued the event; it retries a failed run as the function's
// asynchronous invocation settings say. Errors name the function and the AWS error code, never a
// credential.
func (i *Invoker) Dispatch(ctx context.Context, id string) error {
	out, err := i.client.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(i.function),
		InvocationType: types.InvocationTypeEvent,
		Payload:        platform.NewRunTaskEvent(id),
	})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return fmt.Errorf("lambdainvoke: invoke %s asynchronously: %s", i.function, ae.ErrorCode())
		}
		return fmt.Errorf("lambdainvoke: invoke %s asynchronously: %w", i.function, err)
	}
	if out.StatusCode != http.StatusAccepted {
		return fmt.Errorf("lambdainvoke: invoke %s asynchronously: status %d, want 202", i.function, out.StatusCode)
	}
	return nil
}
