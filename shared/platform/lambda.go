package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"chpass/shared/gateway"
)

// v2Event is an API Gateway HTTP API payload 2.0 or Lambda Function URL event, as far as it is read.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
type v2Event struct {
	Version               string            `json:"version"`
	RawPath               string            `json:"rawPath"`
	RawQueryString        string            `json:"rawQueryString"`
	Cookies               []string          `json:"cookies"`
	Headers               map[string]string `json:"headers"`
	QueryStringParameters map[string]string `json:"queryStringParameters"`
	Body                  string            `json:"body"`
	IsBase64Encoded       bool              `json:"isBase64Encoded"`
	RequestContext        struct {
		RequestID  string        `json:"requestId"`
		DomainName string        `json:"domainName"`
		Authorizer *v2Authorizer `json:"authorizer"`
		HTTP       struct {
			Method   string `json:"method"`
			Path     string `json:"path"`
			SourceIP string `json:"sourceIp"`
		} `json:"http"`
	} `json:"requestContext"`
}

type v2Authorizer struct {
	JWT *struct {
		Claims map[string]any `json:"claims"`
	} `json:"jwt"`
	IAM *struct {
		AccessKey      string `json:"accessKey"`
		AccountID      string `json:"accountId"`
		CallerID       string `json:"callerId"`
		PrincipalOrgID string `json:"principalOrgId"`
		UserARN        string `json:"userArn"`
		UserID         string `json:"userId"`
	} `json:"iam"`
	Lambda map[string]any `json:"lambda"`
}

// v2Response is the payload 2.0 response, which Function URLs share.
type v2Response struct {
	StatusCode      int               `json:"statusCode"`
	Headers         map[string]string `json:"headers,omitempty"`
	Cookies         []string          `json:"cookies,omitempty"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
}

// v1Event is an API Gateway REST API (or HTTP API payload 1.0) proxy event, as far as it is read.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html
type v1Event struct {
	Version                         string              `json:"version"` // "1.0" from an HTTP API; absent from a REST API
	Path                            string              `json:"path"`
	HTTPMethod                      string              `json:"httpMethod"`
	Headers                         map[string]string   `json:"headers"`
	MultiValueHeaders               map[string][]string `json:"multiValueHeaders"`
	QueryStringParameters           map[string]string   `json:"queryStringParameters"`
	MultiValueQueryStringParameters map[string][]string `json:"multiValueQueryStringParameters"`
	Body                            string              `json:"body"`
	IsBase64Encoded                 bool                `json:"isBase64Encoded"`
	RequestContext                  struct {
		RequestID  string         `json:"requestId"`
		DomainName string         `json:"domainName"`
		Authorizer map[string]any `json:"authorizer"`
		Identity   struct {
			AccessKey string `json:"accessKey"`
			AccountID string `json:"accountId"`
			Caller    string `json:"caller"`
			SourceIP  string `json:"sourceIp"`
			User      string `json:"user"`
			UserARN   string `json:"userArn"`
		} `json:"identity"`
	} `json:"requestContext"`
}

// v1Response is the REST API proxy response.
type v1Response struct {
	StatusCode        int                 `json:"statusCode"`
	Headers           map[string]string   `json:"headers,omitempty"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders,omitempty"`
	Body              string              `json:"body"`
	IsBase64Encoded   bool                `json:"isBase64Encoded"`
}

// LambdaHandler returns the function lambda.Start takes to serve h: it maps API Gateway HTTP API
// (payload 2.0), Lambda Function URL and REST API (payload 1.0) events onto h and h's answer onto
// the matching proxy response. The request's context is the invocation's, so it has its deadline,
// and carries gateway.Info with Platform gateway.Lambda, the event's request id (else the Lambda
// request id) and the authorizer the event's requestContext names. It returns an error only for
// an event it cannot map, an oversized body, or a handler that panicked.
func LambdaHandler(h http.Handler) func(ctx context.Context, event json.RawMessage) (any, error) {
	kinds := HTTP(h)
	return func(ctx context.Context, event json.RawMessage) (any, error) {
		resp, err := dispatch(ctx, gateway.Lambda, kinds, event)
		if err != nil {
			return nil, fmt.Errorf("platform.LambdaHandler: %w", err)
		}
		return resp, nil
	}
}

// lambdaRequestID returns id, else the Lambda request id in ctx.
func lambdaRequestID(ctx context.Context, id string) string {
	if id != "" {
		return id
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return lc.AwsRequestID
	}
	return ""
}

func invokeV2(ctx context.Context, h http.Handler, data []byte) (*v2Response, error) {
	var e v2Event
	if err := decodeJSON(data, &e); err != nil {
		return nil, fmt.Errorf("malformed HTTP API 2.0 event: %w", err)
	}
	header := http.Header{}
	for k, v := range e.Headers {
		header.Add(k, v)
	}
	if len(e.Cookies) > 0 {
		// Payload 2.0 moves the Cookie header into cookies.
		cookies := strings.Join(e.Cookies, "; ")
		if c := header.Get("Cookie"); c != "" {
			cookies = c + "; " + cookies
		}
		header.Set("Cookie", cookies)
	}
	path := e.RawPath
	if path == "" {
		path = e.RequestContext.HTTP.Path
	}
	query := e.RawQueryString
	if query == "" && len(e.QueryStringParameters) > 0 {
		q := url.Values{}
		for k, v := range e.QueryStringParameters {
			q.Set(k, v)
		}
		query = q.Encode()
	}
	req := request{
		info: gateway.Info{
			Platform:   gateway.Lambda,
			RequestID:  lambdaRequestID(ctx, e.RequestContext.RequestID),
			Authorizer: e.RequestContext.Authorizer.authorizer(),
		},
		method:   e.RequestContext.HTTP.Method,
		path:     path,
		escaped:  true,
		rawQuery: query,
		header:   header,
		host:     e.RequestContext.DomainName,
		sourceIP: e.RequestContext.HTTP.SourceIP,
		body:     e.Body,
		base64:   e.IsBase64Encoded,
	}
	resp, err := serve(ctx, h, req)
	if err != nil {
		return nil, err
	}
	body, b64 := resp.encodeBody()
	out := &v2Response{
		StatusCode:      resp.status,
		Headers:         joinedHeaders(resp.header, "Set-Cookie"),
		Cookies:         resp.header.Values("Set-Cookie"),
		Body:            body,
		IsBase64Encoded: b64,
	}
	return out, nil
}

