// Package secretjson reads one field of a secret that holds a JSON object, for
// the secret references that end in #key. It knows no other package of chpass, so
// the secret stores (kms, secretsmanager) and config can all use it.
package secretjson

import (
	"encoding/json"
	"fmt"
)

// Field returns the string at key of a secret holding a JSON object, for
// references that end in #key. Its errors name the key but never quote the
// secret: encoding/json's syntax errors would.
func Field(secret, key string) (string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(secret), &obj); err != nil || obj == nil {
		return "", fmt.Errorf("JSON key %q: the secret is not a JSON object", key)
	}
	raw, ok := obj[key]
	if !ok {
		return "", fmt.Errorf("JSON key %q: not in the secret", key)
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", fmt.Errorf("JSON key %q: not a string", key)
	}
	return v, nil
}
