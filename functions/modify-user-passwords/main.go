// Command modify-user-passwords is the admin function: the E-HPC 2018-04-12 RPC
// actions ModifyUserPasswords, ListUsers, ListTasks and ListClusters, on AWS Lambda,
// Function Compute or locally; on the clouds, with Redis and tasks.key, Async batches
// run in the function's own asynchronous invocations.
package main

import (
	"os"

	"chpass/functions/internal/setup"
	"chpass/functions/internal/setup/ehpc"
)

func main() {
	os.Exit(setup.MainFunction("modify-user-passwords", ehpc.Build))
}
