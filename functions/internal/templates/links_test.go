package templates

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestEachFunctionLinksOnlyWhatItServes builds the package list of every function
// as the Makefile builds it for each cloud and checks that it links its own API
// surface and none of the others': the self-service binary has no E-HPC surface,
// the admin binary no IAM surface and no token verifier, the rotation binary
// neither, and only the admin binary has the clients that hand a task to an
// asynchronous invocation.
func TestEachFunctionLinksOnlyWhatItServes(t *testing.T) {
	const (
		iamSurface  = "chpass/shared/iamapi"
		iamBuild    = "chpass/functions/internal/setup/iam"
		ehpcSurface = "chpass/shared/ehpcapi"
		ehpcBuild   = "chpass/functions/internal/setup/ehpc"
		rotate      = "chpass/functions/internal/setup/rotate"
		jwt         = "github.com/golang-jwt/jwt/v5"
		jose        = "github.com/go-jose/go-jose/v4"
		lambdaAsync = "chpass/shared/lambdainvoke"
		fcAsync     = "chpass/shared/fcinvoke"
	)
	tests := []struct {
		fn        string
		want, not []string
	}{
		{fn: "caller-password", want: []string{iamSurface, iamBuild},
			not: []string{ehpcSurface, ehpcBuild, rotate, lambdaAsync, fcAsync}},
		{fn: "modify-user-passwords", want: []string{ehpcSurface, ehpcBuild},
			not: []string{iamSurface, iamBuild, rotate, jwt, jose}},
		{fn: "rotate-password", want: []string{rotate},
			not: []string{iamSurface, iamBuild, ehpcSurface, ehpcBuild, jwt, jose, lambdaAsync, fcAsync}},
	}
	for _, b := range egressBuilds {
		for _, tt := range tests {
			t.Run(b.cloud+"/"+tt.fn, func(t *testing.T) {
				deps := linkedPackages(t, b, tt.fn)
				for _, p := range tt.want {
					if !deps[p] {
						t.Errorf("the %s build of %s does not link %s, which it serves", b.cloud, tt.fn, p)
					}
				}
				for _, p := range tt.not {
					if deps[p] {
						t.Errorf("the %s build of %s links %s, which it does not serve", b.cloud, tt.fn, p)
					}
				}
			})
		}
	}
}

// linkedPackages returns the packages the build b of function fn links.
func linkedPackages(tb testing.TB, b egressBuild, fn string) map[string]bool {
	tb.Helper()
	cmd := exec.Command("go", "list", "-deps", "-tags", makeVariable(tb, b.tagsVar), "./functions/"+fn)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS="+b.goos, "GOARCH="+b.goarch, "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("go list -deps ./functions/%s: %v\n%s", fn, err, out)
	}
	deps := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		deps[p] = true
	}
	return deps
}
