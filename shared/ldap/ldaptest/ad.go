package ldaptest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	goldap "github.com/go-ldap/ldap/v3"

	"chpass/shared/password/directorytest"
)

// ADEnv is what testdata/samba.sh writes into DIR/env: a throwaway Samba AD
// domain controller (realm EXAMPLE.TEST) on 127.0.0.1:389 and 636.
type ADEnv struct {
	URL, StartTLSURL, CA, Base string
	ServiceDN, ServicePassword string // the delegated service account, a plain Domain User
	AdminDN, AdminPassword     string // Administrator: fixtures only, never the adapter
	People, Groups             string // OU=People and OU=Groups
	BatchUsers                 int    // batch001... with BatchPassword
	BatchPassword              string
	roots                      *x509.CertPool
}

// RequireAD returns the test domain controller's settings. Without AD_TEST_URL
// it skips loudly, and fails when CI=true: CI must run these tests.
func RequireAD(tb testing.TB) ADEnv {
	tb.Helper()
	e := ADEnv{
		URL: os.Getenv("AD_TEST_URL"), StartTLSURL: os.Getenv("AD_TEST_STARTTLS_URL"), CA: os.Getenv("AD_TEST_CA"),
		Base: os.Getenv("AD_TEST_BASE"), ServiceDN: os.Getenv("AD_TEST_SERVICE_DN"),
		ServicePassword: os.Getenv("AD_TEST_SERVICE_PASSWORD"), AdminDN: os.Getenv("AD_TEST_ADMIN_DN"),
		AdminPassword: os.Getenv("AD_TEST_ADMIN_PASSWORD"), BatchPassword: os.Getenv("AD_TEST_BATCH_PASSWORD"),
	}
	if e.URL == "" {
		msg := "\n" +
			"################################################################################\n" +
			"#  ACTIVE DIRECTORY TESTS NOT RUN: AD_TEST_URL is not set.\n" +
			"#  `make test` provisions the test Samba AD domain; by hand (root, ports 389/636):\n" +
			"#    make samba-up && source .cache/samba/env\n" +
			"################################################################################"
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg + "\n#  CI=true: failing instead of skipping.")
		}
		tb.Skip(msg)
	}
	for k, v := range map[string]string{"AD_TEST_STARTTLS_URL": e.StartTLSURL, "AD_TEST_CA": e.CA, "AD_TEST_BASE": e.Base,
		"AD_TEST_SERVICE_DN": e.ServiceDN, "AD_TEST_SERVICE_PASSWORD": e.ServicePassword, "AD_TEST_ADMIN_DN": e.AdminDN,
		"AD_TEST_ADMIN_PASSWORD": e.AdminPassword, "AD_TEST_BATCH_PASSWORD": e.BatchPassword} {
		if v == "" {
			tb.Fatalf("AD_TEST_URL is set but %s is not; source the env file that samba.sh writes", k)
		}
	}
	n, err := strconv.Atoi(os.Getenv("AD_TEST_BATCH_USERS"))
	if err != nil {
		tb.Fatalf("AD_TEST_BATCH_USERS: %v", err)
	}
	e.BatchUsers = n
	e.People, e.Groups = "OU=People,"+e.Base, "OU=Groups,"+e.Base
	pem, err := os.ReadFile(e.CA)
	if err != nil {
		tb.Fatal(err)
	}
	e.roots = x509.NewCertPool()
	if !e.roots.AppendCertsFromPEM(pem) {
		tb.Fatalf("%s holds no certificate", e.CA)
	}
	return e
}

// Conn connects over ldaps, unbound.
func (e ADEnv) Conn(tb testing.TB) *goldap.Conn {
	tb.Helper()
	c, err := goldap.DialURL(e.URL, goldap.DialWithTLSConfig(&tls.Config{RootCAs: e.roots, MinVersion: tls.VersionTLS12}))
	if err != nil {
		tb.Fatal(err)
	}
	c.SetTimeout(20 * time.Second)
	return c
}

// AdminConn connects as Administrator. Only fixtures use it: the adapter never
// runs as a Domain Admin.
func (e ADEnv) AdminConn(tb testing.TB) *goldap.Conn {
	tb.Helper()
	c := e.Conn(tb)
	if err := c.Bind(e.AdminDN, e.AdminPassword); err != nil {
		c.Close()
		tb.Fatal(err)
	}
	return c
}

// UnicodePwd is AD's unicodePwd value of pw, for fixtures.
func UnicodePwd(pw string) string {
	u := utf16.Encode([]rune(`"` + pw + `"`))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return string(b)
}

