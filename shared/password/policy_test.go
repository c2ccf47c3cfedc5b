package password

import (
	"slices"
	"strings"
	"testing"

	"github.com/trustelem/zxcvbn/frequency"
)

func rules(vs []Violation) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		out = append(out, v.Rule)
	}
	slices.Sort(out)
	return out
}

func TestPolicyCheck(t *testing.T) {
	p := DefaultPolicy()
	tests := []struct {
		name, user, password string
		want                 []string
	}{
		{"ThreeClasses", "alice", "Kestrel42", nil},
		{"SpecialsCount", "alice", "abcdef1!", nil},
		{"EverySpecial", "alice", "Aa1" + Specials[:20], nil},
		{"Unicode", "alice", "Pässwörd-中文-1", nil},
		{"TooShort", "alice", "Ab1!", []string{RuleMinLength}},
		{"TooLong", "alice", "Abcdef12!" + strings.Repeat("xyz", 10), []string{RuleMaxLength}},
		{"TwoClasses", "alice", "abcdefgh12", []string{RuleCharCombination}},
		{"UserName", "Alice1!x", "alice1!X", []string{RuleNotUsername}},
		{"UserNameReversed", "Ab1!cdef", "fedc!1bA", []string{RuleNotUsername}},
		{"Consecutive", "alice", "Abcdddd12", []string{RuleConsecutiveChars}},
		{"ThreeInARowAllowed", "alice", "Abcddd12", nil},
		{"Common", "alice", "Password1", []string{RuleCommonPassword}},
		{"ControlChar", "alice", "Abcdef12\n", []string{RuleControlChars}},
		{"NUL", "alice", "Abc\x00def12", []string{RuleControlChars}},
		{"InvalidUTF8", "alice", "Abcdef12\xff", []string{RuleInvalidUTF8}},
		{"EverythingAtOnce", "aaaa", "aaaa", []string{RuleCharCombination, RuleConsecutiveChars, RuleMinLength, RuleNotUsername}},
		{"CommonAndShort", "bob", "monkey", []string{RuleCharCombination, RuleCommonPassword, RuleMinLength}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rules(p.Check(tt.user, tt.password))
			slices.Sort(tt.want)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Check(%q) = %v, want %v", tt.user, got, tt.want)
			}
		})
	}
}

func TestPolicySwitches(t *testing.T) {
	p := DefaultPolicy()
	p.BlockCommonPasswords = false
	p.PasswordNotUsernameOrInvert = false
	p.MaximumConsecutiveIdenticalChars = 0
	for _, pw := range []string{"Password1", "Abcdddddd12"} {
		if vs := p.Check("Password1", pw); vs != nil {
			t.Errorf("Check(%q) with rules off = %v", pw, rules(vs))
		}
	}
}

// TestCommonListIsThePackages proves the embedded list is zxcvbn's, entry for
// entry and in order; `go generate ./shared/password` rewrites it.
func TestCommonListIsThePackages(t *testing.T) {
	want := frequency.FrequencyLists["passwords"]
	if got := commonList(); !slices.Equal(got, want) {
		t.Fatalf("common-passwords.txt.gz has %d entries that differ from the package's %d: run go generate ./shared/password", len(got), len(want))
	}
}

func TestCommonPasswordsFromPackage(t *testing.T) {
	if n := CommonPasswordCount(); n < 10000 {
		t.Fatalf("blocklist has %d passwords, want at least 10,000", n)
	}
	// Entries deep in the list, not only the famous first ones, are blocked.
	p := DefaultPolicy()
	for _, pw := range []string{"qwerty123", "iloveyou", "Michael1"} {
		if !slices.Contains(rules(p.Check("x", pw)), RuleCommonPassword) {
			t.Errorf("%q is not blocked as common", pw)
		}
	}
}

func TestViolationMessagesNeverHoldThePassword(t *testing.T) {
	p := DefaultPolicy()
	const canary = "Canary\x01Pw"
	for _, v := range p.Check("u", canary) {
		if strings.Contains(v.Message, canary) || strings.Contains(v.Message, "Canary") {
			t.Fatalf("violation message holds the password: %q", v.Message)
		}
	}
}

func TestValidatorReportsEachRuleAsTag(t *testing.T) {
	v := NewValidator(DefaultPolicy())
	err := v.Struct(Candidate{Name: "bob", Password: "bob"})
	if err == nil {
		t.Fatal("want validation errors")
	}
	got := rules(DefaultPolicy().violations(err))
	want := rules(DefaultPolicy().Check("bob", "bob"))
	if !slices.Equal(got, want) {
		t.Fatalf("validator rules %v, Check rules %v", got, want)
	}
	if err := v.Struct(Candidate{Name: "bob", Password: "Xy7#kLm2q"}); err != nil {
		t.Fatalf("good password refused: %v", err)
	}
}

func BenchmarkPolicyCheck(b *testing.B) {
	p := DefaultPolicy()
	CommonPasswordCount() // build the blocklist outside the timing
	b.ReportAllocs()
	for b.Loop() {
		if vs := p.Check("alice", "Xy7#kLm2q-Tr0ub4dor"); vs != nil {
			b.Fatal(vs)
		}
	}
}

func BenchmarkServiceCheck(b *testing.B) {
	s := NewService(DefaultPolicy(), nil)
	CommonPasswordCount()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Check("alice", "Xy7#kLm2q-Tr0ub4dor"); err != nil {
			b.Fatal(err)
		}
	}
}
