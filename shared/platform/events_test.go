package platform_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	fcevents "github.com/aliyun/fc-runtime-go-sdk/events"
	"github.com/aliyun/fc-runtime-go-sdk/fc"
	"github.com/aliyun/fc-runtime-go-sdk/fc/messages"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"chpass/shared/gateway"
	"chpass/shared/platform"
)

// fcEventFunction and fcHandleFunction are the values of the SDK's unexported functionType that
// fc.Start uses (eventFunction) and that an ordinary invocation carries (handleFunction).
const (
	fcEventFunction  = 101
	fcHandleFunction = 0
)

const oldPasswordBody = `{"user_name":"bob","old_password":"Bob-Old-Pass1!","new_password":"Bob-New-Pass2@"}`

const changeBody = `{"old_password":"Alice-Old-Pass1!","new_password":"Alice-New-Pass2@"}`

// eventWant is what a sample event must reach the handler as.
type eventWant struct {
	shape     string // "v2", "v1" or "fc"
	method    string
	path      string
	host      string
	sourceIP  string
	requestID string
	body      string
	auth      *gateway.Authorizer
}

var (
	apiHost = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
	urlHost = "k4l5m6n7o8p9q0r1s2t3u4v5w6x7y8z9.lambda-url.us-east-1.on.aws"
	fcHost  = "caller-password-xvqjkfpzab.cn-hangzhou.fcapp.run"
	rstHost = "r7s8t9u0v1.execute-api.us-east-1.amazonaws.com"

	jwtClaims = map[string]string{
		"auth_time":  "1795492800",
		"client_id":  "4q8ikrlh2c6gco7kd3ghvr4tn5",
		"event_id":   "0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6",
		"exp":        "1795496400",
		"iat":        "1795492800",
		"iss":        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Ab12Cd34E",
		"jti":        "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9",
		"origin_jti": "6f7a8b9c-0d1e-4f2a-b3c4-d5e6f7a8b9c0",
		"scope":      "aws.cognito.signin.user.admin",
		"sub":        "7d8ca528-4931-4254-9273-ea5ee853f271",
		"token_use":  "access",
		"username":   "alice",
	}
	restCognito = &gateway.Authorizer{Kind: "cognito", Claims: map[string]string{
		"auth_time":  "Tue Nov 24 04:00:00 UTC 2026",
		"client_id":  "4q8ikrlh2c6gco7kd3ghvr4tn5",
		"event_id":   "0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6",
		"exp":        "Tue Nov 24 05:00:00 UTC 2026",
		"iat":        "Tue Nov 24 04:00:00 UTC 2026",
		"iss":        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Ab12Cd34E",
		"jti":        "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9",
		"origin_jti": "6f7a8b9c-0d1e-4f2a-b3c4-d5e6f7a8b9c0",
		"scope":      "aws.cognito.signin.user.admin",
		"sub":        "7d8ca528-4931-4254-9273-ea5ee853f271",
		"token_use":  "access",
		"username":   "alice",
	}}
)

