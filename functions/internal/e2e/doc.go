// Package e2e runs the packaged functions (the zips of make package) as the clouds
// do, behind loopback Lambda and Function Compute runtime APIs. It has only tests
// and a cold-start benchmark: go test ./functions/internal/e2e/ after make package.
package e2e
