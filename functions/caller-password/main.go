// Command caller-password is the self-service function: POST /v5/caller-password
// (IAM v5) and GET /v5/password-policy, on AWS Lambda, Function Compute or locally.
package main

import (
	"context"
	"net/http"
	"os"

	"chpass/functions/internal/setup"
)

func main() {
	os.Exit(setup.Main("caller-password", func(ctx context.Context, a *setup.App) (http.Handler, error) {
		return a.CallerPassword(ctx)
	}))
}