// sampleEvents lists every file in events/caller-password with what it must map to.
var sampleEvents = map[string]eventWant{
	"apigw-http-v2.json": {
		shape: "v2", method: "POST", path: "/v5/caller-password", host: apiHost,
		sourceIP: "203.0.113.10", requestID: "Ba9XqhW0IAMEV3g=", body: changeBody,
	},
	"apigw-http-v2-jwt-authorizer.json": {
		shape: "v2", method: "POST", path: "/v5/caller-password", host: apiHost,
		sourceIP: "198.51.100.23", requestID: "Ba9XqjG1IAMEV4Q=", body: changeBody,
		auth: &gateway.Authorizer{Kind: "jwt", Claims: jwtClaims},
	},
	"apigw-rest-v1.json": {
		shape: "v1", method: "POST", path: "/v5/caller-password", host: rstHost,
		sourceIP: "203.0.113.10", requestID: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", body: changeBody,
		auth: restCognito,
	},
	"function-url.json": {
		shape: "v2", method: "POST", path: "/v5/caller-password", host: urlHost,
		sourceIP: "203.0.113.10", requestID: "3f2b1c0d-9e8a-4b7c-8d6e-5f4a3b2c1d0e", body: changeBody,
	},
	"fc-http.json": {
		shape: "fc", method: "POST", path: "/v5/caller-password", host: fcHost,
		sourceIP: "203.0.113.10", requestID: "1-6742a6b5-15a0b8f2-2c2f6a8e4b0f", body: changeBody,
	},
	"policy-apigw-http-v2.json": {
		shape: "v2", method: "GET", path: "/v5/password-policy", host: apiHost,
		sourceIP: "198.51.100.23", requestID: "Ba9Y3hV4IAMEVag=",
	},
	"policy-apigw-rest-v1.json": {
		shape: "v1", method: "GET", path: "/v5/password-policy", host: rstHost,
		sourceIP: "203.0.113.10", requestID: "d7b0ab07-8c72-11e6-8b52-a4f9cafebabe",
	},
	"policy-function-url.json": {
		shape: "v2", method: "GET", path: "/v5/password-policy", host: urlHost,
		sourceIP: "203.0.113.10", requestID: "4a3c2d1e-0f9b-4c8d-9e7f-6a5b4c3d2e1f",
	},
	"policy-fc-http.json": {
		shape: "fc", method: "GET", path: "/v5/password-policy", host: fcHost,
		sourceIP: "203.0.113.10", requestID: "1-6742a718-26b1c903-3d3a7b9f5c1a",
	},
	// The self-service page: its files through API Gateway (GET /portal/{proxy+}),
	// the redirect of /portal (GET /portal), and the page itself through a
	// Function URL and an FC HTTP trigger.
	"page-apigw-http-v2.json": {
		shape: "v2", method: "GET", path: "/portal/app.js", host: apiHost,
		sourceIP: "198.51.100.23", requestID: "Ba9Z1kP2IAMEVbA=",
	},
	"page-redirect-apigw-http-v2.json": {
		shape: "v2", method: "GET", path: "/portal", host: apiHost,
		sourceIP: "198.51.100.23", requestID: "Ba9Z0jN8IAMEVaQ=",
	},
	"page-function-url.json": {
		shape: "v2", method: "GET", path: "/portal/", host: urlHost,
		sourceIP: "203.0.113.10", requestID: "5b4d3e2f-1a0c-4d9e-8f7a-7b6c5d4e3f2a",
	},
	// Forgotten and expired passwords: a reset with the provider's token, and
	// a change proven by the old password, through API Gateway and FC.
	"reset-apigw-http-v2.json": {
		shape: "v2", method: "POST", path: "/v5/caller-password/reset", host: apiHost,
		sourceIP: "198.51.100.23", requestID: "Ba9Z2mQ6IAMEVcB=", body: `{"new_password":"Alice-Reset-Pass3#"}`,
	},
	"old-password-apigw-http-v2.json": {
		shape: "v2", method: "POST", path: "/v5/caller-password/old-password", host: apiHost,
		sourceIP: "198.51.100.23", requestID: "Ba9Z3nR7IAMEVdC=", body: oldPasswordBody,
	},
	"old-password-fc-http.json": {
		shape: "fc", method: "POST", path: "/v5/caller-password/old-password", host: fcHost,
		sourceIP: "203.0.113.10", requestID: "1-6742a7d3-4f5a6b7c-8d9e0f1a2b3c", body: oldPasswordBody,
	},
	"page-fc-http.json": {
		shape: "fc", method: "GET", path: "/portal/", host: fcHost,
		sourceIP: "203.0.113.10", requestID: "1-6742a7c2-3e4f5a6b-7c8d9e0f1a2b",
	},
}

func TestSampleEventsAreListed(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(eventsDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
		if _, ok := sampleEvents[filepath.Base(f)]; !ok {
			t.Errorf("%s has no expectations in sampleEvents", f)
		}
	}
	for name := range sampleEvents {
		if !slices.Contains(names, name) {
			t.Errorf("sampleEvents names %s, which is not in %s", name, eventsDir)
		}
	}
}