// UserDN is the DN of a user added by FreshADUsers or samba.sh.
func (e ADEnv) UserDN(name string) string { return "CN=" + goldap.EscapeDN(name) + "," + e.People }

// GroupDN is the DN of a group of samba.sh: chpass-complex, chpass-min-age,
// chpass-expiring, chpass-list, chpass-list-outer.
func (e ADEnv) GroupDN(name string) string { return "CN=" + name + "," + e.Groups }

// FreshUsers adds n enabled users in OU=People, members of the groups named
// (each governed by its password policy, see samba-fixtures.py), that no other
// test knows, and deletes them when tb ends.
func (e ADEnv) FreshUsers(tb testing.TB, n int, groups ...string) []directorytest.Account {
	tb.Helper()
	c := e.AdminConn(tb)
	defer c.Close()
	users := make([]directorytest.Account, n)
	for i := range users {
		name := fmt.Sprintf("a%s-%d", runID, userSeq.Add(1))
		pw := "Fresh-" + randomHex(4) + "-1A"
		req := goldap.NewAddRequest(e.UserDN(name), nil)
		req.Attribute("objectClass", []string{"user"})
		req.Attribute("sAMAccountName", []string{name})
		req.Attribute("userPrincipalName", []string{name + "@example.test"})
		req.Attribute("unicodePwd", []string{UnicodePwd(pw)})
		req.Attribute("userAccountControl", []string{"512"})
		if err := c.Add(req); err != nil {
			tb.Fatalf("add %s: %v", name, err)
		}
		users[i] = directorytest.Account{Name: name, Password: pw}
	}
	for _, g := range groups {
		req := goldap.NewModifyRequest(e.GroupDN(g), nil)
		dns := make([]string, n)
		for i, u := range users {
			dns[i] = e.UserDN(u.Name)
		}
		req.Add("member", dns)
		if err := c.Modify(req); err != nil {
			tb.Fatalf("add to %s: %v", g, err)
		}
	}
	tb.Cleanup(func() {
		c := e.AdminConn(tb)
		defer c.Close()
		for _, u := range users {
			_ = c.Del(goldap.NewDelRequest(e.UserDN(u.Name), nil))
		}
	})
	return users
}

// Modify replaces attr of name's entry with values, as Administrator.
func (e ADEnv) Modify(tb testing.TB, name, attr string, values ...string) {
	tb.Helper()
	c := e.AdminConn(tb)
	defer c.Close()
	req := goldap.NewModifyRequest(e.UserDN(name), nil)
	req.Replace(attr, values)
	if err := c.Modify(req); err != nil {
		tb.Fatalf("set %s of %s: %v", attr, name, err)
	}
}

// Attr reads attr of name's entry, as Administrator.
func (e ADEnv) Attr(tb testing.TB, name, attr string) string {
	tb.Helper()
	c := e.AdminConn(tb)
	defer c.Close()
	res, err := c.Search(goldap.NewSearchRequest(e.UserDN(name), goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{attr}, nil))
	if err != nil || len(res.Entries) != 1 {
		tb.Fatalf("read %s of %s: %v", attr, name, err)
	}
	return res.Entries[0].GetAttributeValue(attr)
}

// Bind binds as name's entry with pw: nil, or AD's refusal (data 52e, 532, 773, 775, 533).
func (e ADEnv) Bind(tb testing.TB, name, pw string) error {
	tb.Helper()
	c := e.Conn(tb)
	defer c.Close()
	return c.Bind(e.UserDN(name), pw)
}

// Expired returns one of samba.sh's users expired01..expired10 whose password
// has expired and that no test has changed yet (its bind answers data 532).
// Each is used up once changed: samba.sh up provisions them anew.
func (e ADEnv) Expired(tb testing.TB) directorytest.Account {
	tb.Helper()
	for i := 1; i <= 10; i++ {
		name := fmt.Sprintf("expired%02d", i)
		if !claimed(name) {
			continue
		}
		if err := e.Bind(tb, name, e.BatchPassword); err != nil && goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials) &&
			containsData(err, "532") {
			return directorytest.Account{Name: name, Password: e.BatchPassword}
		}
	}
	tb.Fatal("no expired user left: every expired01..expired10 has been changed; provision anew (make samba-down samba-up)")
	return directorytest.Account{}
}

var claims sync.Map

// claimed claims name for this process; false when it already was.
func claimed(name string) bool {
	_, taken := claims.LoadOrStore(name, true)
	return !taken
}

func containsData(err error, data string) bool {
	return strings.Contains(err.Error(), "data "+data)
}
