package password

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/go-playground/validator/v10"
)

// Specials are the special characters that count toward PasswordCharCombination,
// as the E-HPC documentation lists them.
const Specials = "()~!@#$%^&*-_+=|{}[]:;'/<>,.?"

// Policy is a password policy. Its fields and their ranges are those of the IAM v5
// password policy, so that GET /v5/password-policy can answer with it as it is.
type Policy struct {
	MinimumPasswordLength            int    `json:"minimum_password_length" yaml:"minimum_password_length" validate:"min=8,max=32"`
	MaximumPasswordLength            int    `json:"maximum_password_length" yaml:"maximum_password_length" validate:"gtefield=MinimumPasswordLength,max=128"`
	PasswordCharCombination          int    `json:"password_char_combination" yaml:"password_char_combination" validate:"min=2,max=4"`
	PasswordNotUsernameOrInvert      bool   `json:"password_not_username_or_invert" yaml:"password_not_username_or_invert"`
	MaximumConsecutiveIdenticalChars int    `json:"maximum_consecutive_identical_chars" yaml:"maximum_consecutive_identical_chars" validate:"min=0,max=32"`
	PasswordReusePrevention          int    `json:"password_reuse_prevention" yaml:"password_reuse_prevention" validate:"min=0,max=24"`
	MinimumPasswordAge               int    `json:"minimum_password_age" yaml:"minimum_password_age" validate:"min=0,max=1440"`        // minutes
	PasswordValidityPeriod           int    `json:"password_validity_period" yaml:"password_validity_period" validate:"min=0,max=180"` // days
	AllowUserToChangePassword        bool   `json:"allow_user_to_change_password" yaml:"allow_user_to_change_password"`
	PasswordRequirements             string `json:"password_requirements" yaml:"password_requirements" validate:"max=512"`
	// BlockCommonPasswords refuses the 30,000 most common passwords of zxcvbn's
	// list. It is not an IAM v5 field.
	BlockCommonPasswords bool `json:"block_common_passwords" yaml:"block_common_passwords"`
}

// DefaultPolicy returns the rule of the E-HPC documentation, 8 to 30 characters
// with three of four character classes, plus the rules beyond it: not the user
// name, at most 3 identical characters in a row, no reuse of the last 3 passwords,
// and no common password.
func DefaultPolicy() Policy {
	return Policy{
		MinimumPasswordLength:            8,
		MaximumPasswordLength:            30,
		PasswordCharCombination:          3,
		PasswordNotUsernameOrInvert:      true,
		MaximumConsecutiveIdenticalChars: 3,
		PasswordReusePrevention:          3,
		AllowUserToChangePassword:        true,
		BlockCommonPasswords:             true,
		PasswordRequirements: "8 to 30 characters with at least three of: uppercase letters, lowercase letters, digits, " +
			"special characters " + Specials + "; not the user name or its reverse; not a common password; " +
			"no more than 3 identical characters in a row; not one of the last 3 passwords.",
	}
}

//go:generate go run ./internal/gencommon

// commonGz is zxcvbn's "passwords" frequency list (github.com/trustelem/zxcvbn),
// written by internal/gencommon and checked against the package by a test. It is
// shipped compressed rather than imported: the package's one map literal holds
// every zxcvbn list, which would add 2.3 MB to each binary and build them all at
// start-up.
//
//go:embed common-passwords.txt.gz
var commonGz []byte

var (
	commonOnce sync.Once
	common     map[string]struct{}
)

// commonPasswords returns the common-password list as a set, built on first use.
func commonPasswords() map[string]struct{} {
	commonOnce.Do(func() {
		list := commonList()
		common = make(map[string]struct{}, len(list))
		for _, p := range list {
			common[p] = struct{}{}
		}
	})
	return common
}

