package password

import (
	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/norm"
)

// One name, one person. A user name reaches an account only when the directory
// holds it exactly: the same bytes as the value the directory stores (uid,
// sAMAccountName, the embedded store's key). The rule has three parts.
//
//  1. A name that Unicode preparation would change is refused everywhere it is
//     used (PreparedName): fullwidth and other compatibility forms (NFKC), names
//     not in NFC, spaces, and characters PRECIS disallows in user names
//     (RFC 8265, UsernameCasePreserved), such as zero-width and other ignorable
//     characters. Such a name is an unknown user on self-service and an invalid
//     parameter on the administrative paths (CheckName allows ASCII only).
//  2. A directory finds the entry with its own matching, however loose
//     (LDAP's caseIgnoreMatch, its string preparation), and then requires the
//     entry to hold the name exactly; another spelling (ALICE for alice) is an
//     unknown user. So the canonical name of the entry changed is the name asked
//     for, and lockout counters, audit lines and task records carry it.
//  3. A batch may not name one account twice under the directory's own equality:
//     CheckBatch compares names by the directory's NameKey when it has one
//     (bob and BOB are one entry in LDAP, two in the embedded store).

// PreparedName reports whether name is already in the form Unicode preparation
// gives it: unchanged by NFKC and by the PRECIS UsernameCasePreserved profile,
// which it passes (RFC 8265: no spaces, no control or ignorable characters).
func PreparedName(name string) bool {
	if name == "" || !norm.NFKC.IsNormalString(name) {
		return false
	}
	p, err := precis.UsernameCasePreserved.String(name)
	return err == nil && p == name
}

// nameKeyer is a directory whose names match more loosely than byte for byte:
// NameKey returns one key for all the names it takes for one entry.
type nameKeyer interface {
	NameKey(name string) string
}

// nameKey returns the key under which the service's directory tells names apart.
func (s *Service) nameKey(name string) string {
	if k, ok := s.dir.(nameKeyer); ok {
		return k.NameKey(name)
	}
	return name
}
