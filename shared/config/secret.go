package config

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Secret is a configuration value that must never be shown: it prints, marshals
// and logs as "[redacted]". Reveal returns the value itself.
type Secret struct{ value string }

// NewSecret returns a Secret holding v.
func NewSecret(v string) Secret { return Secret{value: v} }

// Reveal returns the secret's value, for the one place that uses it.
func (s Secret) Reveal() string { return s.value }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.value == "" }

// String implements fmt.Stringer without revealing the value.
func (s Secret) String() string { return "[redacted]" }

// GoString implements fmt.GoStringer without revealing the value.
func (s Secret) GoString() string { return "config.Secret([redacted])" }

// MarshalText implements encoding.TextMarshaler without revealing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// UnmarshalText implements encoding.TextUnmarshaler: the raw text, which may be a
// ${REFERENCE} that Load resolves.
func (s *Secret) UnmarshalText(b []byte) error { s.value = string(b); return nil }

// Resolver fetches the secret a reference names, such as the ARN of an AWS
// Secrets Manager secret. It reports handled=false for references it does not serve.
type Resolver interface {
	Resolve(ctx context.Context, ref string) (value string, handled bool, err error)
}

// ResolverFunc adapts a function to Resolver.
type ResolverFunc func(ctx context.Context, ref string) (string, bool, error)

// Resolve implements Resolver.
func (f ResolverFunc) Resolve(ctx context.Context, ref string) (string, bool, error) {
	return f(ctx, ref)
}

var (
	// refPattern matches a reference: ${REF}, or {{REF}} where a tool renders ${}
	// itself (Serverless Devs does, in s.yaml).
	refPattern    = regexp.MustCompile(`^(?:\$\{([^{}]+)\}|\{\{([^{}]+)\}\})$`)
	envVarPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Env resolves ${NAME} from the process environment. An unset or empty variable is
// an error: a secret is never silently empty.
var Env Resolver = ResolverFunc(func(_ context.Context, ref string) (string, bool, error) {
	if !envVarPattern.MatchString(ref) {
		return "", false, nil
	}
	v, ok := os.LookupEnv(ref)
	if !ok || v == "" {
		return "", true, fmt.Errorf("environment variable %s is not set", ref)
	}
	return v, true, nil
})

// resolve replaces s by the secret it references when it is of the form ${REF}
// or {{REF}}; other values are literal. key names the setting in errors.
func resolve(ctx context.Context, key string, s *Secret, resolvers []Resolver) error {
	m := refPattern.FindStringSubmatch(strings.TrimSpace(s.value))
	if m == nil {
		return nil
	}
	ref, written := m[1]+m[2], strings.TrimSpace(s.value)
	for _, r := range resolvers {
		v, handled, err := r.Resolve(ctx, ref)
		if !handled {
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: cannot resolve %s: %w", key, written, err)
		}
		if v == "" {
			return fmt.Errorf("%s: %s resolved to an empty secret", key, written)
		}
		s.value = v
		return nil
	}
	// The value is not echoed: a literal secret may merely look like a reference.
	return fmt.Errorf("%s: no resolver serves this reference (a value of the form ${...} or {{...}} names a secret: an environment variable, arn:aws:secretsmanager:..., kms:...)", key)
}

// Reference returns the reference a configuration value names (${REF} or {{REF}}, without the
// braces), or "" when the value is literal.
func Reference(value string) string {
	m := refPattern.FindStringSubmatch(strings.TrimSpace(value))
	if m == nil {
		return ""
	}
	return m[1] + m[2]
}
