package setup

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"chpass/shared/config"
	"chpass/shared/ldap"
)

// TestLDAPSettingsCarryEveryKey fills every key of config.LDAP with a distinct
// value and checks that ldapSettings hands each one, under the same YAML key, to
// ldap.Config, and that ldap.Config has no YAML key config.LDAP lacks.
func TestLDAPSettingsCarryEveryKey(t *testing.T) {
	exop := false
	c := config.LDAP{Dialect: "openldap", URL: "ldaps://x", StartTLS: true, CAFile: "ca.pem", ServerName: "sn",
		InsecurePlain: true, BindDN: "cn=svc", BindPassword: "bind-secret", UserDNTemplate: "uid=%s,dc=x",
		NameAttribute: "uid", ListGroup: "cn=g", PageSize: 7, UseExop: &exop, PasswordAttribute: "userPassword",
		ShadowLastChange: true, PoolSize: 3, DialTimeout: 2 * time.Second, OpTimeout: 3 * time.Second, Retries: 4,
		UserSearch: &config.LDAPUserSearch{Base: "dc=x", Filter: "(uid=%s)", Scope: "one"}}
	byKey := func(v reflect.Value) map[string]reflect.Value {
		m := map[string]reflect.Value{}
		for i := 0; i < v.NumField(); i++ {
			if k := v.Type().Field(i).Tag.Get("yaml"); k != "" && k != "-" {
				m[k] = v.Field(i)
			}
		}
		return m
	}
	want, got := byKey(reflect.ValueOf(c)), byKey(reflect.ValueOf(ldapSettings(c)))
	if len(want) != len(got) {
		t.Fatalf("config.LDAP has %d keys, ldap.Config %d", len(want), len(got))
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Fatalf("ldap.Config has no key %s", k)
		}
		if w.IsZero() {
			t.Fatalf("the test leaves %s unset", k)
		}
		if k == "user_search" {
			ws, gs := byKey(w.Elem()), byKey(g.Elem())
			for sk, sw := range ws {
				if gs[sk].Interface() != sw.Interface() {
					t.Fatalf("user_search.%s = %v, want %v", sk, gs[sk], sw)
				}
			}
			continue
		}
		if fmt.Sprint(g.Interface()) != fmt.Sprint(w.Interface()) || (k == "use_exop" && g.Interface() != w.Interface()) {
			t.Fatalf("%s = %v, want %v", k, g, w)
		}
	}
}

// TestLDAPSettingsCheckAsTheAdapter checks that config.LDAP.Check says what
// ldap.Config.Check says of the same settings, message for message.
func TestLDAPSettingsCheckAsTheAdapter(t *testing.T) {
	if config.ActiveDirectory != ldap.ActiveDirectory {
		t.Fatalf("dialect %q is %q to the adapter", config.ActiveDirectory, ldap.ActiveDirectory)
	}
	yes, no := true, false
	base := func() config.LDAP {
		return config.LDAP{URL: "ldaps://x", BindDN: "cn=svc", BindPassword: "pw"}
	}
	ad := func(f func(*config.LDAP)) config.LDAP {
		c := base()
		c.Dialect = config.ActiveDirectory
		c.UserSearch = &config.LDAPUserSearch{Base: "dc=x"}
		if f != nil {
			f(&c)
		}
		return c
	}
	ol := func(f func(*config.LDAP)) config.LDAP {
		c := base()
		f(&c)
		return c
	}
	tests := map[string]config.LDAP{
		"OpenLDAPTemplate":    ol(func(c *config.LDAP) { c.UserDNTemplate = "uid=%s,dc=x" }),
		"OpenLDAPSearch":      ol(func(c *config.LDAP) { c.UserSearch = &config.LDAPUserSearch{Base: "dc=x", Filter: "(uid=%s)"} }),
		"OpenLDAPNeither":     ol(func(c *config.LDAP) {}),
		"OpenLDAPBoth":        ol(func(c *config.LDAP) { c.UserDNTemplate = "uid=%s"; c.UserSearch = &config.LDAPUserSearch{Base: "dc=x"} }),
		"OpenLDAPNoFilter":    ol(func(c *config.LDAP) { c.UserSearch = &config.LDAPUserSearch{Base: "dc=x"} }),
		"OpenLDAPListGroup":   ol(func(c *config.LDAP) { c.UserDNTemplate = "uid=%s"; c.ListGroup = "cn=g" }),
		"AD":                  ad(nil),
		"ADUPN":               ad(func(c *config.LDAP) { c.NameAttribute = "userPrincipalName" }),
		"ADNameAttribute":     ad(func(c *config.LDAP) { c.NameAttribute = "uid" }),
		"ADPlain":             ad(func(c *config.LDAP) { c.URL = "ldap://x"; c.InsecurePlain = true }),
		"ADStartTLS":          ad(func(c *config.LDAP) { c.URL = "ldap://x"; c.StartTLS = true }),
		"ADNoStartTLS":        ad(func(c *config.LDAP) { c.URL = "ldap://x" }),
		"ADTemplateNoSearch":  ad(func(c *config.LDAP) { c.UserDNTemplate = "cn=%s"; c.UserSearch = nil }),
		"ADExop":              ad(func(c *config.LDAP) { c.UseExop = &yes }),
		"ADNoExop":            ad(func(c *config.LDAP) { c.UseExop = &no }),
		"ADPasswordAttribute": ad(func(c *config.LDAP) { c.PasswordAttribute = "userPassword" }),
		"ADUnicodePwd":        ad(func(c *config.LDAP) { c.PasswordAttribute = "unicodePwd" }),
		"ADShadow":            ad(func(c *config.LDAP) { c.ShadowLastChange = true }),
		"ADEverythingWrong": ad(func(c *config.LDAP) {
			c.URL = "ldap://x"
			c.NameAttribute = "cn"
			c.InsecurePlain = true
			c.UserDNTemplate = "cn=%s"
			c.UseExop = &yes
			c.ShadowLastChange = true
			c.PasswordAttribute = "x"
		}),
		"ADListGroupAndFilter": ad(func(c *config.LDAP) { c.ListGroup = "cn=g"; c.UserSearch.Filter = "(cn=%s)" }),
	}
	for name, c := range tests {
		t.Run(name, func(t *testing.T) {
			got, want := fmt.Sprint(c.Check()), fmt.Sprint(ldapSettings(c).Check())
			if got != want {
				t.Fatalf("config.LDAP.Check = %s\nldap.Config.Check = %s", got, want)
			}
		})
	}
}
