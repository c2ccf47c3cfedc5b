// Command caller-password is the self-service function: POST /v5/caller-password
// (IAM v5) and GET /v5/password-policy, on AWS Lambda, Function Compute or locally.
package main

import (
	"os"

	"chpass/functions/internal/setup"
	"chpass/functions/internal/setup/iam"
)

func main() {
	os.Exit(setup.Main("caller-password", iam.CallerPassword))
}
