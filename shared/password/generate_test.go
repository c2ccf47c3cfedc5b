package password_test

import (
	"strings"
	"testing"

	"chpass/shared/password"
)

// TestGenerate10000 generates 10,000 passwords for each of several policies and exclusions,
// checks every one against the same policy, that excluded characters never appear, and that the
// draws do not repeat; it states the entropy per password.
func TestGenerate10000(t *testing.T) {
	strict := password.DefaultPolicy()
	strict.PasswordCharCombination, strict.MinimumPasswordLength, strict.MaximumPasswordLength = 4, 12, 16
	tests := []struct {
		name    string
		gen     password.Generator
		minBits float64
	}{
		{"DefaultPolicy", password.Generator{Policy: password.DefaultPolicy()}, 100},
		{"ConnectionStringSafe", password.Generator{Policy: password.DefaultPolicy(), Exclude: `/@"'\`}, 100},
		{"FourClassesMaxLength", password.Generator{Policy: strict}, 90},
		{"OnlyThreeClassesLeft", password.Generator{Policy: password.DefaultPolicy(), Exclude: password.Specials, Length: 20}, 110},
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
	if _, err := (password.Generator{Policy: strict, Exclude: password.Specials}).Generate("x"); err == nil {
		t.Error("excluding a class the policy requires: want an error")
	}
}

// TestPolicyGenerate checks that Policy.Generate, what the rotation domain calls, is the
// Generator for its arguments: a password that passes the policy, of the length asked (or the
// policy's minimum + 8), without the excluded characters, and an error when the exclusion
// leaves too few character classes.
func TestPolicyGenerate(t *testing.T) {
	p := password.DefaultPolicy()
	tests := []struct {
		name, exclude string
		length, want  int
	}{
		{"DefaultLength", "", 0, p.MinimumPasswordLength + 8},
		{"Length20", "", 20, 20},
		{"LengthCappedAtMaximum", "", p.MaximumPasswordLength + 10, p.MaximumPasswordLength},
		{"ConnectionStringSafe", `/@"'\`, 0, p.MinimumPasswordLength + 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := 0; i < 100; i++ {
				pw, err := p.Generate("svc-app", tt.exclude, tt.length)
				if err != nil {
					t.Fatal(err)
				}
				if len(pw) != tt.want {
					t.Fatalf("length %d, want %d", len(pw), tt.want)
				}
				if vs := p.Check("svc-app", pw); len(vs) > 0 {
					t.Fatalf("a generated password breaks the policy: %v", vs)
				}
				if tt.exclude != "" && strings.ContainsAny(pw, tt.exclude) {
					t.Fatal("a generated password holds an excluded character")
				}
			}
		})
	}
	strict := p
	strict.PasswordCharCombination = 4
	if _, err := strict.Generate("x", password.Specials, 0); err == nil {
		t.Error("excluding a class the policy requires: want an error")
	}
}
