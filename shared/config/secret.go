package config

import (
	"context"
	"fmt"
	"os"
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

// reference returns what value (already trimmed) names when it is a reference,
// ${REF}, or {{REF}} where a tool renders ${} itself (Serverless Devs does, in
// s.yaml): REF is one or more characters, none of them a brace. It is the regexp
// ^(?:\$\{([^{}]+)\}|\{\{([^{}]+)\}\})$ as a few comparisons, which a start
// runs for every secret without compiling a regexp.
func reference(value string) (string, bool) {
	var ref string
	switch {
	case len(value) > 3 && strings.HasPrefix(value, "${") && strings.HasSuffix(value, "}"):
		ref = value[2 : len(value)-1]
	case len(value) > 4 && strings.HasPrefix(value, "{{") && strings.HasSuffix(value, "}}"):
		ref = value[2 : len(value)-2]
	default:
		return "", false
	}
	return ref, !strings.ContainsAny(ref, "{}")
}

// envVarName reports whether ref can name an environment variable:
// ^[A-Za-z_][A-Za-z0-9_]*$.
func envVarName(ref string) bool {
	for i := 0; i < len(ref); i++ {
		switch c := ref[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', c == '_':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return ref != ""
}

// Env resolves ${NAME} from the process environment. An unset or empty variable is
// an error: a secret is never silently empty.
var Env Resolver = ResolverFunc(func(_ context.Context, ref string) (string, bool, error) {
	if !envVarName(ref) {
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
	written := strings.TrimSpace(s.value)
	ref, ok := reference(written)
	if !ok {
		return nil
	}
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
	ref, _ := reference(strings.TrimSpace(value))
	return ref
}
