package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// kind names an event's shape.
type kind string

const (
	kindV2 kind = "HTTP API 2.0 / Function URL"
	kindV1 kind = "REST API"
	kindFC kind = "FC HTTP trigger"
)

// probe holds the fields that tell the event kinds apart.
type probe struct {
	Version        *string         `json:"version"`
	HTTPMethod     *string         `json:"httpMethod"`
	RawPath        *string         `json:"rawPath"`
	Query          json.RawMessage `json:"queryParameters"`
	RequestContext *struct {
		HTTP *struct {
			Method *string `json:"method"`
		} `json:"http"`
	} `json:"requestContext"`
}

// detect tells which kind of HTTP event data is. An API Gateway REST API event (and an HTTP API
// payload 1.0 event) has httpMethod; an HTTP API payload 2.0 or Function URL event has version
// "2.0" and requestContext.http; a Function Compute HTTP trigger event has version "v1" and
// requestContext.http.
func detect(data []byte) (kind, error) {
	if len(data) > 2*MaxBodyBytes {
		return "", fmt.Errorf("event of %d bytes: %w", len(data), ErrBodyTooLarge)
	}
	var p probe
	if err := json.Unmarshal(data, &p); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return "", fmt.Errorf("event is not valid JSON: %w", err)
		}
		return "", fmt.Errorf("event is not a JSON object of a known kind: %w", ErrUnknownEvent)
	}
	hasHTTP := p.RequestContext != nil && p.RequestContext.HTTP != nil && p.RequestContext.HTTP.Method != nil
	switch {
	case p.HTTPMethod != nil:
		return kindV1, nil
	case hasHTTP && p.Version != nil && *p.Version == "2.0":
		return kindV2, nil
	case hasHTTP && p.Version != nil && *p.Version == "v1":
		return kindFC, nil
	case hasHTTP && p.Version == nil && p.Query != nil:
		return kindFC, nil
	}
	return "", ErrUnknownEvent
}

// Invoke runs h once on a platform event: data is the JSON of an API Gateway HTTP API (payload
// 2.0), REST API (payload 1.0), Lambda Function URL or Function Compute HTTP trigger event, whose
// kind Invoke detects. It returns the response JSON that platform expects from the function. The
// request's gateway.Info is as LambdaHandler or FCHandler would make it, and its context is ctx's.
// Invoke serves `-event FILE` runs and tests; InvokeKinds does the same for any kinds.
func Invoke(ctx context.Context, h http.Handler, data []byte) ([]byte, error) {
	return InvokeKinds(ctx, data, HTTP(h)...)
}
