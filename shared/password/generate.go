package password

import (
	"crypto/rand"
	"errors"
	"math"
	"math/big"
	"strings"
)

// Character classes a generated password draws from.
const (
	classLower  = "abcdefghijklmnopqrstuvwxyz"
	classUpper  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	classDigits = "0123456789"
)

// Generator makes random passwords that pass a policy.
type Generator struct {
	Policy  Policy
	Exclude string // characters never used
	Length  int    // 0: the policy's minimum + 8, at most its maximum
}

// classes returns the four classes without excluded characters, dropping empty ones.
func (g Generator) classes() []string {
	var out []string
	for _, c := range []string{classLower, classUpper, classDigits, Specials} {
		var b strings.Builder
		for _, r := range c {
			if !strings.ContainsRune(g.Exclude, r) {
				b.WriteRune(r)
			}
		}
		if b.Len() > 0 {
			out = append(out, b.String())
		}
	}
	return out
}

func (g Generator) length() int {
	n := g.Length
	if n == 0 {
		n = g.Policy.MinimumPasswordLength + 8
	}
	if g.Policy.MaximumPasswordLength > 0 && n > g.Policy.MaximumPasswordLength {
		n = g.Policy.MaximumPasswordLength
	}
	return max(n, g.Policy.MinimumPasswordLength)
}

// Entropy is the entropy in bits of one generated password: length × log2(alphabet), less the
// small loss of redrawing the passwords that fail the policy.
func (g Generator) Entropy() float64 {
	n := 0
	for _, c := range g.classes() {
		n += len(c)
	}
	return float64(g.length()) * math.Log2(float64(n))
}

// Generate returns a password drawn uniformly with crypto/rand from every class not excluded,
// redrawn until it passes the policy for account name (classes, repeats, name, common list).
func (g Generator) Generate(name string) (string, error) {
	classes := g.classes()
	if len(classes) < g.Policy.PasswordCharCombination {
		return "", errors.New("the excluded characters leave fewer character classes than the policy requires")
	}
	alphabet := strings.Join(classes, "")
	n := g.length()
	max := big.NewInt(int64(len(alphabet)))
	for try := 0; try < 1000; try++ {
		b := make([]byte, n)
		for i := range b {
			k, err := rand.Int(rand.Reader, max)
			if err != nil {
				return "", err
			}
			b[i] = alphabet[k.Int64()]
		}
		if len(g.Policy.Check(name, string(b))) == 0 {
			return string(b), nil
		}
	}
	return "", errors.New("no generated password passed the policy in 1000 draws")
}

// Generate returns a random password for account name that passes p, holding none of the
// characters of exclude, length long (0: p's minimum + 8, at most its maximum): what
// Generator{Policy: p, Exclude: exclude, Length: length}.Generate(name) returns.
func (p Policy) Generate(name, exclude string, length int) (string, error) {
	return Generator{Policy: p, Exclude: exclude, Length: length}.Generate(name)
}
