package ldap

import (
	"testing"
)

// Vectors made by slappasswd (Debian slapd 2.5, modules pw-sha2 and argon2)
// for the password "Vector-Pass-1".
func TestCheckUserPassword(t *testing.T) {
	const pw = "Vector-Pass-1"
	vectors := []string{
		"{SSHA}d9opkyx+zE7HXl2kgtsC8NrJYK90Ku19",
		"{SHA}n/xhYtQH3ss8HhuZ++Ojg9bJSuU=",
		"{SSHA256}uzWV0ba8A5wU6wRKG5aStV9SJF4y1n3+X0X41fODweuW4g1LcIa+og==",
		"{SSHA512}VnxV4bnkYfMpFGgP7C0cZE0GxOJT5CufFQMRPFRzTcbyaWrnERZvuUIUY7YzC1zcg51b3tMdw1kBNR6Xsjnxv/VxP0KLHc95",
		"{SHA384}D2qagKTk4lv65Tui9CDSs8JF26AztolAcezQSApBHU2cAMB5VzvbqrzuE+nmIvhF",
		"{SHA256}JdohJC45NSqIhSAe8xxwujcqbBdo/QWQ3LJeJNLS3bs=",
		"{ARGON2}$argon2i$v=19$m=4096,t=3,p=1$KMqXJZqv96TiP7/cTc/jzQ$c3l1SqvEzonrWdSvooeQ7TnzbYJB5G5hkcedrLW7rXM",
		"Vector-Pass-1", // in clear
	}
	for _, v := range vectors {
		t.Run(v[:min(len(v), 9)], func(t *testing.T) {
			if ok, err := checkUserPassword([]byte(v), pw); err != nil || !ok {
				t.Errorf("right password: %v, %v", ok, err)
			}
			if ok, err := checkUserPassword([]byte(v), pw+"x"); err != nil || ok {
				t.Errorf("wrong password: %v, %v", ok, err)
			}
		})
	}
	bad := []struct {
		name, value string
		unknown     bool
	}{
		{"Crypt", "{CRYPT}$6$abc$def", true},
		{"BadBase64", "{SSHA}!!!", false},
		{"ShortDigest", "{SHA}AAAA", false},
		{"Argon2Malformed", "{ARGON2}$argon2id$v=19$m=x$a$b", false},
		{"Argon2Huge", "{ARGON2}$argon2id$v=19$m=99999999,t=1,p=1$YWFhYQ$YWFhYQ", false},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := checkUserPassword([]byte(tt.value), pw)
			if ok || err == nil || (err == errUnknownScheme) != tt.unknown {
				t.Errorf("%q: %v, %v", tt.value, ok, err)
			}
		})
	}
}
