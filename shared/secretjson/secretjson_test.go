package secretjson

import (
	"strings"
	"testing"
)

// TestField picks one string of a JSON secret, and never quotes the secret.
func TestField(t *testing.T) {
	const canary = "CANARY-json-secret"
	tests := []struct{ name, secret, key, want, err string }{
		{"String", `{"a":"` + canary + `","b":"x"}`, "a", canary, ""},
		{"Missing", `{"a":"` + canary + `"}`, "b", "", `JSON key "b": not in the secret`},
		{"NotString", `{"a":["` + canary + `"]}`, "a", "", `JSON key "a": not a string`},
		{"NotObject", `"` + canary + `"`, "a", "", `JSON key "a": the secret is not a JSON object`},
		{"NotJSON", canary + `{`, "a", "", `JSON key "a": the secret is not a JSON object`},
		{"Null", `null`, "a", "", `JSON key "a": the secret is not a JSON object`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Field(tt.secret, tt.key)
			if tt.err == "" {
				if err != nil || got != tt.want {
					t.Fatalf("Field = %q, %v", got, err)
				}
				return
			}
			if err == nil || err.Error() != tt.err || strings.Contains(err.Error(), canary) {
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
		})
	}
}
