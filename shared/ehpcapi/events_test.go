package ehpcapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"chpass/shared/gateway"
	"chpass/shared/password"
)

// The sample events in events/modify-user-passwords are signed for a fixed
// moment, so they are stale 15 minutes after it: replaying them against a
// live server answers InvalidTimeStamp.Expired. This test checks them at that
// moment.
const eventsDir = "../../events/modify-user-passwords"

var eventTime = time.Date(2026, 11, 24, 4, 7, 33, 0, time.UTC)

// eventParams is the ModifyUserPasswords request every sample carries, for
// cluster ehpc-demo, users user1 and user2, as the SDK sends it.
func eventParams(method, nonce string) map[string]string {
	p := map[string]string{
		"Action":           ActionModifyUserPasswords,
		"Version":          Version,
		"Format":           "JSON",
		"RegionId":         "cn-hangzhou",
		"AccessKeyId":      "LTAIexampleKEY",
		"SignatureMethod":  "HMAC-SHA1",
		"SignatureVersion": "1.0",
		"SignatureType":    "",
		"SignatureNonce":   nonce,
		"Timestamp":        eventTime.Format("2006-01-02T15:04:05Z"),
		"ClusterId":        "ehpc-demo",
		"Async":            "false",
		"User.1.Name":      "user1",
		"User.1.Password":  "User1-New-Pass2@",
		"User.2.Name":      "user2",
		"User.2.Password":  "User2-New-Pass2@",
	}
	p["Signature"] = Sign(method, p, "exampleSecret0123456789")
	return p
}

// sortedQuery encodes p sorted by name, as the SDK's url.Values does.
func sortedQuery(p map[string]string) string { return encode(p) }

