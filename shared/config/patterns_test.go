package config

import (
	"regexp"
	"strings"
	"testing"
)

// The rules reference and envVarName state, as the regexps they replace.
var (
	refPattern    = regexp.MustCompile(`^(?:\$\{([^{}]+)\}|\{\{([^{}]+)\}\})$`)
	envVarPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// checkPatterns fails t unless reference and envVarName agree with the regexps on s.
func checkPatterns(t *testing.T, s string) {
	t.Helper()
	ref, ok := reference(s)
	m := refPattern.FindStringSubmatch(s)
	if ok != (m != nil) || (ok && ref != m[1]+m[2]) {
		t.Fatalf("reference(%q) = %q, %v; the pattern finds %q", s, ref, ok, m)
	}
	if got, want := envVarName(s), envVarPattern.MatchString(s); got != want {
		t.Fatalf("envVarName(%q) = %v, the pattern says %v", s, got, want)
	}
}

// TestPatternsAgreeWithRegexps checks reference and envVarName against the
// regexps on every string of up to three characters from an alphabet of what
// matters to them, and on longer references.
func TestPatternsAgreeWithRegexps(t *testing.T) {
	alphabet := []string{"$", "{", "}", "a", "Z", "_", "0", "-", ":", " ", "\n", "é", "\xff"}
	var all func(prefix string, n int)
	all = func(prefix string, n int) {
		checkPatterns(t, prefix)
		for _, c := range alphabet {
			for _, wrap := range []string{"", "${", "{{"} {
				checkPatterns(t, wrap+prefix+c)
				checkPatterns(t, wrap+prefix+c+"}")
				checkPatterns(t, wrap+prefix+c+"}}")
			}
			if n > 0 {
				all(prefix+c, n-1)
			}
		}
	}
	all("", 2)
	for _, s := range []string{"${CHPASS_SECRET}", "{{kms:alias/chpass#key}}", "${arn:aws:secretsmanager:eu-west-1:1:secret:x}",
		"${a}b}", "${{a}}", "{{a}", "${}", "{{}}", "$ {a}", strings.Repeat("A_1", 40)} {
		checkPatterns(t, s)
	}
}

// FuzzPatterns checks reference and envVarName against the regexps on any input.
func FuzzPatterns(f *testing.F) {
	for _, s := range []string{"${A}", "{{kms:x}}", "${}", "A_1", "1A", "${a{b}"} {
		f.Add(s)
	}
	f.Fuzz(checkPatterns)
}
