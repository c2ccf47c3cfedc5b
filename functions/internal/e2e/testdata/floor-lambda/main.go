// Command floor-lambda is hello-lambda plus the start work the design card fixes for every
// chpass function: the configuration parsed with yaml and checked with
// validator/v10, and a zerolog logger. BenchmarkColdStart measures it beside
// hello-lambda and the functions: the part of a function's cold start above this floor
// is chpass's own.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/go-playground/validator/v10"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"
)

// config is a configuration as small as the floor needs: a key of each kind the
// validator checks.
type config struct {
	Directory string `yaml:"directory" validate:"required"`
	MinLength int    `yaml:"minimum_password_length" validate:"gte=6,lte=32"`
	LogLevel  string `yaml:"log_level" validate:"omitempty,oneof=debug info warn error"`
}

func main() {
	var c config
	if err := yaml.Unmarshal([]byte("directory: embedded\nminimum_password_length: 8\nlog_level: info\n"), &c); err != nil {
		panic(err)
	}
	if err := validator.New(validator.WithRequiredStructEnabled()).Struct(c); err != nil {
		panic(err)
	}
	log := zerolog.New(os.Stderr).With().Timestamp().Logger()
	lambda.Start(func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		log.Info().Msg("answered")
		return events.APIGatewayV2HTTPResponse{
			StatusCode: 200,
			Headers:    map[string]string{"Content-Type": "application/json"},
			Body:       `{"hello":"world"}`,
		}, nil
	})
}
