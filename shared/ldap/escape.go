package ldap

import (
	"strings"
	"unicode"
	"unicode/utf8"

	goldap "github.com/go-ldap/ldap/v3"
)

// escapeFilterValue escapes s for use as an assertion value in a search filter
// (RFC 4515): '*', '(', ')', '\' and NUL, and every byte outside ASCII, become \XX.
func escapeFilterValue(s string) string { return goldap.EscapeFilter(s) }

// escapeRDNValue escapes s for use as an attribute value of a distinguished name
// (RFC 4514, section 2.4): '"', '+', ',', ';', '<', '>', '\' and '=' anywhere, a
// leading '#' or space and a trailing space are prefixed with a backslash, and NUL
// becomes \00. Other bytes, including UTF-8, are kept as they are.
func escapeRDNValue(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == 0:
			b.WriteString(`\00`)
			continue
		case c == '"' || c == '+' || c == ',' || c == ';' || c == '<' || c == '>' || c == '\\' || c == '=':
			b.WriteByte('\\')
		case i == 0 && (c == ' ' || c == '#'):
			b.WriteByte('\\')
		case i == len(s)-1 && c == ' ':
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// expand replaces every "%s" of template with value. Unlike fmt.Sprintf it leaves
// any other '%' of the template alone.
func expand(template, value string) string { return strings.ReplaceAll(template, "%s", value) }

// maxNameBytes bounds the user names the directory is asked about.
const maxNameBytes = 256

// plausibleName reports whether name can be an account name at all: non-empty, at
// most 256 bytes of valid UTF-8, without control characters (NUL among them) and
// without leading or trailing white space. LDAP matching rules ignore leading and
// trailing spaces, so " alice" would find alice's entry; such names are refused
// before they reach the directory. Escaping still protects every name that passes.
func plausibleName(name string) bool {
	if name == "" || len(name) > maxNameBytes || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return false
		}
	}
	first, _ := utf8.DecodeRuneInString(name)
	last, _ := utf8.DecodeLastRuneInString(name)
	return !unicode.IsSpace(first) && !unicode.IsSpace(last)
}
