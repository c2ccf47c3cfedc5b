// Command hello-lambda is the smallest HTTP function on AWS Lambda: it answers every
// API Gateway HTTP API (payload 2.0) event with a fixed response. BenchmarkColdStart
// builds it as the Makefile builds bootstrap, to compare cold starts and sizes with.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return events.APIGatewayV2HTTPResponse{
			StatusCode: 200,
			Headers:    map[string]string{"Content-Type": "application/json"},
			Body:       `{"hello":"world"}`,
		}, nil
	})
}
