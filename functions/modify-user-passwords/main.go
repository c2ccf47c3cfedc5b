// Command modify-user-passwords is the admin function: the E-HPC 2018-04-12 RPC
// actions ModifyUserPasswords, ListUsers and ListTasks, on AWS Lambda, Function
// Compute or locally.
package main

import (
	"context"
	"net/http"
	"os"

	"chpass/functions/internal/setup"
)

func main() {
	os.Exit(setup.Main("modify-user-passwords", func(ctx context.Context, a *setup.App) (http.Handler, error) {
		return a.ModifyUserPasswords(ctx, setup.NoAsync)
	}))
}
