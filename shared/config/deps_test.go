package config_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestSeamDependencies checks that config is plain data and that the secret
// stores do not reach the LDAP adapter through it: go list -deps of config, kms
// and secretsmanager holds neither go-ldap nor chpass/shared/ldap, and kms and
// secretsmanager do not import config. It also checks that the rotation domain
// knows no other domain, so that the secret stores, which implement its Secrets
// port, do not pull in the password domain (and its validator) through it: go
// list -deps of rotation, kms and secretsmanager holds no chpass/shared/password.
func TestSeamDependencies(t *testing.T) {
	tests := []struct {
		pkg       string
		forbidden []string
	}{
		{"chpass/shared/config", []string{"github.com/go-ldap/ldap/v3", "chpass/shared/ldap"}},
		{"chpass/shared/kms", []string{"github.com/go-ldap/ldap/v3", "chpass/shared/ldap", "chpass/shared/config", "chpass/shared/password"}},
		{"chpass/shared/secretsmanager", []string{"github.com/go-ldap/ldap/v3", "chpass/shared/ldap", "chpass/shared/config", "chpass/shared/password"}},
		{"chpass/shared/rotation", []string{"github.com/go-ldap/ldap/v3", "chpass/shared/ldap", "chpass/shared/config", "chpass/shared/password"}},
	}
	for _, tt := range tests {
		t.Run(tt.pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", tt.pkg).Output()
			if err != nil {
				t.Fatalf("go list -deps %s: %v", tt.pkg, err)
			}
			deps := map[string]bool{}
			for _, d := range strings.Fields(string(out)) {
				deps[d] = true
			}
			if !deps[tt.pkg] {
				t.Fatalf("go list -deps %s does not list the package itself:\n%s", tt.pkg, out)
			}
			for _, f := range tt.forbidden {
				if deps[f] {
					t.Errorf("%s depends on %s", tt.pkg, f)
				}
			}
		})
	}
}
