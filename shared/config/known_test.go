package config

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// decodeKnownByEncoding is how Cluster.UnmarshalYAML found unknown keys before
// knownKeys: n encoded again and decoded with KnownFields. It is the reference
// knownKeys is checked against.
func decodeKnownByEncoding(n *yaml.Node, v any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// TestKnownKeysAgreesWithKnownFields checks that knownKeys refuses exactly the
// cluster entries that the decoder's KnownFields refuses, merges and aliases
// included, and names the key it refuses.
func TestKnownKeysAgreesWithKnownFields(t *testing.T) {
	type plain Cluster
	tests := map[string]struct {
		yml, key string // key: the unknown key, "" when there is none
	}{
		"Plain":            {"{directory: embedded, status: running}", ""},
		"Empty":            {"{}", ""},
		"Policy":           {"{status: running, policy: {minimum_password_length: 12}}", ""},
		"Reset":            {"{status: running, reset: {must_change: true, unlock: false}}", ""},
		"NullPolicy":       {"{status: running, policy: null}", ""},
		"UnknownTop":       {"{status: running, polcy: {}}", "polcy"},
		"UnknownInReset":   {"{status: running, reset: {must_chang: true}}", "must_chang"},
		"UnknownInPolicy":  {"{status: running, policy: {minimum_length: 3}}", "minimum_length"},
		"Merge":            {"&a {status: running}", ""},
		"MergeKnown":       {"{<<: {status: running}, directory: embedded}", ""},
		"MergeUnknown":     {"{<<: {statu: running}, directory: embedded}", "statu"},
		"MergeListUnknown": {"{<<: [{status: running}, {reset: {unlok: true}}]}", "unlok"},
		"ResetNotMapping":  {"{status: running, reset: 3}", ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tt.yml), &doc); err != nil {
				t.Fatal(err)
			}
			n := doc.Content[0]
			err := knownKeys(n, reflect.TypeFor[plain]())
			ref := decodeKnownByEncoding(n, new(plain))
			var te *yaml.TypeError
			if errors.As(ref, &te) && !strings.Contains(ref.Error(), "not found in type") {
				ref = nil // a value of the wrong type: Decode reports it before knownKeys runs
			}
			if (err == nil) != (ref == nil) {
				t.Fatalf("knownKeys: %v; KnownFields: %v", err, ref)
			}
			if tt.key == "" {
				if err != nil {
					t.Fatalf("knownKeys: %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "field "+tt.key+" not found") || !strings.Contains(ref.Error(), "field "+tt.key+" not found") {
				t.Fatalf("knownKeys: %v; KnownFields: %v; want both to name %s", err, ref, tt.key)
			}
		})
	}
}
