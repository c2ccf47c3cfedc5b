package config

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ActiveDirectory is the dialect of Microsoft AD and Samba AD (directories.<name>.ldap.dialect).
const ActiveDirectory = "active_directory"

// The name attributes of Active Directory accounts.
const (
	sAMAccountName    = "sAMAccountName"
	userPrincipalName = "userPrincipalName"
)

// LDAP is the ldap block of a directory of type ldap: plain settings, with the
// keys and checks of package ldap's Config, which functions/internal/setup builds
// from them. Its bind_password may be a ${REF}.
type LDAP struct {
	// Dialect is the kind of server: "openldap" (the default) or
	// "active_directory" (Microsoft AD and Samba AD).
	Dialect string `yaml:"dialect" validate:"omitempty,oneof=openldap active_directory"`
	// URL is ldap://host[:port] or ldaps://host[:port].
	URL string `yaml:"url" validate:"required,url,startswith=ldap://|startswith=ldaps://"`
	// StartTLS upgrades an ldap:// connection with StartTLS before anything else.
	StartTLS bool `yaml:"start_tls"`
	// CAFile is a PEM file of the CAs to trust instead of the system's.
	CAFile string `yaml:"ca_file" validate:"omitempty,file"`
	// ServerName is the name to verify the server's certificate against, when it
	// is not the URL's host.
	ServerName string `yaml:"server_name"`
	// InsecurePlain allows ldap:// without StartTLS: passwords cross the network
	// in clear. Only for loopback and tests.
	InsecurePlain bool `yaml:"insecure_plain"`
	// BindDN and BindPassword are the service account that looks users up and
	// resets passwords. It must not be the rootdn, which bypasses ppolicy.
	BindDN       string `yaml:"bind_dn" validate:"required"`
	BindPassword string `yaml:"bind_password" json:"-" validate:"required"`
	// UserSearch finds a user's entry with a search as the service account.
	UserSearch *LDAPUserSearch `yaml:"user_search"`
	// UserDNTemplate makes a user's DN from the name, which replaces %s escaped
	// as an RDN value, such as "uid=%s,ou=people,dc=example,dc=com".
	UserDNTemplate string `yaml:"user_dn_template" validate:"omitempty,contains=%s"`
	// NameAttribute holds the user name in entries; "uid" by default, and on
	// Active Directory "sAMAccountName" (the default) or "userPrincipalName".
	NameAttribute string `yaml:"name_attribute"`
	// ListGroup, on Active Directory, restricts ListUsers to the members of this
	// group (by DN; members of nested groups too) under user_search.base.
	ListGroup string `yaml:"list_group"`
	// PageSize is the page size of the Simple Paged Results search of ListUsers;
	// 500 by default, 1000 (AD's MaxPageSize) on Active Directory.
	PageSize int `yaml:"page_size" validate:"min=0,max=100000"`
	// UseExop changes passwords with the RFC 3062 Password Modify extended
	// operation (nil or true, the default); false modifies PasswordAttribute.
	UseExop *bool `yaml:"use_exop"`
	// PasswordAttribute is the attribute modified when UseExop is false;
	// "userPassword" by default.
	PasswordAttribute string `yaml:"password_attribute"`
	// ShadowLastChange sets shadowLastChange to today after each change or reset.
	ShadowLastChange bool `yaml:"shadow_last_change"`
	// PoolSize is the most connections bound as the service account; 8 by default.
	PoolSize int `yaml:"pool_size" validate:"min=0,max=256"`
	// DialTimeout bounds connecting, TLS and binding; 5s by default.
	DialTimeout time.Duration `yaml:"dial_timeout" validate:"min=0"`
	// OpTimeout bounds every operation; 10s by default.
	OpTimeout time.Duration `yaml:"op_timeout" validate:"min=0"`
	// Retries is how many times a transient failure (network, busy, unavailable)
	// is retried, with backoff. A refusal is never retried, nor is a change the
	// server may have applied.
	Retries int `yaml:"retries" validate:"min=0,max=10"`
}

// String describes c without its bind password, so that printing an LDAP with
// %v or %+v never shows the secret.
func (c LDAP) String() string {
	if c.BindPassword != "" {
		c.BindPassword = "REDACTED"
	}
	type plain LDAP // no methods: no recursion
	return fmt.Sprintf("%+v", plain(c))
}

// GoString is String for %#v.
func (c LDAP) GoString() string { return "config.LDAP" + c.String() }

// LDAPUserSearch finds a user's entry: a search under Base with Filter, in which
// %s is replaced by the name escaped as a filter value, such as
// "(&(objectClass=inetOrgPerson)(uid=%s))".
type LDAPUserSearch struct {
	Base string `yaml:"base" validate:"required"`
	// Filter is required on OpenLDAP; on Active Directory it defaults to the
	// user accounts whose name_attribute is the name.
	Filter string `yaml:"filter" validate:"omitempty,contains=%s,startswith=(,endswith=)"`
	// Scope is "sub" (the default) or "one".
	Scope string `yaml:"scope" validate:"omitempty,oneof=one sub"`
}

// Check reports what is wrong in c beyond what its validate tags say, naming
// each key as the YAML under a directory's ldap: block spells it, such as
// "user_search.base: is required on Active Directory". Its messages are those of
// package ldap's Config.Check, which the ldap adapter runs again when it opens.
func (c LDAP) Check() error {
	var msgs []string
	switch c.Dialect {
	case ActiveDirectory:
		name := c.NameAttribute
		if name == "" {
			name = sAMAccountName
		}
		if name != sAMAccountName && name != userPrincipalName {
			msgs = append(msgs, fmt.Sprintf("name_attribute: must be %s or %s on Active Directory", sAMAccountName, userPrincipalName))
		}
		if c.InsecurePlain {
			msgs = append(msgs, "insecure_plain: Active Directory refuses password changes over a plain connection "+
				"(it answers \"Transport encryption required\"); use ldaps:// or start_tls")
		}
		if c.UserDNTemplate != "" {
			msgs = append(msgs, "user_dn_template: Active Directory names entries by cn, not by the account name; use user_search (base)")
		}
		if c.UserSearch == nil {
			msgs = append(msgs, "user_search.base: is required on Active Directory (the OU of the users, or the domain)")
		}
		if c.UseExop != nil && *c.UseExop {
			msgs = append(msgs, "use_exop: Active Directory has no Password Modify operation; leave it out")
		}
		if c.PasswordAttribute != "" && c.PasswordAttribute != "unicodePwd" {
			msgs = append(msgs, "password_attribute: Active Directory's is unicodePwd; leave it out")
		}
		if c.ShadowLastChange {
			msgs = append(msgs, "shadow_last_change: applies to OpenLDAP's shadowAccount entries only")
		}
		if strings.HasPrefix(c.URL, "ldap://") && !c.StartTLS {
			msgs = append(msgs, "url: Active Directory changes passwords only over an encrypted connection: use ldaps:// or set start_tls")
		}
	default:
		if (c.UserSearch == nil) == (c.UserDNTemplate == "") {
			msgs = append(msgs, "user_search: set exactly one of user_search and user_dn_template")
		}
		if c.UserSearch != nil && c.UserSearch.Filter == "" {
			msgs = append(msgs, "user_search.filter: is required (on OpenLDAP)")
		}
		if c.ListGroup != "" {
			msgs = append(msgs, "list_group: applies to Active Directory only")
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return errors.New(strings.Join(msgs, "; "))
}
