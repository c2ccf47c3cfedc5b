// Package ldaptest gives tests the private slapd that testdata/slapd.sh starts:
// its settings from the environment, and fresh users that no other test knows.
package ldaptest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"chpass/shared/password/directorytest"
)

// Env is what testdata/slapd.sh writes into DIR/env.
type Env struct {
	URL, LDAPSURL, CA, Base string
	AdminDN, AdminPassword  string
	RootDN, RootPassword    string
	People                  string
}

// Require returns the test server's settings. Without LDAP_TEST_URL it skips
// loudly, and fails when CI=true: CI must run these tests.
func Require(tb testing.TB) Env {
	tb.Helper()
	e := Env{
		URL: os.Getenv("LDAP_TEST_URL"), LDAPSURL: os.Getenv("LDAP_TEST_LDAPS_URL"), CA: os.Getenv("LDAP_TEST_CA"),
		Base: os.Getenv("LDAP_TEST_BASE"), AdminDN: os.Getenv("LDAP_TEST_ADMIN_DN"), AdminPassword: os.Getenv("LDAP_TEST_ADMIN_PASSWORD"),
		RootDN: os.Getenv("LDAP_TEST_ROOT_DN"), RootPassword: os.Getenv("LDAP_TEST_ROOT_PASSWORD"),
	}
	if e.URL == "" {
		msg := "\n" +
			"################################################################################\n" +
			"#  LDAP INTEGRATION TESTS NOT RUN: LDAP_TEST_URL is not set.\n" +
			"#  `make test` starts the test slapd; by hand (needs slapd, ldap-utils, openssl):\n" +
			"#    shared/ldap/testdata/install-deps.sh\n" +
			"#    shared/ldap/testdata/slapd.sh up /tmp/chpass-slapd\n" +
			"#    eval \"$(shared/ldap/testdata/slapd.sh env /tmp/chpass-slapd)\"\n" +
			"################################################################################"
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg + "\n#  CI=true: failing instead of skipping.")
		}
		tb.Skip(msg)
	}
	for k, v := range map[string]string{"LDAP_TEST_LDAPS_URL": e.LDAPSURL, "LDAP_TEST_CA": e.CA, "LDAP_TEST_BASE": e.Base,
		"LDAP_TEST_ADMIN_DN": e.AdminDN, "LDAP_TEST_ADMIN_PASSWORD": e.AdminPassword,
		"LDAP_TEST_ROOT_DN": e.RootDN, "LDAP_TEST_ROOT_PASSWORD": e.RootPassword} {
		if v == "" {
			tb.Fatalf("LDAP_TEST_URL is set but %s is not; source the env file that slapd.sh writes", k)
		}
	}
	e.People = "ou=people," + e.Base
	return e
}

// RootConn connects as the rootdn. Only test fixtures use it, to create and delete
// users: the adapter never does, since the rootdn bypasses ppolicy.
func (e Env) RootConn(tb testing.TB) *goldap.Conn {
	tb.Helper()
	c, err := goldap.DialURL(e.URL)
	if err != nil {
		tb.Fatal(err)
	}
	c.SetTimeout(10 * time.Second)
	if err := c.Bind(e.RootDN, e.RootPassword); err != nil {
		c.Close()
		tb.Fatal(err)
	}
	return c
}

var (
	runID     = randomHex(3)
	userSeq   atomic.Int64
	uidNumSeq atomic.Int64
)

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// FreshUsers adds n users, under the policy called policy ("" for the default),
// that no other test knows, and deletes them when tb ends.
func (e Env) FreshUsers(tb testing.TB, n int, policy string) []directorytest.Account {
	tb.Helper()
	c := e.RootConn(tb)
	defer c.Close()
	users := make([]directorytest.Account, n)
	for i := range users {
		name := fmt.Sprintf("t%s-%d", runID, userSeq.Add(1))
		pw := "Fresh-" + randomHex(4) + "-1A"
		dn := "uid=" + name + "," + e.People
		req := goldap.NewAddRequest(dn, nil)
		req.Attribute("objectClass", []string{"inetOrgPerson", "posixAccount", "shadowAccount"})
		req.Attribute("uid", []string{name})
		req.Attribute("cn", []string{name})
		req.Attribute("sn", []string{name})
		req.Attribute("uidNumber", []string{fmt.Sprint(30000 + uidNumSeq.Add(1))})
		req.Attribute("gidNumber", []string{"100"})
		req.Attribute("homeDirectory", []string{"/home/" + name})
		req.Attribute("userPassword", []string{pw})
		if policy != "" {
			req.Attribute("pwdPolicySubentry", []string{"cn=" + policy + ",ou=policies," + e.Base})
		}
		if err := c.Add(req); err != nil {
			tb.Fatalf("add %s: %v", dn, err)
		}
		users[i] = directorytest.Account{Name: name, Password: pw}
	}
	tb.Cleanup(func() {
		c := e.RootConn(tb)
		defer c.Close()
		for _, u := range users {
			_ = c.Del(goldap.NewDelRequest("uid="+u.Name+","+e.People, nil))
		}
	})
	return users
}

// Bind reports whether name's entry under People binds with pw.
func (e Env) Bind(tb testing.TB, name, pw string) bool {
	tb.Helper()
	c, err := goldap.DialURL(e.URL)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	c.SetTimeout(10 * time.Second)
	return c.Bind("uid="+goldap.EscapeDN(name)+","+e.People, pw) == nil
}
