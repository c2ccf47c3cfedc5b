package platform

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/aliyun/fc-runtime-go-sdk/events"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"chpass/shared/gateway"
)

// FCHandler returns the function fc.Start takes to serve h behind Function Compute 3.0 HTTP
// triggers: it maps an events.HTTPTriggerEvent onto h and h's answer onto an
// events.HTTPTriggerResponse. Repeated header and query values, which arrive joined by commas,
// stay joined in one value. The request's context is the invocation's, so it has its deadline,
// and carries gateway.Info with Platform gateway.FC, the event's request id (else the FC request
// id) and no Authorizer: the FC event carries no authorizer context. It returns an error only for
// an event it cannot map, an oversized body, or a handler that panicked.
func FCHandler(h http.Handler) func(ctx context.Context, event events.HTTPTriggerEvent) (*events.HTTPTriggerResponse, error) {
	return func(ctx context.Context, event events.HTTPTriggerEvent) (*events.HTTPTriggerResponse, error) {
		resp, err := invokeFC(ctx, h, &event)
		if err != nil {
			return nil, fmt.Errorf("platform.FCHandler: %w", err)
		}
		return resp, nil
	}
}

func invokeFC(ctx context.Context, h http.Handler, e *events.HTTPTriggerEvent) (*events.HTTPTriggerResponse, error) {
	rc := e.TriggerContext
	if rc.Http.Method == nil {
		return nil, fmt.Errorf("FC HTTP trigger event without requestContext.http.method: %w", ErrUnknownEvent)
	}
	header := http.Header{}
	if e.Headers != nil {
		for k, v := range *e.Headers {
			header.Add(k, v) // a comma-joined value stays one value: a comma may belong to it
		}
	}
	query := ""
	if e.QueryParameters != nil {
		q := url.Values{}
		for k, v := range *e.QueryParameters {
			q.Set(k, v)
		}
		query = q.Encode()
	}
	path := str(e.RawPath)
	if path == "" {
		path = str(rc.Http.Path)
	}
	id := str(rc.RequestId)
	if id == "" {
		if fcc, ok := fccontext.FromContext(ctx); ok {
			id = fcc.RequestID
		}
	}
	isBase64 := e.IsBase64Encoded != nil && *e.IsBase64Encoded
	req := request{
		info:     gateway.Info{Platform: gateway.FC, RequestID: id},
		method:   *rc.Http.Method,
		path:     path,
		escaped:  true,
		rawQuery: query,
		header:   header,
		host:     str(rc.DomainName),
		sourceIP: str(rc.Http.SourceIp),
		body:     str(e.Body),
		base64:   isBase64,
	}
	resp, err := serve(ctx, h, req)
	if err != nil {
		return nil, err
	}
	body, b64 := resp.encodeBody()
	return &events.HTTPTriggerResponse{
		StatusCode:      resp.status,
		Headers:         joinedHeaders(resp.header),
		IsBase64Encoded: b64,
		Body:            body,
	}, nil
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
