// Package floor is the start work the design card fixes for every chpass function:
// the configuration parsed with yaml and checked with validator/v10, and a zerolog
// logger. floor-fc and floor-lambda are the platforms' hello-worlds plus Start, the
// floor BenchmarkColdStart measures the functions against: the part of a function's
// cold start above it is chpass's own.
package floor

import (
	"os"

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

// Start parses and checks a configuration and returns the logger.
func Start() zerolog.Logger {
	var c config
	if err := yaml.Unmarshal([]byte("directory: embedded\nminimum_password_length: 8\nlog_level: info\n"), &c); err != nil {
		panic(err)
	}
	if err := validator.New(validator.WithRequiredStructEnabled()).Struct(c); err != nil {
		panic(err)
	}
	return zerolog.New(os.Stderr).With().Timestamp().Logger()
}
