package rotation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Modes of setting the new password, chosen per secret.
const (
	// ModeSelf binds as the account with its current password and changes it with old and new,
	// so that the directory's own policy (ppolicy, AD history) applies. The default.
	ModeSelf = "self"
	// ModeService resets the password as chpass's service account: for accounts that may not
	// change their own password, or whose current password is lost.
	ModeService = "service"
)

// Value is what a rotated secret holds: a JSON object. Unknown keys are kept as they are.
type Value struct {
	Username  string `json:"username"`
	Password  string `json:"password"`
	Directory string `json:"directory"`         // a key of directories, or "embedded"
	DN        string `json:"dn,omitempty"`      // the account's DN, when it is not found by name
	Mode      string `json:"mode,omitempty"`    // ModeSelf (default) or ModeService
	Exclude   string `json:"exclude,omitempty"` // characters a generated password must not hold, e.g. /@"'\
	Length    int    `json:"length,omitempty"`  // generated length; default the policy's minimum + 8, within its maximum
	extra     map[string]json.RawMessage
}

// ParseValue reads a secret's value. Its errors never quote the value.
func ParseValue(s string) (Value, error) {
	var v Value
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	if err := dec.Decode(&v); err != nil {
		return Value{}, errors.New("the secret is not a JSON object with string username, password and directory")
	}
	_ = json.Unmarshal([]byte(s), &v.extra)
	switch {
	case v.Username == "":
		return Value{}, errors.New(`the secret has no "username"`)
	case v.Password == "":
		return Value{}, errors.New(`the secret has no "password"`)
	case v.Directory == "":
		return Value{}, errors.New(`the secret has no "directory"`)
	case v.Mode != "" && v.Mode != ModeSelf && v.Mode != ModeService:
		return Value{}, fmt.Errorf(`the secret's "mode" is %q: want %q or %q`, v.Mode, ModeSelf, ModeService)
	}
	if v.Mode == "" {
		v.Mode = ModeSelf
	}
	return v, nil
}

// WithPassword returns the JSON of v holding pw instead, every other key as it was.
func (v Value) WithPassword(pw string) (string, error) {
	m := map[string]json.RawMessage{}
	for k, raw := range v.extra {
		m[k] = raw
	}
	b, err := json.Marshal(pw)
	if err != nil {
		return "", err
	}
	m["password"] = b
	out, err := json.Marshal(m)
	return string(out), err
}
