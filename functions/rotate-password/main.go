// Command rotate-password rotates service-account passwords kept in a secret store: Secrets
// Manager's rotation steps on AWS Lambda, a timer over KMS generic secrets on Function Compute,
// and either event locally against the embedded secret backend.
package main

import (
	"os"

	"chpass/functions/internal/setup"
	"chpass/functions/internal/setup/rotate"
)

func main() {
	os.Exit(setup.MainFunction("rotate-password", rotate.Build))
}
