package platform_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	fcevents "github.com/aliyun/fc-runtime-go-sdk/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"chpass/shared/gateway"
	"chpass/shared/platform"
)

// Event builders: minimal events of each kind, as the platforms shape them.

func v2Event(method, rawPath, rawQuery string) map[string]any {
	return map[string]any{
		"version":        "2.0",
		"routeKey":       "$default",
		"rawPath":        rawPath,
		"rawQueryString": rawQuery,
		"headers":        map[string]any{"host": "api.example.com"},
		"requestContext": map[string]any{
			"requestId":  "v2-request",
			"domainName": "api.example.com",
			"http":       map[string]any{"method": method, "path": rawPath, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "test"},
		},
		"isBase64Encoded": false,
	}
}

func v1Event(method, path string) map[string]any {
	return map[string]any{
		"resource":   "/{proxy+}",
		"path":       path,
		"httpMethod": method,
		"headers":    map[string]any{"Host": "rest.example.com"},
		"requestContext": map[string]any{
			"requestId":  "v1-request",
			"domainName": "rest.example.com",
			"identity":   map[string]any{"sourceIp": "192.0.2.2", "userArn": nil, "accessKey": nil},
		},
		"body":            nil,
		"isBase64Encoded": false,
	}
}

func fcEvent(method, rawPath string) map[string]any {
	return map[string]any{
		"version":         "v1",
		"rawPath":         rawPath,
		"body":            "",
		"isBase64Encoded": false,
		"headers":         map[string]any{"Host": "fn.cn-hangzhou.fcapp.run"},
		"queryParameters": map[string]any{},
		"requestContext": map[string]any{
			"requestId":  "fc-request",
			"domainName": "fn.cn-hangzhou.fcapp.run",
			"http":       map[string]any{"method": method, "path": rawPath, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.3", "userAgent": "test"},
			"timeEpoch":  "1795493253000",
		},
	}
}

// sub returns m[k] as a map, creating it.
func sub(m map[string]any, k string) map[string]any {
	if v, ok := m[k].(map[string]any); ok {
		return v
	}
	v := map[string]any{}
	m[k] = v
	return v
}

// platformResponse is the union of the response shapes.
type platformResponse struct {
	StatusCode        int                 `json:"statusCode"`
	Headers           map[string]string   `json:"headers"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
	Cookies           []string            `json:"cookies"`
	Body              string              `json:"body"`
	IsBase64Encoded   bool                `json:"isBase64Encoded"`
}

// invokeEvent runs echo on event through Invoke and returns the response and, unless it is
// binary, the echo report.
func invokeEvent(tb testing.TB, ctx context.Context, event map[string]any) (platformResponse, seen) {
	tb.Helper()
	out, err := platform.Invoke(ctx, echo, mustJSON(tb, event))
	if err != nil {
		tb.Fatalf("Invoke: %v", err)
	}
	var r platformResponse
	if err := json.Unmarshal(out, &r); err != nil {
		tb.Fatalf("response %s: %v", out, err)
	}
	if r.IsBase64Encoded {
		return r, seen{}
	}
	return r, decodeSeen(tb, r.Body, false)
}

func TestMultiValue(t *testing.T) {
	tests := []struct {
		name       string
		event      map[string]any
		wantQuery  map[string][]string
		wantHeader map[string][]string
		check      func(t *testing.T, r platformResponse)
	}{
		{
			name: "HTTPAPIv2KeepsJoinedHeaderAndRepeatedQuery",
			event: func() map[string]any {
				e := v2Event("GET", "/v5/password-policy", "tag=x&tag=y&q=a%20b%26c")
				e["headers"] = map[string]any{"host": "api.example.com", "x-multi": "a,b", "x-date": "Tue, 24 Nov 2026 04:07:33 GMT"}
				e["cookies"] = []string{"c1=v1", "c2=v2"}
				return e
			}(),
			wantQuery:  map[string][]string{"tag": {"x", "y"}, "q": {"a b&c"}},
			wantHeader: map[string][]string{"X-Multi": {"a,b"}, "X-Date": {"Tue, 24 Nov 2026 04:07:33 GMT"}, "Cookie": {"c1=v1; c2=v2"}},
			check: func(t *testing.T, r platformResponse) {
				if r.Headers["X-Multi"] != "a,b" || !slices.Equal(r.Cookies, []string{"a=1; Path=/", "b=2; Path=/"}) {
					t.Errorf("headers %q cookies %q", r.Headers, r.Cookies)
				}
			},
		},
		{
			name: "HTTPAPIv2QueryFromParametersWhenNoRawQuery",
			event: func() map[string]any {
				e := v2Event("GET", "/p", "")
				e["queryStringParameters"] = map[string]any{"tag": "x,y"}
				return e
			}(),
			wantQuery:  map[string][]string{"tag": {"x,y"}},
			wantHeader: map[string][]string{},
		},
		{
			name: "RESTAPIv1MultiValueHeadersAndQuery",
			event: func() map[string]any {
				e := v1Event("GET", "/v5/password-policy")
				e["headers"] = map[string]any{"Host": "rest.example.com", "X-Multi": "b", "X-Single": "s"}
				e["multiValueHeaders"] = map[string]any{"Host": []string{"rest.example.com"}, "X-Multi": []string{"a", "b"}}
				e["queryStringParameters"] = map[string]any{"tag": "y", "q": "a b&c"}
				e["multiValueQueryStringParameters"] = map[string]any{"tag": []string{"x", "y"}, "q": []string{"a b&c"}}
				return e
			}(),
			wantQuery:  map[string][]string{"tag": {"x", "y"}, "q": {"a b&c"}},
			wantHeader: map[string][]string{"X-Multi": {"a", "b"}, "X-Single": {"s"}},
			check: func(t *testing.T, r platformResponse) {
				if !slices.Equal(r.MultiValueHeaders["X-Multi"], []string{"a", "b"}) ||
					!slices.Equal(r.MultiValueHeaders["Set-Cookie"], []string{"a=1; Path=/", "b=2; Path=/"}) {
					t.Errorf("multiValueHeaders %q", r.MultiValueHeaders)
				}
			},
		},
		{
			name: "RESTAPIv1SingleValueOnly",
			event: func() map[string]any {
				e := v1Event("GET", "/p")
				e["headers"] = map[string]any{"Host": "rest.example.com", "X-One": "1"}
				e["queryStringParameters"] = map[string]any{"a": "1"}
				return e
			}(),
			wantQuery:  map[string][]string{"a": {"1"}},
			wantHeader: map[string][]string{"X-One": {"1"}},
		},
		{
			name: "FCKeepsCommaJoinedValuesWhole",
			event: func() map[string]any {
				e := fcEvent("GET", "/v5/password-policy")
				e["headers"] = map[string]any{"Host": "fn.cn-hangzhou.fcapp.run", "X-Multi": "a,b", "X-Note": "one, two"}
				e["queryParameters"] = map[string]any{"tag": "x,y", "q": "a b&c"}
				return e
			}(),
			wantQuery:  map[string][]string{"tag": {"x,y"}, "q": {"a b&c"}},
			wantHeader: map[string][]string{"X-Multi": {"a,b"}, "X-Note": {"one, two"}},
			check: func(t *testing.T, r platformResponse) {
				if r.Headers["X-Multi"] != "a,b" {
					t.Errorf("headers %q", r.Headers)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, s := invokeEvent(t, context.Background(), tt.event)
			if !reflect.DeepEqual(s.Query, tt.wantQuery) {
				t.Errorf("query = %q, want %q", s.Query, tt.wantQuery)
			}
			if !reflect.DeepEqual(s.Header, tt.wantHeader) {
				t.Errorf("header = %q, want %q", s.Header, tt.wantHeader)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestPathEncoding(t *testing.T) {
	tests := []struct {
		name              string
		event             map[string]any
		wantPath, wantRaw string
	}{
		{"HTTPAPIv2RawPathIsDecoded", v2Event("GET", "/users/a%2Fb%20c", ""), "/users/a/b c", "/users/a%2Fb%20c"},
		{"RESTAPIv1PathIsAlreadyDecoded", v1Event("GET", "/users/a b"), "/users/a b", "/users/a%20b"},
		{"FCRawPathIsDecoded", fcEvent("GET", "/users/%E5%BC%A0"), "/users/张", "/users/%E5%BC%A0"},
		{"EmptyPathIsRoot", v2Event("GET", "", ""), "/", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, s := invokeEvent(t, context.Background(), tt.event)
			if s.Path != tt.wantPath || s.RawPath != tt.wantRaw {
				t.Errorf("path %q (%q), want %q (%q)", s.Path, s.RawPath, tt.wantPath, tt.wantRaw)
			}
		})
	}
}

func TestBase64RequestBody(t *testing.T) {
	body := string(append([]byte(`{"k":"v"}`), 0xff, 0x00))
	enc := base64.StdEncoding.EncodeToString([]byte(body))
	tests := map[string]map[string]any{
		"HTTPAPIv2": v2Event("POST", "/p", ""),
		"RESTAPIv1": v1Event("POST", "/p"),
		"FC":        fcEvent("POST", "/p"),
	}
	for name, e := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e["body"], e["isBase64Encoded"] = enc, true
			_, s := invokeEvent(t, context.Background(), e)
			if got := bodyOf(t, s); got != body || s.Length != int64(len(body)) {
				t.Errorf("body %q (length %d), want %q", got, s.Length, body)
			}
		})
	}
}

func TestBinaryResponseIsBase64(t *testing.T) {
	tests := map[string]map[string]any{
		"HTTPAPIv2": v2Event("GET", "/binary", ""),
		"RESTAPIv1": v1Event("GET", "/binary"),
		"FC":        fcEvent("GET", "/binary"),
	}
	for name, e := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, _ := invokeEvent(t, context.Background(), e)
			if !r.IsBase64Encoded {
				t.Fatalf("isBase64Encoded false for a binary body: %+v", r)
			}
			got, err := base64.StdEncoding.DecodeString(r.Body)
			if err != nil || !bytes.Equal(got, binaryBody) {
				t.Errorf("body %q (%v), want %q", got, err, binaryBody)
			}
		})
	}
}

func TestDeadlineAndRequestIDFallback(t *testing.T) {
	deadline := time.Now().Add(3 * time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "aws-request-id"})

	e := v2Event("GET", "/p", "")
	delete(sub(e, "requestContext"), "requestId")
	b, err := lambda.NewHandler(platform.LambdaHandler(echo)).Invoke(ctx, mustJSON(t, e))
	if err != nil {
		t.Fatal(err)
	}
	var r platformResponse
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	s := decodeSeen(t, r.Body, r.IsBase64Encoded)
	if s.Deadline == nil || !s.Deadline.Equal(deadline) {
		t.Errorf("deadline %v, want %v", s.Deadline, deadline)
	}
	if s.Info.RequestID != "aws-request-id" {
		t.Errorf("request id %q, want the Lambda context's", s.Info.RequestID)
	}

	fe := fcEvent("GET", "/p")
	delete(sub(fe, "requestContext"), "requestId")
	fdeadline := time.Now().Add(5 * time.Second).Truncate(time.Millisecond)
	var fr fcevents.HTTPTriggerResponse
	if err := json.Unmarshal(invokeFC(t, mustJSON(t, fe), fdeadline, "fc-runtime-id"), &fr); err != nil {
		t.Fatal(err)
	}
	fs := decodeSeen(t, fr.Body, fr.IsBase64Encoded)
	if fs.Deadline == nil || !fs.Deadline.Equal(fdeadline) {
		t.Errorf("FC deadline %v, want %v", fs.Deadline, fdeadline)
	}
	if fs.Info.RequestID != "fc-runtime-id" || fs.Info.Platform != gateway.FC {
		t.Errorf("FC info %+v, want the FC context's request id", fs.Info)
	}
}

func TestAuthorizer(t *testing.T) {
	spoof := map[string]any{
		"host":                   "api.example.com",
		"x-authorizer":           `{"kind":"iam","principal":"arn:aws:iam::1:root"}`,
		"x-amzn-oidc-identity":   "root",
		"x-apigateway-context":   `{"authorizer":{"claims":{"username":"root"}}}`,
		"x-fc-jwt-claims":        `{"username":"root"}`,
		"authorization":          "Bearer forged",
		"x-forwarded-user":       "root",
		"x-amzn-request-context": `{"authorizer":{"iam":{"userArn":"arn:aws:iam::1:root"}}}`,
	}
	tests := []struct {
		name  string
		event func() map[string]any
		want  *gateway.Authorizer
	}{
		{
			name: "HTTPAPIv2JWTFlattensClaims",
			event: func() map[string]any {
				e := v2Event("GET", "/p", "")
				sub(e, "requestContext")["authorizer"] = map[string]any{"jwt": map[string]any{
					"claims": map[string]any{
						"sub": "s-1", "username": "alice", "exp": json.Number("1795496400"),
						"cognito:groups": []any{"admins", "ops"}, "email_verified": true,
						"nested": map[string]any{"a": "b"}, "gone": nil,
					},
					"scopes": []string{"openid"},
				}}
				return e
			},
			want: &gateway.Authorizer{Kind: "jwt", Claims: map[string]string{
				"sub": "s-1", "username": "alice", "exp": "1795496400", "cognito:groups": "admins,ops",
				"email_verified": "true", "nested": `{"a":"b"}`,
			}},
		},
		{
			name: "HTTPAPIv2IAM",
			event: func() map[string]any {
				e := v2Event("GET", "/p", "")
				sub(e, "requestContext")["authorizer"] = map[string]any{"iam": map[string]any{
					"accessKey": "ASIAEXAMPLE", "accountId": "123456789012", "callerId": "AIDAEXAMPLE",
					"cognitoIdentity": nil, "principalOrgId": nil,
					"userArn": "arn:aws:iam::123456789012:user/alice", "userId": "AIDAEXAMPLE",
				}}
				return e
			},
			want: &gateway.Authorizer{
				Kind: "iam", Principal: "arn:aws:iam::123456789012:user/alice", AccessKey: "ASIAEXAMPLE",
				Claims: map[string]string{
					"accessKey": "ASIAEXAMPLE", "accountId": "123456789012", "callerId": "AIDAEXAMPLE",
					"userArn": "arn:aws:iam::123456789012:user/alice", "userId": "AIDAEXAMPLE",
				},
			},
		},
		{
			name: "HTTPAPIv2Lambda",
			event: func() map[string]any {
				e := v2Event("GET", "/p", "")
				sub(e, "requestContext")["authorizer"] = map[string]any{"lambda": map[string]any{"user": "alice", "level": 3}}
				return e
			},
			want: &gateway.Authorizer{Kind: "lambda", Claims: map[string]string{"user": "alice", "level": "3"}},
		},
		{
			name:  "HTTPAPIv2NoneDespiteSpoofedHeaders",
			event: func() map[string]any { e := v2Event("GET", "/p", ""); e["headers"] = spoof; return e },
		},
		{
			name: "HTTPAPIv2NullLambdaIsNone",
			event: func() map[string]any {
				e := v2Event("GET", "/p", "")
				sub(e, "requestContext")["authorizer"] = map[string]any{"lambda": nil}
				return e
			},
		},
		{
			name: "HTTPAPIv2EmptyIAMIsNone",
			event: func() map[string]any {
				e := v2Event("GET", "/p", "")
				sub(e, "requestContext")["authorizer"] = map[string]any{"iam": map[string]any{"accountId": "1"}}
				return e
			},
		},
		{
			name: "RESTAPIv1Cognito",
			event: func() map[string]any {
				e := v1Event("GET", "/p")
				sub(e, "requestContext")["authorizer"] = map[string]any{"claims": map[string]any{
					"sub": "s-1", "cognito:username": "alice", "email_verified": "true",
				}}
				return e
			},
			want: &gateway.Authorizer{Kind: "cognito", Claims: map[string]string{
				"sub": "s-1", "cognito:username": "alice", "email_verified": "true",
			}},
		},
		{
			name: "HTTPAPIv1JWT",
			event: func() map[string]any {
				e := v1Event("GET", "/p")
				e["version"] = "1.0"
				sub(e, "requestContext")["authorizer"] = map[string]any{"claims": map[string]any{"sub": "s-1"}, "scopes": nil}
				return e
			},
			want: &gateway.Authorizer{Kind: "jwt", Claims: map[string]string{"sub": "s-1"}},
		},
		{
			name: "HTTPAPIv1IAM",
			event: func() map[string]any {
				e := v1Event("GET", "/p")
				e["version"] = "1.0"
				sub(e, "requestContext")["authorizer"] = map[string]any{"iam": map[string]any{
					"accessKey": "ASIAEXAMPLE", "userArn": "arn:aws:iam::123456789012:user/alice",
				}}
				return e
			},
			want: &gateway.Authorizer{
				Kind: "iam", Principal: "arn:aws:iam::123456789012:user/alice", AccessKey: "ASIAEXAMPLE",
				Claims: map[string]string{"accessKey": "ASIAEXAMPLE", "userArn": "arn:aws:iam::123456789012:user/alice"},
			},
		},
		{
			name: "HTTPAPIv1Lambda",
			event: func() map[string]any {
				e := v1Event("GET", "/p")
				e["version"] = "1.0"
				sub(e, "requestContext")["authorizer"] = map[string]any{"lambda": map[string]any{"user": "alice"}}
				return e
			},
			want: &gateway.Authorizer{Kind: "lambda", Claims: map[string]string{"user": "alice"}},
		},
		{
			name: "HTTPAPIv1NullClaimsIsNone",
			event: func() map[string]any {
				e := v1Event("GET", "/p")
				e["version"] = "1.0"
				sub(e, "requestContext")["authorizer"] = map[string]any{"claims": nil, "scopes": nil}
				return e
			},
		},
		{
			name: "RESTAPIv1Lambda",
			event: func() map[string]any {
				e := v1Event("GET", "/p")
				sub(e, "requestContext")["authorizer"] = map[string]any{
					"principalId": "alice", "integrationLatency": 12, "tenant": "t1",
				}
				return e
			},
			want: &gateway.Authorizer{Kind: "lambda", Claims: map[string]string{
				"principalId": "alice", "integrationLatency": "12", "tenant": "t1",
			}},
		},
		{
			name: "RESTAPIv1IAM",
			event: func() map[string]any {
				e := v1Event("GET", "/p")
				sub(e, "requestContext")["identity"] = map[string]any{
					"sourceIp": "192.0.2.2", "accessKey": "AKIAEXAMPLE", "accountId": "123456789012",
					"caller": "AIDAEXAMPLE", "user": "AIDAEXAMPLE", "userArn": "arn:aws:iam::123456789012:user/alice",
					"cognitoIdentityId": nil,
				}
				return e
			},
			want: &gateway.Authorizer{
				Kind: "iam", Principal: "arn:aws:iam::123456789012:user/alice", AccessKey: "AKIAEXAMPLE",
				Claims: map[string]string{
					"accessKey": "AKIAEXAMPLE", "accountId": "123456789012", "caller": "AIDAEXAMPLE",
					"user": "AIDAEXAMPLE", "userArn": "arn:aws:iam::123456789012:user/alice",
				},
			},
		},
		{
			name: "RESTAPIv1UserARNWithoutAccessKeyIsNone",
			event: func() map[string]any {
				e := v1Event("GET", "/p")
				sub(e, "requestContext")["identity"] = map[string]any{"sourceIp": "192.0.2.2", "userArn": "arn:aws:iam::1:user/x"}
				return e
			},
		},
		{
			name: "RESTAPIv1NullPrincipalIsNone",
			event: func() map[string]any {
				e := v1Event("GET", "/p")
				sub(e, "requestContext")["authorizer"] = map[string]any{"principalId": nil}
				return e
			},
		},
		{
			name: "RESTAPIv1NoneDespiteSpoofedHeaders",
			event: func() map[string]any {
				e := v1Event("GET", "/p")
				e["headers"] = spoof
				mv := map[string]any{}
				for k, v := range spoof {
					mv[k] = []any{v}
				}
				e["multiValueHeaders"] = mv
				return e
			},
		},
		{
			name:  "FCNeverDespiteSpoofedHeaders",
			event: func() map[string]any { e := fcEvent("GET", "/p"); e["headers"] = spoof; return e },
		},
		{
			name: "FCIgnoresAnAuthorizerInRequestContext",
			event: func() map[string]any {
				e := fcEvent("GET", "/p")
				sub(e, "requestContext")["authorizer"] = map[string]any{"jwt": map[string]any{"claims": map[string]any{"sub": "x"}}}
				return e
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, s := invokeEvent(t, context.Background(), tt.event())
			if !s.HasInfo {
				t.Fatal("no gateway.Info")
			}
			if !reflect.DeepEqual(s.Info.Authorizer, tt.want) {
				t.Errorf("authorizer = %s, want %s", describe(s.Info.Authorizer), describe(tt.want))
			}
		})
	}
}

func describe(a *gateway.Authorizer) string {
	if a == nil {
		return "nil"
	}
	return fmt.Sprintf("%+v", *a)
}

// TestLambdaHandlerKinds checks that LambdaHandler, run by the SDK, serves the Lambda kinds and
// refuses the rest with ErrUnknownEvent.
func TestLambdaHandlerKinds(t *testing.T) {
	tests := []struct {
		name    string
		event   map[string]any
		wantErr error
	}{
		{"HTTPAPIv2", v2Event("GET", "/p", ""), nil},
		{"RESTAPIv1", v1Event("GET", "/p"), nil},
		{"FCEventIsRefused", fcEvent("GET", "/p"), platform.ErrUnknownEvent},
		{"ScheduleIsRefused", map[string]any{"source": "aws.events", "detail-type": "Scheduled Event"}, platform.ErrUnknownEvent},
		{"FCTimerIsRefused", map[string]any{"triggerTime": "2026-11-29T03:00:00Z", "triggerName": "t", "payload": ""}, platform.ErrUnknownEvent},
		{"RotationIsRefused", map[string]any{"Step": "createSecret", "SecretId": "s", "ClientRequestToken": "t"}, platform.ErrUnknownEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := lambda.NewHandler(platform.LambdaHandler(echo)).Invoke(context.Background(), mustJSON(t, tt.event))
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestInvokeDetectsKinds(t *testing.T) {
	tests := []struct {
		name      string
		event     map[string]any
		wantKeys  []string
		platform  string
		requestID string
	}{
		{"HTTPAPIv2", v2Event("GET", "/p", ""), []string{"body", "cookies", "headers", "isBase64Encoded", "statusCode"}, gateway.Lambda, "v2-request"},
		{"RESTAPIv1", v1Event("GET", "/p"), []string{"body", "headers", "isBase64Encoded", "multiValueHeaders", "statusCode"}, gateway.Lambda, "v1-request"},
		{"FC", fcEvent("GET", "/p"), []string{"body", "headers", "isBase64Encoded", "statusCode"}, gateway.FC, "fc-request"},
		{"FCWithoutVersion", func() map[string]any { e := fcEvent("GET", "/p"); delete(e, "version"); return e }(),
			[]string{"body", "headers", "isBase64Encoded", "statusCode"}, gateway.FC, "fc-request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := platform.Invoke(context.Background(), echo, mustJSON(t, tt.event))
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(out, &m); err != nil {
				t.Fatal(err)
			}
			if got := slices.Sorted(maps.Keys(m)); !slices.Equal(got, tt.wantKeys) {
				t.Errorf("response keys %q, want %q", got, tt.wantKeys)
			}
			s := decodeSeen(t, m["body"].(string), false)
			if s.Info.Platform != tt.platform || s.Info.RequestID != tt.requestID {
				t.Errorf("info %+v, want %s %s", s.Info, tt.platform, tt.requestID)
			}
		})
	}
}

func TestInvokeRejects(t *testing.T) {
	big := strings.Repeat("x", platform.MaxBodyBytes+1)
	withBody := func(e map[string]any, body string, b64 bool) []byte {
		e["body"], e["isBase64Encoded"] = body, b64
		return mustJSON(t, e)
	}
	withHeader := func(e map[string]any, k, v string) []byte {
		e["headers"] = map[string]any{k: v}
		return mustJSON(t, e)
	}
	tests := []struct {
		name    string
		event   []byte
		wantErr error // nil: any error
	}{
		{"Empty", nil, nil},
		{"NotJSON", []byte("GET / HTTP/1.1\r\n"), nil},
		{"TruncatedJSON", []byte(`{"version":"2.0","requestContext":{"http":{"method":"GET"`), nil},
		{"JSONNull", []byte("null"), platform.ErrUnknownEvent},
		{"JSONArray", []byte(`[{"httpMethod":"GET"}]`), platform.ErrUnknownEvent},
		{"EmptyObject", []byte(`{}`), platform.ErrUnknownEvent},
		{"V2WithoutHTTP", []byte(`{"version":"2.0","rawPath":"/"}`), platform.ErrUnknownEvent},
		{"Schedule", []byte(`{"triggerTime":"2026-11-24T04:00:00Z","triggerName":"t","payload":""}`), platform.ErrUnknownEvent},
		{"SQS", []byte(`{"Records":[{"eventSource":"aws:sqs","body":"x"}]}`), platform.ErrUnknownEvent},
		{"V1MethodNotAString", []byte(`{"httpMethod":5,"path":"/"}`), nil},
		{"V1EmptyMethod", mustJSON(t, v1Event("", "/p")), nil},
		{"V2MethodNotAToken", mustJSON(t, v2Event("GE T", "/p", "")), nil},
		{"V2TrailingGarbage", append(mustJSON(t, v2Event("GET", "/p", "")), []byte(` {"x":1}`)...), nil},
		{"V2BadPercentEncoding", mustJSON(t, v2Event("GET", "/p%zz", "")), nil},
		{"V2HeaderNewline", withHeader(v2Event("GET", "/p", ""), "x-a", "1\r\nX-Injected: 2"), nil},
		{"FCHeaderNameInvalid", withHeader(fcEvent("GET", "/p"), "bad name", "1"), nil},
		{"V2BadBase64", withBody(v2Event("POST", "/p", ""), "!!!not base64", true), nil},
		{"V2BodyTooLarge", withBody(v2Event("POST", "/p", ""), big, false), platform.ErrBodyTooLarge},
		{"V1BodyTooLarge", withBody(v1Event("POST", "/p"), big, false), platform.ErrBodyTooLarge},
		{"FCBodyTooLarge", withBody(fcEvent("POST", "/p"), big, false), platform.ErrBodyTooLarge},
		{"Base64BodyTooLarge", withBody(v2Event("POST", "/p", ""), base64.StdEncoding.EncodeToString([]byte(big)), true), platform.ErrBodyTooLarge},
		{"FCTimeEpochNotAString", []byte(`{"version":"v1","rawPath":"/","requestContext":{"http":{"method":"GET"},"timeEpoch":5}}`), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := platform.Invoke(context.Background(), echo, tt.event)
			if err == nil {
				t.Fatalf("Invoke answered %.200s, want an error", out)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "platform.Invoke: ") {
				t.Errorf("err = %q, want it to name platform.Invoke", err)
			}
		})
	}
}

func TestHandlerPanicIsAnErrorWithoutItsValue(t *testing.T) {
	events := map[string]map[string]any{
		"HTTPAPIv2": v2Event("GET", "/panic", ""),
		"RESTAPIv1": v1Event("GET", "/panic"),
		"FC":        fcEvent("GET", "/panic"),
	}
	for name, e := range events {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := platform.Invoke(context.Background(), echo, mustJSON(t, e))
			if err == nil || strings.Contains(err.Error(), "secret-canary") {
				t.Errorf("err = %v, want an error that does not quote the panic value", err)
			}
		})
	}
}

func TestResponseStatusAndDefaults(t *testing.T) {
	tests := []struct {
		name   string
		h      http.HandlerFunc
		status int
		ctype  string
		body   string
	}{
		{"NothingWrittenIs200", func(http.ResponseWriter, *http.Request) {}, 200, "", ""},
		{"StatusOnly", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }, 204, "", ""},
		{"SniffsContentType", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html></html>")) }, 200, "text/html; charset=utf-8", "<html></html>"},
		{"FirstStatusWins", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusContinue)
			w.WriteHeader(http.StatusBadRequest)
			w.WriteHeader(http.StatusOK)
		}, 400, "", ""},
		{"HeadersAfterWriteHeaderAreDropped", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusAccepted)
			w.Header().Set("Content-Type", "late/type")
		}, 202, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := platform.Invoke(context.Background(), tt.h, mustJSON(t, fcEvent("GET", "/")))
			if err != nil {
				t.Fatal(err)
			}
			var r fcevents.HTTPTriggerResponse
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatal(err)
			}
			if r.StatusCode != tt.status || r.Headers["Content-Type"] != tt.ctype || r.Body != tt.body {
				t.Errorf("got %d %q %q, want %d %q %q", r.StatusCode, r.Headers["Content-Type"], r.Body, tt.status, tt.ctype, tt.body)
			}
		})
	}
}

func TestResponseTooLarge(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(make([]byte, platform.MaxBodyBytes+1))
	})
	_, err := platform.Invoke(context.Background(), h, mustJSON(t, v2Event("GET", "/", "")))
	if !errors.Is(err, platform.ErrBodyTooLarge) {
		t.Errorf("err = %v, want ErrBodyTooLarge", err)
	}
}

// TestConcurrentInvocations runs many invocations at once, as the FC SDK does, under -race.
func TestConcurrentInvocations(t *testing.T) {
	fch := platform.FCHandler(echo)
	lh := lambda.NewHandler(platform.LambdaHandler(echo))
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 50 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			var e fcevents.HTTPTriggerEvent
			ev := fcEvent("POST", fmt.Sprintf("/n/%d", i))
			ev["body"] = fmt.Sprint(i)
			if err := json.Unmarshal(mustJSON(t, ev), &e); err != nil {
				errs <- err
				return
			}
			r, err := fch(context.Background(), e)
			if err != nil {
				errs <- err
				return
			}
			var s seen
			if err := json.Unmarshal([]byte(r.Body), &s); err != nil || s.Path != fmt.Sprintf("/n/%d", i) {
				errs <- fmt.Errorf("invocation %d saw %q (%v)", i, s.Path, err)
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := lh.Invoke(context.Background(), mustJSON(t, v2Event("GET", fmt.Sprintf("/n/%d", i), ""))); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
