// Package lambdainvoke hands a task to the asynchronous invocation of the running Lambda function
// itself: Invoke with InvocationType Event, carrying the internal run-task event
// (platform.NewRunTaskEvent).
//
// It is the one call of the Lambda API a function makes, so it is sent as the Lambda client of
// aws-sdk-go-v2 sends it, signed with that SDK's own SigV4 signer, without linking the generated
// client: that client and its endpoint rules added about 0.8 MB to the binary for one request. A
// test sends the same Invoke through the generated client and checks that both requests are the same.
package lambdainvoke

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"chpass/shared/platform"
)

// Options configures an Invoker. The zero value reads the process environment.
type Options struct {
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// HTTPClient sends the requests; nil means one with a 30-second timeout.
	HTTPClient *http.Client
}

// Invoker sends run-task events to the function's own asynchronous invocation.
type Invoker struct {
	function, region, endpoint string
	getenv                     func(string) string
	client                     *http.Client
	signer                     *v4.Signer
}

// FromEnv returns the Invoker of the running function: its name from AWS_LAMBDA_FUNCTION_NAME,
// its region from AWS_REGION, its credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN (as Lambda sets them, read at each call), and the endpoint from
// AWS_ENDPOINT_URL_LAMBDA or else AWS_ENDPOINT_URL when set, else the region's
// (https://lambda.REGION.amazonaws.com, .amazonaws.com.cn in China). It fails when the function's
// name or region is unset, that is, outside Lambda.
func FromEnv(opts Options) (*Invoker, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	name, region := getenv("AWS_LAMBDA_FUNCTION_NAME"), getenv("AWS_REGION")
	if name == "" || region == "" {
		return nil, errors.New("lambdainvoke: AWS_LAMBDA_FUNCTION_NAME and AWS_REGION must be set (Lambda sets them)")
	}
	endpoint := "https://lambda." + region + ".amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		endpoint += ".cn"
	}
	if !strings.EqualFold(getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true") {
		ep := getenv("AWS_ENDPOINT_URL_LAMBDA")
		if ep == "" {
			ep = getenv("AWS_ENDPOINT_URL")
		}
		if ep != "" {
			endpoint = strings.TrimSuffix(ep, "/")
		}
	}
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	return &Invoker{function: name, region: region, endpoint: endpoint, getenv: getenv, client: client, signer: v4.NewSigner()}, nil
}

// Dispatch asks Lambda to run task id asynchronously in this same function (batch.Options.Dispatch).
// Lambda answers 202 once it has queued the event; it retries a failed run as the function's
// asynchronous invocation settings say. Errors name the function and the AWS error code, never a
// credential.
func (i *Invoker) Dispatch(ctx context.Context, id string) error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("lambdainvoke: invoke %s asynchronously: "+format, append([]any{i.function}, a...)...)
	}
	keyID, secret := i.getenv("AWS_ACCESS_KEY_ID"), i.getenv("AWS_SECRET_ACCESS_KEY")
	if keyID == "" || secret == "" {
		return fail("no AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set")
	}
	creds := aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret, SessionToken: i.getenv("AWS_SESSION_TOKEN")}
	payload := platform.NewRunTaskEvent(id)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		i.endpoint+"/2015-03-31/functions/"+url.PathEscape(i.function)+"/invocations", bytes.NewReader(payload))
	if err != nil {
		return fail("%v", err)
	}
	req.Header.Set("X-Amz-Invocation-Type", "Event")
	req.Header.Set("Content-Type", "application/octet-stream") // as the SDK sends a blob payload
	sum := sha256.Sum256(payload)
	if err := i.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "lambda", i.region, time.Now().UTC()); err != nil {
		return fail("%v", err)
	}
	resp, err := i.client.Do(req)
	if err != nil {
		return fail("%v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusAccepted {
		return nil
	}
	if code := errorCode(resp.Header, body); code != "" {
		return fail("%s", code)
	}
	return fail("status %d, want 202", resp.StatusCode)
}

// errorCode is the AWS error code of a refused request: X-Amzn-ErrorType, else the body's Type or
// __type, without the namespace and the suffix after a colon.
func errorCode(h http.Header, body []byte) string {
	code := h.Get("X-Amzn-ErrorType")
	if code == "" {
		var e struct {
			Type  string `json:"Type"`
			Type2 string `json:"__type"`
			Code  string `json:"Code"`
		}
		if json.Unmarshal(body, &e) == nil {
			code = cmp.Or(e.Type2, e.Code, e.Type)
		}
	}
	code, _, _ = strings.Cut(code, ":")
	if i := strings.LastIndex(code, "#"); i >= 0 {
		code = code[i+1:]
	}
	return code
}
