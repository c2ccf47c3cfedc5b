// Command hello-fc is the smallest HTTP function on Function Compute: it answers
// every HTTP trigger event with a fixed response. BenchmarkColdStart builds it as the
// Makefile builds the Function Compute binaries, to compare cold starts and sizes with.
package main

import (
	"context"

	"github.com/aliyun/fc-runtime-go-sdk/events"
	"github.com/aliyun/fc-runtime-go-sdk/fc"
)

func main() {
	fc.Start(func(context.Context, events.HTTPTriggerEvent) (*events.HTTPTriggerResponse, error) {
		return &events.HTTPTriggerResponse{
			StatusCode: 200,
			Headers:    map[string]string{"Content-Type": "application/json"},
			Body:       `{"hello":"world"}`,
		}, nil
	})
}