// authorizer returns what a payload 2.0 authorizer proved, or nil.
func (a *v2Authorizer) authorizer() *gateway.Authorizer {
	switch {
	case a == nil:
		return nil
	case a.JWT != nil:
		return &gateway.Authorizer{Kind: "jwt", Claims: flattenMap(a.JWT.Claims)}
	case a.IAM != nil && (a.IAM.UserARN != "" || a.IAM.AccessKey != ""):
		principal := a.IAM.UserARN
		if principal == "" {
			principal = a.IAM.UserID
		}
		claims := map[string]string{}
		for k, v := range map[string]string{
			"accessKey":      a.IAM.AccessKey,
			"accountId":      a.IAM.AccountID,
			"callerId":       a.IAM.CallerID,
			"principalOrgId": a.IAM.PrincipalOrgID,
			"userArn":        a.IAM.UserARN,
			"userId":         a.IAM.UserID,
		} {
			if v != "" {
				claims[k] = v
			}
		}
		return &gateway.Authorizer{Kind: "iam", Principal: principal, AccessKey: a.IAM.AccessKey, Claims: claims}
	case a.Lambda != nil:
		return &gateway.Authorizer{Kind: "lambda", Claims: flattenMap(a.Lambda)}
	}
	return nil
}

func invokeV1(ctx context.Context, h http.Handler, data []byte) (*v1Response, error) {
	var e v1Event
	if err := decodeJSON(data, &e); err != nil {
		return nil, fmt.Errorf("malformed REST API event: %w", err)
	}
	header := http.Header{}
	for k, vs := range e.MultiValueHeaders {
		for _, v := range vs {
			header.Add(k, v)
		}
	}
	for k, v := range e.Headers {
		if _, ok := header[http.CanonicalHeaderKey(k)]; !ok {
			header.Add(k, v)
		}
	}
	q := url.Values{}
	for k, vs := range e.MultiValueQueryStringParameters {
		q[k] = append(q[k], vs...)
	}
	for k, v := range e.QueryStringParameters {
		if _, ok := q[k]; !ok {
			q.Set(k, v)
		}
	}
	req := request{
		info: gateway.Info{
			Platform:   gateway.Lambda,
			RequestID:  lambdaRequestID(ctx, e.RequestContext.RequestID),
			Authorizer: e.authorizer(),
		},
		method:   e.HTTPMethod,
		path:     e.Path, // REST API delivers the path decoded
		rawQuery: q.Encode(),
		header:   header,
		host:     e.RequestContext.DomainName,
		sourceIP: e.RequestContext.Identity.SourceIP,
		body:     e.Body,
		base64:   e.IsBase64Encoded,
	}
	resp, err := serve(ctx, h, req)
	if err != nil {
		return nil, err
	}
	body, b64 := resp.encodeBody()
	out := &v1Response{
		StatusCode:        resp.status,
		Headers:           map[string]string{},
		MultiValueHeaders: map[string][]string{},
		Body:              body,
		IsBase64Encoded:   b64,
	}
	for k, vs := range resp.header {
		if len(vs) == 0 {
			continue
		}
		// API Gateway merges the two maps, preferring multiValueHeaders for a name in both.
		out.Headers[k] = vs[len(vs)-1]
		out.MultiValueHeaders[k] = vs
	}
	return out, nil
}

// authorizer returns what a REST API authorizer, or AWS_IAM authorization, proved, or nil.
func (e *v1Event) authorizer() *gateway.Authorizer {
	if e.Version == "1.0" && (e.RequestContext.Authorizer["iam"] != nil || e.RequestContext.Authorizer["lambda"] != nil) {
		// An HTTP API in payload 1.0 nests IAM and Lambda authorizers as payload 2.0 does.
		var a v2Authorizer
		if b, err := json.Marshal(e.RequestContext.Authorizer); err == nil && decodeJSON(b, &a) == nil {
			a.JWT = nil
			return a.authorizer()
		}
		return nil
	}
	if claims := flattenMap(e.RequestContext.Authorizer); len(claims) > 0 {
		if c, ok := e.RequestContext.Authorizer["claims"].(map[string]any); ok {
			kind := "cognito"
			if e.Version == "1.0" {
				kind = "jwt" // an HTTP API JWT authorizer, in payload 1.0
			}
			return &gateway.Authorizer{Kind: kind, Claims: flattenMap(c)}
		}
		return &gateway.Authorizer{Kind: "lambda", Claims: claims}
	}
	id := e.RequestContext.Identity
	if id.UserARN == "" || id.AccessKey == "" {
		return nil
	}
	claims := map[string]string{}
	for k, v := range map[string]string{
		"accessKey": id.AccessKey,
		"accountId": id.AccountID,
		"caller":    id.Caller,
		"user":      id.User,
		"userArn":   id.UserARN,
	} {
		if v != "" {
			claims[k] = v
		}
	}
	return &gateway.Authorizer{Kind: "iam", Principal: id.UserARN, AccessKey: id.AccessKey, Claims: claims}
}