// commonList decodes the embedded list, most common first.
func commonList() []string {
	zr, err := gzip.NewReader(bytes.NewReader(commonGz))
	if err != nil {
		panic("password: the embedded common-password list is corrupt")
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		panic("password: the embedded common-password list is corrupt")
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// CommonPasswordCount reports how many passwords the common-password rule blocks.
func CommonPasswordCount() int { return len(commonPasswords()) }

// Check returns every rule of p that password breaks for the user called name,
// all at once, or nil. It checks what can be known without the directory; the
// directory checks history and age.
func (p Policy) Check(name, password string) []Violation {
	var vs []Violation
	if !utf8.ValidString(password) {
		// Nothing else can be judged reliably on bytes that are not text.
		return []Violation{p.Violation(RuleInvalidUTF8)}
	}
	var n, upper, lower, digit, special, run, maxRun int
	var prev rune = -1
	control := false
	for _, r := range password {
		n++
		switch {
		case unicode.IsControl(r):
			control = true
		case unicode.IsUpper(r):
			upper = 1
		case unicode.IsLower(r):
			lower = 1
		case unicode.IsDigit(r):
			digit = 1
		case strings.ContainsRune(Specials, r):
			special = 1
		}
		if r == prev {
			run++
		} else {
			run = 1
		}
		maxRun = max(maxRun, run)
		prev = r
	}
	if control {
		vs = append(vs, p.Violation(RuleControlChars))
	}
	if n < p.MinimumPasswordLength {
		vs = append(vs, p.Violation(RuleMinLength))
	}
	if p.MaximumPasswordLength > 0 && n > p.MaximumPasswordLength {
		vs = append(vs, p.Violation(RuleMaxLength))
	}
	if upper+lower+digit+special < p.PasswordCharCombination {
		vs = append(vs, p.Violation(RuleCharCombination))
	}
	if p.MaximumConsecutiveIdenticalChars > 0 && maxRun > p.MaximumConsecutiveIdenticalChars {
		vs = append(vs, p.Violation(RuleConsecutiveChars))
	}
	if p.PasswordNotUsernameOrInvert && name != "" {
		if strings.EqualFold(password, name) || strings.EqualFold(password, reverse(name)) {
			vs = append(vs, p.Violation(RuleNotUsername))
		}
	}
	if p.BlockCommonPasswords {
		if _, ok := commonPasswords()[strings.ToLower(password)]; ok {
			vs = append(vs, p.Violation(RuleCommonPassword))
		}
	}
	return vs
}

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

// Violation returns the violation of rule with a message that states p's limit.
// Directory adapters use it too, so that a refusal by the directory reads like one
// by the policy.
func (p Policy) Violation(rule string) Violation {
	var m string
	switch rule {
	case RuleMinLength:
		m = fmt.Sprintf("The password must be at least %d characters long.", p.MinimumPasswordLength)
	case RuleMaxLength:
		m = fmt.Sprintf("The password must be at most %d characters long.", p.MaximumPasswordLength)
	case RuleCharCombination:
		m = fmt.Sprintf("The password must contain at least %d of: uppercase letters, lowercase letters, digits, special characters %s", p.PasswordCharCombination, Specials)
	case RuleNotUsername:
		m = "The password must not be the user name or the user name reversed."
	case RuleConsecutiveChars:
		m = fmt.Sprintf("The password must not contain more than %d identical characters in a row.", p.MaximumConsecutiveIdenticalChars)
	case RuleCommonPassword:
		m = "The password is one of the most common passwords."
	case RuleControlChars:
		m = "The password must not contain control characters."
	case RuleInvalidUTF8:
		m = "The password must be valid UTF-8 text."
	case RuleReusePrevention:
		if p.PasswordReusePrevention > 0 {
			m = fmt.Sprintf("The password must differ from the last %d passwords.", p.PasswordReusePrevention)
		} else {
			m = "The password was used before."
		}
	case RuleMinAge:
		if p.MinimumPasswordAge > 0 {
			m = fmt.Sprintf("The password was changed less than %d minutes ago.", p.MinimumPasswordAge)
		} else {
			m = "The password was changed too recently."
		}
	case RuleSameAsOld:
		m = "The new password must differ from the old password."
	case RuleDirectoryQuality:
		m = "The directory refused the password for its quality rules."
	case RuleDirectoryPolicy:
		m = "The directory refused the password: it is too short, too simple, was used before, or the password was " +
			"changed too recently (the directory does not say which)."
	default:
		m = "The password does not meet the password policy."
	}
	return Violation{Rule: rule, Message: m}
}

// Candidate is a password offered for the account called Name. It is what the
// policy validation registered with validator/v10 validates.
type Candidate struct {
	Name     string
	Password string
}

// NewValidator returns a validator/v10 validator on which p is registered as the
// struct-level validation of Candidate: each broken rule becomes one field error
// on Password whose tag is the rule's name.
func NewValidator(p Policy) *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterStructValidation(func(sl validator.StructLevel) {
		c := sl.Current().Interface().(Candidate)
		reportViolations(sl, p.Check(c.Name, c.Password))
	}, Candidate{})
	return v
}

// reportViolations reports each violation as a field error on Password whose tag
// is the rule's name.
func reportViolations(sl validator.StructLevel, vs []Violation) {
	for _, vi := range vs {
		sl.ReportError(nil, "Password", "Password", vi.Rule, "")
	}
}

// violations turns the validation errors of a Candidate back into Violations.
func (p Policy) violations(err error) []Violation {
	ves, ok := err.(validator.ValidationErrors)
	if !ok {
		return []Violation{p.Violation("")}
	}
	vs := make([]Violation, 0, len(ves))
	for _, fe := range ves {
		vs = append(vs, p.Violation(fe.Tag()))
	}
	return vs
}
