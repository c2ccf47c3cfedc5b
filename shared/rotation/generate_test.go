package rotation_test

import (
	"strings"
	"testing"

	"chpass/shared/password"
	"chpass/shared/rotation"
)

// TestGenerate10000 generates 10,000 passwords for each of several policies and exclusions,
// checks every one against the same policy, that excluded characters never appear, and that the
// draws do not repeat; it states the entropy per password.
func TestGenerate10000(t *testing.T) {
	strict := password.DefaultPolicy()
	strict.PasswordCharCombination, strict.MinimumPasswordLength, strict.MaximumPasswordLength = 4, 12, 16
	tests := []struct {
		name    string
		gen     rotation.Generator
		minBits float64
	}{
		{"DefaultPolicy", rotation.Generator{Policy: password.DefaultPolicy()}, 100},
		{"ConnectionStringSafe", rotation.Generator{Policy: password.DefaultPolicy(), Exclude: `/@"'\`}, 100},
		{"FourClassesMaxLength", rotation.Generator{Policy: strict}, 90},
		{"OnlyThreeClassesLeft", rotation.Generator{Policy: password.DefaultPolicy(), Exclude: password.Specials, Length: 20}, 110},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := make(map[string]bool, 10000)
			for i := 0; i < 10000; i++ {
				pw, err := tt.gen.Generate("svc-app")
				if err != nil {
					t.Fatal(err)
				}
				if vs := tt.gen.Policy.Check("svc-app", pw); len(vs) > 0 {
					t.Fatalf("a generated password breaks the policy: %v", vs)
				}
				if tt.gen.Exclude != "" && strings.ContainsAny(pw, tt.gen.Exclude) {
					t.Fatal("a generated password holds an excluded character")
				}
				if seen[pw] {
					t.Fatal("a generated password repeated")
				}
				seen[pw] = true
			}
			bits := tt.gen.Entropy()
			t.Logf("%s: %.1f bits of entropy per password", tt.name, bits)
			if bits < tt.minBits {
				t.Errorf("entropy %.1f bits, want at least %.0f", bits, tt.minBits)
			}
		})
	}
	if _, err := (rotation.Generator{Policy: strict, Exclude: password.Specials}).Generate("x"); err == nil {
		t.Error("excluding a class the policy requires: want an error")
	}
}

func TestParseValue(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{"Full", `{"username":"svc","password":"p","directory":"slapd","dn":"uid=svc,dc=x","mode":"service","note":"kept"}`, ""},
		{"DefaultModeSelf", `{"username":"svc","password":"p","directory":"embedded"}`, ""},
		{"ErrNoUsername", `{"password":"CANARY-parse","directory":"x"}`, `"username"`},
		{"ErrNoDirectory", `{"username":"svc","password":"CANARY-parse"}`, `"directory"`},
		{"ErrBadMode", `{"username":"svc","password":"CANARY-parse","directory":"x","mode":"root"}`, `"mode"`},
		{"ErrPlainPassword", `CANARY-parse-plain`, "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := rotation.ParseValue(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "CANARY") {
					t.Errorf("err = %v, want one naming %s and no value", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			out, err := v.WithPassword("new")
			if err != nil {
				t.Fatal(err)
			}
			w, _ := rotation.ParseValue(out)
			if w.Password != "new" || w.Username != "svc" || (tt.name == "Full" && !strings.Contains(out, `"note":"kept"`)) {
				t.Errorf("WithPassword = %s", out)
			}
			if v.Mode == "" {
				t.Error("no mode")
			}
		})
	}
}