func sampleEvents() map[string]any {
	getQ := eventParams("GET", "5b1ab24cd71625998e5564976958ae85")
	postQ := eventParams("POST", "0c2f7e4d9a8b41c6b3e15f0a7d6c2e91")
	restQ := eventParams("GET", "9e7d5c3b1a0f4e2d8c6b4a2f0e1d3c5b")
	urlQ := eventParams("GET", "3a5c7e9b1d2f4a6c8e0b2d4f6a8c0e1b")
	fcQ := eventParams("GET", "7f6e5d4c3b2a19087f6e5d4c3b2a1908")
	single := func(p map[string]string) map[string]string { return p }
	multi := func(p map[string]string) map[string][]string {
		m := map[string][]string{}
		for k, v := range p {
			m[k] = []string{v}
		}
		return m
	}
	iamQ := map[string]string{
		"Action": ActionModifyUserPasswords, "Version": Version, "ClusterId": "ehpc-demo",
		"User.1.Name": "user1", "User.1.Password": "User1-New-Pass2@", "User.2.Name": "user2", "User.2.Password": "User2-New-Pass2@",
	}
	const apiHost = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
	const sdkUA = "AlibabaCloud (linux; amd64) Golang/1.26.0 Core/1.62.0 ehpc/2018-04-12"
	v2 := func(method, raw string, q map[string]string, body string, headers map[string]string, authorizer map[string]any) map[string]any {
		h := map[string]string{
			"accept-encoding": "gzip", "host": apiHost, "user-agent": sdkUA,
			"x-acs-request-id": "", "x-forwarded-for": "203.0.113.10", "x-forwarded-port": "443", "x-forwarded-proto": "https",
			"x-sdk-core-version": "1.62.0", "x-sdk-invoke-type": "normal", "x-amzn-trace-id": "Root=1-6742a6b5-3c1d2e4f5a6b7c8d9e0f1a2b",
		}
		delete(h, "x-acs-request-id")
		for k, v := range headers {
			h[k] = v
		}
		rc := map[string]any{
			"accountId": "123456789012", "apiId": "a1b2c3d4e5", "domainName": apiHost, "domainPrefix": "a1b2c3d4e5",
			"http":      map[string]any{"method": method, "path": "/", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10", "userAgent": sdkUA},
			"requestId": "Ba9XqhW0IAMEV3g=", "routeKey": "$default", "stage": "$default",
			"time": "24/Nov/2026:04:07:33 +0000", "timeEpoch": eventTime.UnixMilli(),
		}
		if authorizer != nil {
			rc["authorizer"] = authorizer
		}
		ev := map[string]any{
			"version": "2.0", "routeKey": "$default", "rawPath": "/", "rawQueryString": raw,
			"headers": h, "requestContext": rc, "isBase64Encoded": false,
		}
		if q != nil {
			ev["queryStringParameters"] = single(q)
		}
		if body != "" {
			ev["body"] = body
		}
		return ev
	}
	form := sortedQuery(postQ)
	postEv := v2("POST", "", nil, base64.StdEncoding.EncodeToString([]byte(form)),
		map[string]string{"content-type": "application/x-www-form-urlencoded", "content-length": strconv.Itoa(len(form))}, nil)
	postEv["isBase64Encoded"] = true
	funcURL := v2("GET", sortedQuery(urlQ), urlQ, "", map[string]string{"host": "abcdefghij1234567890klmnop.lambda-url.us-east-1.on.aws"}, nil)
	rcu := funcURL["requestContext"].(map[string]any)
	rcu["domainName"], rcu["domainPrefix"], rcu["apiId"] = "abcdefghij1234567890klmnop.lambda-url.us-east-1.on.aws", "abcdefghij1234567890klmnop", "abcdefghij1234567890klmnop"
	rcu["requestId"] = "f1e2d3c4-b5a6-4789-8abc-0123456789ab"
	return map[string]any{
		"apigw-http-v2.json":           v2("GET", sortedQuery(getQ), getQ, "", nil, nil),
		"apigw-http-v2-post-form.json": postEv,
		"apigw-http-v2-iam-authorizer.json": v2("GET", sortedQuery(iamQ), iamQ, "", map[string]string{
			"authorization":        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261124/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
			"x-amz-date":           "20261124T040733Z",
			"x-amz-content-sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		}, map[string]any{"iam": map[string]any{
			"accessKey": "AKIAIOSFODNN7EXAMPLE", "accountId": "123456789012", "callerId": "AIDACKCEVSQ6C2EXAMPLE",
			"cognitoIdentity": nil, "principalOrgId": "o-a1b2c3d4e5", "userArn": "arn:aws:iam::123456789012:user/hpc-admin", "userId": "AIDACKCEVSQ6C2EXAMPLE",
		}}),
		"function-url.json": funcURL,
		"apigw-rest-v1.json": map[string]any{
			"resource": "/", "path": "/", "httpMethod": "GET",
			"headers":                         map[string]string{"Host": "r7s8t9u0v1.execute-api.us-east-1.amazonaws.com", "User-Agent": sdkUA, "X-Forwarded-For": "203.0.113.10", "X-Forwarded-Port": "443", "X-Forwarded-Proto": "https", "x-sdk-core-version": "1.62.0"},
			"multiValueHeaders":               map[string][]string{"Host": {"r7s8t9u0v1.execute-api.us-east-1.amazonaws.com"}, "User-Agent": {sdkUA}, "X-Forwarded-For": {"203.0.113.10"}, "X-Forwarded-Port": {"443"}, "X-Forwarded-Proto": {"https"}, "x-sdk-core-version": {"1.62.0"}},
			"queryStringParameters":           single(restQ),
			"multiValueQueryStringParameters": multi(restQ),
			"pathParameters":                  nil, "stageVariables": nil, "body": nil, "isBase64Encoded": false,
			"requestContext": map[string]any{
				"accountId": "123456789012", "apiId": "r7s8t9u0v1", "domainName": "r7s8t9u0v1.execute-api.us-east-1.amazonaws.com",
				"httpMethod": "GET", "path": "/prod/", "protocol": "HTTP/1.1", "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
				"requestTime": "24/Nov/2026:04:07:33 +0000", "requestTimeEpoch": eventTime.UnixMilli(), "resourceId": "abc123", "resourcePath": "/", "stage": "prod",
				"identity": map[string]any{"sourceIp": "203.0.113.10", "userAgent": sdkUA, "accessKey": nil, "accountId": nil, "caller": nil, "user": nil, "userArn": nil},
			},
		},
		"fc-http.json": map[string]any{
			"version": "v1", "rawPath": "/", "body": "", "isBase64Encoded": false,
			"headers":         map[string]string{"Accept-Encoding": "gzip", "Host": "modify-user-passwords-xvqjkfpzab.cn-hangzhou.fcapp.run", "User-Agent": sdkUA, "X-Forwarded-Proto": "https", "X-Sdk-Core-Version": "1.62.0"},
			"queryParameters": single(fcQ),
			"requestContext": map[string]any{
				"accountId": "1234567890123456", "domainName": "modify-user-passwords-xvqjkfpzab.cn-hangzhou.fcapp.run", "domainPrefix": "modify-user-passwords-xvqjkfpzab",
				"http":      map[string]any{"method": "GET", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10", "userAgent": sdkUA},
				"requestId": "1-6742a6b5-15a0b8f2-2c2f6a8e4b0f", "time": "2026-11-24T04:07:33Z", "timeEpoch": strconv.Itoa(int(eventTime.UnixMilli())),
			},
		},
	}
}

// TestWriteEvents regenerates the sample events when UPDATE_EVENTS=1.
func TestWriteEvents(t *testing.T) {
	if os.Getenv("UPDATE_EVENTS") != "1" {
		t.Skip("set UPDATE_EVENTS=1 to regenerate events/modify-user-passwords")
	}
	for name, ev := range sampleEvents() {
		b, err := json.MarshalIndent(ev, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(eventsDir, name), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// eventRequest builds the request a platform adapter would make of a sample,
// with the authorizer in the context when the event carries one.
func eventRequest(tb testing.TB, raw []byte) *http.Request {
	tb.Helper()
	var ev struct {
		RawQueryString  string            `json:"rawQueryString"`
		QueryString     map[string]string `json:"queryStringParameters"`
		QueryParameters map[string]string `json:"queryParameters"`
		HTTPMethod      string            `json:"httpMethod"`
		Body            *string           `json:"body"`
		IsBase64Encoded bool              `json:"isBase64Encoded"`
		Headers         map[string]string `json:"headers"`
		RequestContext  struct {
			HTTP struct {
				Method string `json:"method"`
			} `json:"http"`
			Authorizer struct {
				IAM *struct {
					AccessKey string `json:"accessKey"`
					UserARN   string `json:"userArn"`
				} `json:"iam"`
			} `json:"authorizer"`
		} `json:"requestContext"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		tb.Fatal(err)
	}
	method := ev.HTTPMethod
	if method == "" {
		method = ev.RequestContext.HTTP.Method
	}
	query := ev.RawQueryString
	if query == "" {
		q := url.Values{}
		for k, v := range ev.QueryString {
			q.Set(k, v)
		}
		for k, v := range ev.QueryParameters {
			q.Set(k, v)
		}
		query = q.Encode()
	}
	body := ""
	if ev.Body != nil {
		body = *ev.Body
		if ev.IsBase64Encoded {
			b, err := base64.StdEncoding.DecodeString(body)
			if err != nil {
				tb.Fatal(err)
			}
			body = string(b)
		}
	}
	r := httptest.NewRequest(method, "/?"+query, strings.NewReader(body))
	for k, v := range ev.Headers {
		r.Header.Set(k, v)
	}
	info := gateway.Info{Platform: gateway.Lambda, RequestID: "sample"}
	if iam := ev.RequestContext.Authorizer.IAM; iam != nil {
		info.Authorizer = &gateway.Authorizer{Kind: "iam", AccessKey: iam.AccessKey, Principal: iam.UserARN}
	}
	return r.WithContext(gateway.With(context.Background(), info))
}

// TestSampleEvents serves every sample at the moment it was signed: each resets
// user1 and user2 on ehpc-demo. The IAM one needs a key configured with the
// authorizer's access key id and TrustGateway.
func TestSampleEvents(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(eventsDir, "*.json"))
	if err != nil || len(files) < 6 {
		t.Fatalf("%d sample events: %v", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			dir := newFakeDir("user1", "user2")
			h, err := New(Options{
				Clusters: map[string]Cluster{"ehpc-demo": {Status: StatusRunning, Service: password.NewService(password.DefaultPolicy(), dir)}},
				AccessKeys: []AccessKey{
					{ID: "LTAIexampleKEY", Secret: "exampleSecret0123456789", Actions: []string{ActionModifyUserPasswords, ActionListUsers, ActionListTasks}, Clusters: []string{"*"}},
					{ID: "AKIAIOSFODNN7EXAMPLE", Secret: "unused-for-iam", Actions: []string{ActionModifyUserPasswords}, Clusters: []string{"ehpc-demo"}},
				},
				TrustGateway: true,
				Now:          func() time.Time { return eventTime.Add(time.Minute) },
				Logger:       zerolog.Nop(),
			})
			if err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, eventRequest(t, raw))
			if w.Code != 200 {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if dir.password("user1") != "User1-New-Pass2@" || dir.password("user2") != "User2-New-Pass2@" {
				t.Error("the sample did not reset user1 and user2")
			}
			// An hour later the same sample is stale (unless a gateway proved it).
			if !strings.Contains(filepath.Base(f), "iam") {
				h.now = func() time.Time { return eventTime.Add(time.Hour) }
				w = httptest.NewRecorder()
				h.ServeHTTP(w, eventRequest(t, raw))
				if !strings.Contains(w.Body.String(), CodeTimestampExpired) {
					t.Errorf("an hour later: %s", w.Body)
				}
			}
		})
	}
}
