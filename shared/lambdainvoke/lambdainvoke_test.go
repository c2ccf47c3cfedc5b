package lambdainvoke_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"chpass/shared/lambdainvoke"
	"chpass/shared/lambdainvoke/lambdainvoketest"
	"chpass/shared/platform"
)

const (
	keyID    = "AKIAINVOKEEXAMPLE"
	secret   = "invoke-secret-CANARY-0123456789"
	token    = "invoke-session-CANARY-token"
	region   = "eu-central-1"
	function = "chpass-modify-user-passwords"
)

func env(endpoint string) func(string) string {
	m := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME": function, "AWS_REGION": region, "AWS_ACCESS_KEY_ID": keyID,
		"AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": token, "AWS_ENDPOINT_URL_LAMBDA": endpoint,
	}
	return func(k string) string { return m[k] }
}

// seen is what a request carried that Lambda reads.
type seen struct {
	method, path, query, invocationType, contentType, body string
}

// TestDispatchIsTheSDKsInvoke sends the same Invoke through aws-sdk-go-v2's generated Lambda
// client and through Dispatch: the two requests carry the same method, path, query, invocation
// type, content type and body, and the fake accepts the signature of each (it checks it with the
// SDK's signer).
func TestDispatchIsTheSDKsInvoke(t *testing.T) {
	var mu sync.Mutex
	var got []seen
	creds := lambdainvoketest.Credentials{AccessKeyID: keyID, SecretAccessKey: secret, SessionToken: token, Region: region, Function: function}
	fake := lambdainvoketest.Start(t, creds, func([]byte) error { return nil })
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("X-Amz-Invocation-Type"), r.Header.Get("Content-Type"), string(body)})
		mu.Unlock()
		// Relay to the fake, which checks the signature.
		req, _ := http.NewRequest(r.Method, fake.URL+r.URL.RequestURI(), strings.NewReader(string(body)))
		req.Header = r.Header.Clone()
		req.Host = r.Host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
	}))
	t.Cleanup(rec.Close)

	ctx := context.Background()
	sdk := lambda.New(lambda.Options{
		Region: region, BaseEndpoint: aws.String(rec.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret, SessionToken: token}, nil
		}),
	})
	out, err := sdk.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String(function), InvocationType: types.InvocationTypeEvent, Payload: platform.NewRunTaskEvent("task-1"),
	})
	if err != nil || out.StatusCode != http.StatusAccepted {
		t.Fatalf("the SDK's Invoke: %v", err)
	}
	inv, err := lambdainvoke.FromEnv(lambdainvoke.Options{Getenv: env(rec.URL)})
	if err != nil {
		t.Fatal(err)
	}
	if err := inv.Dispatch(ctx, "task-1"); err != nil {
		t.Fatalf("Dispatch: %v", err)
	}
	fake.Wait()
	if bodies, errs := fake.Seen(); len(bodies) != 2 || len(errs) != 0 {
		t.Fatalf("the fake accepted %d requests, errors %v", len(bodies), errs)
	}
	if len(got) != 2 || got[0] != got[1] {
		t.Fatalf("the SDK sent %+v, Dispatch %+v", got[0], got[1])
	}
}

// TestDispatchErrors: a refusal names the function and the AWS error code; a missing credential
// is said; no error holds a credential.
func TestDispatchErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("X-Amz-Invocation-Type") {
		case "Event":
		default:
			t.Errorf("invocation type %q", r.Header.Get("X-Amz-Invocation-Type"))
		}
		if strings.Contains(r.URL.Path, "typed") {
			w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException:http://internal.amazon.com/coral/com.amazon.awslambda/")
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"Type":"User","message":"Rate exceeded","__type":"TooManyRequestsException"}`)
	}))
	t.Cleanup(srv.Close)
	tests := []struct {
		name, fn, want string
		noCreds        bool
	}{
		{name: "HeaderCode", fn: "typed", want: "lambdainvoke: invoke typed asynchronously: ResourceNotFoundException"},
		{name: "BodyCode", fn: function, want: "lambdainvoke: invoke " + function + " asynchronously: TooManyRequestsException"},
		{name: "NoCredentials", fn: function, noCreds: true, want: "no AWS credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := env(srv.URL)
			getenv := func(k string) string {
				switch {
				case k == "AWS_LAMBDA_FUNCTION_NAME":
					return tt.fn
				case tt.noCreds && k == "AWS_SECRET_ACCESS_KEY":
					return ""
				}
				return base(k)
			}
			inv, err := lambdainvoke.FromEnv(lambdainvoke.Options{Getenv: getenv})
			if err != nil {
				t.Fatal(err)
			}
			err = inv.Dispatch(context.Background(), "task-1")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Dispatch = %v, want an error holding %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "CANARY") {
				t.Errorf("the error holds a credential: %v", err)
			}
		})
	}
}

// roundTrip answers every request with 202 and records its URL.
type roundTrip struct{ urls []string }

func (rt *roundTrip) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.urls = append(rt.urls, r.URL.String())
	return &http.Response{StatusCode: http.StatusAccepted, Body: io.NopCloser(strings.NewReader("")), Header: http.Header{}}, nil
}

// TestFromEnv: outside Lambda there is no Invoker; the endpoint is the region's, in China the
// .cn one, unless one is set and not ignored.
func TestFromEnv(t *testing.T) {
	if _, err := lambdainvoke.FromEnv(lambdainvoke.Options{Getenv: func(string) string { return "" }}); err == nil {
		t.Error("FromEnv without AWS_LAMBDA_FUNCTION_NAME and AWS_REGION succeeded")
	}
	const path = "/2015-03-31/functions/" + function + "/invocations"
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{name: "Region", env: map[string]string{"AWS_ENDPOINT_URL_LAMBDA": ""}, want: "https://lambda." + region + ".amazonaws.com" + path},
		{name: "China", env: map[string]string{"AWS_ENDPOINT_URL_LAMBDA": "", "AWS_REGION": "cn-north-1"}, want: "https://lambda.cn-north-1.amazonaws.com.cn" + path},
		{name: "Configured", env: map[string]string{"AWS_ENDPOINT_URL_LAMBDA": "https://vpce.example.test/"}, want: "https://vpce.example.test" + path},
		{name: "Shared", env: map[string]string{"AWS_ENDPOINT_URL_LAMBDA": "", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}, want: "http://127.0.0.1:4566" + path},
		{name: "Ignored", env: map[string]string{"AWS_ENDPOINT_URL_LAMBDA": "https://vpce.example.test", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"},
			want: "https://lambda." + region + ".amazonaws.com" + path},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := env("")
			getenv := func(k string) string {
				if v, ok := tt.env[k]; ok {
					return v
				}
				return base(k)
			}
			rt := &roundTrip{}
			inv, err := lambdainvoke.FromEnv(lambdainvoke.Options{Getenv: getenv, HTTPClient: &http.Client{Transport: rt}})
			if err != nil {
				t.Fatal(err)
			}
			if err := inv.Dispatch(context.Background(), "task-1"); err != nil {
				t.Fatal(err)
			}
			if len(rt.urls) != 1 || rt.urls[0] != tt.want {
				t.Errorf("requested %v, want %s", rt.urls, tt.want)
			}
		})
	}
}