// TestSampleEvents runs every sample event through the SDK's own in-process handler path: Lambda
// events through lambda.NewHandler(LambdaHandler(echo)).Invoke, FC events through fc.NewFunction
// (FCHandler(echo)).Invoke, which is what the FC runtime loop calls per invocation, and through
// fc.NewHandler(FCHandler(echo)).Invoke. It then checks that Invoke gives the same answer.
func TestSampleEvents(t *testing.T) {
	for name, want := range sampleEvents {
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			t.Parallel()
			payload := readEvent(t, name)
			deadline := time.Now().Add(7 * time.Second).Truncate(time.Millisecond)
			var (
				out          []byte
				s            seen
				platformName = gateway.Lambda
			)
			switch want.shape {
			case "v2", "v1":
				ctx, cancel := context.WithDeadline(context.Background(), deadline)
				defer cancel()
				ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "lambda-request-id"})
				b, err := lambda.NewHandler(platform.LambdaHandler(echo)).Invoke(ctx, payload)
				if err != nil {
					t.Fatalf("Invoke: %v", err)
				}
				out = slices.Clone(b) // the SDK reuses its buffer
				s = checkLambdaResponse(t, want.shape, out)
			case "fc":
				platformName = gateway.FC
				out = invokeFC(t, payload, deadline, "fc-request-id")
				s = checkFCResponse(t, out)

				ctx, cancel := context.WithDeadline(context.Background(), deadline)
				defer cancel()
				b, err := fc.NewHandler(platform.FCHandler(echo)).Invoke(ctx, payload)
				if err != nil {
					t.Fatalf("fc.NewHandler(...).Invoke: %v", err)
				}
				if !jsonEqual(t, b, out) {
					t.Errorf("fc.NewHandler path answered %s, Function.Invoke %s", b, out)
				}
			}
			checkSeen(t, payload, want, platformName, s)
			if s.Deadline == nil || !s.Deadline.Equal(deadline) {
				t.Errorf("request deadline = %v, want the invocation's %v", s.Deadline, deadline)
			}

			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			defer cancel()
			got, err := platform.Invoke(ctx, echo, payload)
			if err != nil {
				t.Fatalf("platform.Invoke: %v", err)
			}
			if !jsonEqual(t, got, out) {
				t.Errorf("platform.Invoke answered\n%s\nthe SDK path\n%s", got, out)
			}
		})
	}
}

// invokeFC runs FCHandler(echo) on payload the way the FC runtime loop does for one invocation.
func invokeFC(tb testing.TB, payload []byte, deadline time.Time, requestID string) []byte {
	tb.Helper()
	fn := fc.NewFunction(platform.FCHandler(echo), fcEventFunction)
	req := &messages.InvokeRequest{
		Payload:   payload,
		RequestId: requestID,
		Deadline:  messages.InvokeRequest_Timestamp{Seconds: deadline.Unix(), Nanos: int64(deadline.Nanosecond())},
		Context:   fccontext.FcContext{RequestID: requestID, Function: fccontext.Function{Name: "caller-password", Timeout: 10}},
	}
	var resp messages.InvokeResponse
	if err := fn.Invoke(req, &resp, fcHandleFunction); err != nil {
		tb.Fatalf("fc Function.Invoke: %v", err)
	}
	if resp.Error != nil {
		tb.Fatalf("fc Function.Invoke reported %s", resp.Error.ToJson())
	}
	return resp.Payload
}

// checkLambdaResponse checks the proxy response of the echo handler and returns its report.
func checkLambdaResponse(tb testing.TB, shape string, out []byte) seen {
	tb.Helper()
	switch shape {
	case "v1":
		var r events.APIGatewayProxyResponse
		if err := json.Unmarshal(out, &r); err != nil {
			tb.Fatalf("response %s: %v", out, err)
		}
		if r.StatusCode != http.StatusOK || r.IsBase64Encoded {
			tb.Errorf("status %d, base64 %v", r.StatusCode, r.IsBase64Encoded)
		}
		if got := r.MultiValueHeaders["X-Multi"]; !slices.Equal(got, []string{"a", "b"}) {
			tb.Errorf("multiValueHeaders X-Multi = %q", got)
		}
		if got := r.MultiValueHeaders["Set-Cookie"]; !slices.Equal(got, []string{"a=1; Path=/", "b=2; Path=/"}) {
			tb.Errorf("multiValueHeaders Set-Cookie = %q", got)
		}
		if got := r.Headers["Content-Type"]; got != "application/json" {
			tb.Errorf("headers Content-Type = %q", got)
		}
		return decodeSeen(tb, r.Body, r.IsBase64Encoded)
	default:
		var r events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(out, &r); err != nil {
			tb.Fatalf("response %s: %v", out, err)
		}
		if r.StatusCode != http.StatusOK || r.IsBase64Encoded {
			tb.Errorf("status %d, base64 %v", r.StatusCode, r.IsBase64Encoded)
		}
		if r.Headers["X-Multi"] != "a,b" || r.Headers["Content-Type"] != "application/json" {
			tb.Errorf("headers = %q", r.Headers)
		}
		if _, ok := r.Headers["Set-Cookie"]; ok {
			tb.Errorf("Set-Cookie in headers, want it in cookies: %q", r.Headers)
		}
		if !slices.Equal(r.Cookies, []string{"a=1; Path=/", "b=2; Path=/"}) {
			tb.Errorf("cookies = %q", r.Cookies)
		}
		if r.MultiValueHeaders != nil {
			tb.Errorf("payload 2.0 response has multiValueHeaders: %q", r.MultiValueHeaders)
		}
		return decodeSeen(tb, r.Body, r.IsBase64Encoded)
	}
}

