package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/aliyun/fc-runtime-go-sdk/events"

	"chpass/shared/gateway"
)

func init() {
	for _, k := range []kind{kindV2, kindV1, kindFC} {
		registerDetector(Detector{Name: string(k), Match: isHTTP(k)})
	}
}

// HTTP returns the kinds of an HTTP function serving h: API Gateway HTTP API (payload 2.0),
// Lambda Function URL and REST API (payload 1.0) events on Lambda, HTTP trigger events on
// Function Compute. Each maps its event onto an *http.Request and h's answer onto the proxy
// response, as LambdaHandler and FCHandler describe.
func HTTP(h http.Handler) []Kind {
	return []Kind{
		{Name: string(kindV2), On: []string{gateway.Lambda}, Match: isHTTP(kindV2),
			Handle: func(ctx context.Context, _ string, data []byte) (any, error) { return invokeV2(ctx, h, data) }},
		{Name: string(kindV1), On: []string{gateway.Lambda}, Match: isHTTP(kindV1),
			Handle: func(ctx context.Context, _ string, data []byte) (any, error) { return invokeV1(ctx, h, data) }},
		{Name: string(kindFC), On: []string{gateway.FC}, Match: isHTTP(kindFC),
			Handle: func(ctx context.Context, _ string, data []byte) (any, error) {
				var e events.HTTPTriggerEvent
				if err := json.Unmarshal(data, &e); err != nil {
					return nil, fmt.Errorf("malformed FC HTTP trigger event: %w", err)
				}
				return invokeFC(ctx, h, &e)
			}},
	}
}

// HTTPFunction is the Function of an HTTP function: its HTTP kinds, and h served locally.
func HTTPFunction(h http.Handler) Function {
	return Function{Kinds: HTTP(h), Local: h}
}

// isHTTP returns the Match of the HTTP event kind k.
func isHTTP(k kind) func([]byte) bool {
	return func(data []byte) bool {
		got, err := detect(data)
		return err == nil && got == k
	}
}
