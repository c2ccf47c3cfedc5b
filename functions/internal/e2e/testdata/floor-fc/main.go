// Command floor-fc is hello-fc plus the start work the design card fixes for every
// chpass function (package floor).
package main

import (
	"context"

	"github.com/aliyun/fc-runtime-go-sdk/events"
	"github.com/aliyun/fc-runtime-go-sdk/fc"

	"chpass/functions/internal/e2e/testdata/floor"
)

func main() {
	log := floor.Start()
	fc.Start(func(context.Context, events.HTTPTriggerEvent) (*events.HTTPTriggerResponse, error) {
		log.Info().Msg("answered")
		return &events.HTTPTriggerResponse{
			StatusCode: 200,
			Headers:    map[string]string{"Content-Type": "application/json"},
			Body:       `{"hello":"world"}`,
		}, nil
	})
}