// checkFCResponse checks the HTTP trigger response of the echo handler and returns its report.
func checkFCResponse(tb testing.TB, out []byte) seen {
	tb.Helper()
	var r fcevents.HTTPTriggerResponse
	if err := json.Unmarshal(out, &r); err != nil {
		tb.Fatalf("response %s: %v", out, err)
	}
	if r.StatusCode != http.StatusOK || r.IsBase64Encoded {
		tb.Errorf("status %d, base64 %v", r.StatusCode, r.IsBase64Encoded)
	}
	if r.Headers["X-Multi"] != "a,b" || r.Headers["Content-Type"] != "application/json" {
		tb.Errorf("headers = %q", r.Headers)
	}
	return decodeSeen(tb, r.Body, r.IsBase64Encoded)
}

// rawEvent is the union of the fields the sample events spell their request with.
type rawEvent struct {
	Headers           map[string]string   `json:"headers"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
	Cookies           []string            `json:"cookies"`
	Body              string              `json:"body"`
}

// checkSeen checks that the echo handler saw every part of the sample event.
func checkSeen(tb testing.TB, payload []byte, want eventWant, platformName string, s seen) {
	tb.Helper()
	if s.Method != want.method || s.Path != want.path || s.Host != want.host {
		tb.Errorf("saw %s %s on %s, want %s %s on %s", s.Method, s.Path, s.Host, want.method, want.path, want.host)
	}
	if s.RawQuery != "" {
		tb.Errorf("query = %q, want none", s.RawQuery)
	}
	if want.sourceIP+":0" != s.RemoteAddr {
		tb.Errorf("RemoteAddr = %q, want %s:0", s.RemoteAddr, want.sourceIP)
	}
	if got := bodyOf(tb, s); got != want.body || s.Length != int64(len(want.body)) {
		tb.Errorf("body = %q (length %d), want %q", got, s.Length, want.body)
	}
	var e rawEvent
	if err := json.Unmarshal(payload, &e); err != nil {
		tb.Fatal(err)
	}
	wantHeader := http.Header{}
	for k, vs := range e.MultiValueHeaders {
		wantHeader[http.CanonicalHeaderKey(k)] = vs
	}
	if e.MultiValueHeaders == nil {
		for k, v := range e.Headers {
			wantHeader[http.CanonicalHeaderKey(k)] = []string{v}
		}
	}
	if len(e.Cookies) > 0 {
		wantHeader.Set("Cookie", strings.Join(e.Cookies, "; "))
	}
	if got := wantHeader.Get("Host"); got != want.host {
		tb.Errorf("event's Host header %q, want %q", got, want.host)
	}
	wantHeader.Del("Host")
	if !reflect.DeepEqual(http.Header(s.Header), wantHeader) {
		tb.Errorf("headers:\n got %q\nwant %q", s.Header, wantHeader)
	}
	wantInfo := gateway.Info{Platform: platformName, RequestID: want.requestID, Authorizer: want.auth}
	if !s.HasInfo || !reflect.DeepEqual(s.Info, wantInfo) {
		tb.Errorf("gateway.Info = %+v (present %v), want %+v", s.Info, s.HasInfo, wantInfo)
		if s.Info.Authorizer != nil {
			tb.Errorf("authorizer = %+v", *s.Info.Authorizer)
		}
	}
}

// jsonEqual reports whether a and b hold equal JSON values.
func jsonEqual(tb testing.TB, a, b []byte) bool {
	tb.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		tb.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		tb.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}
