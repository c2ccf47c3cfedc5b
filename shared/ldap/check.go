package ldap

import (
	"errors"
	"strings"
)

// Check reports what is wrong in c beyond what its validate tags say, naming
// each key as the YAML under a directory's ldap: block spells it, such as
// "user_search.base: is required on Active Directory". New runs it too.
// shared/config's LDAP.Check says the same of the configuration file's ldap
// blocks (functions/internal/setup's TestLDAPSettingsCheckAsTheAdapter).
func (c Config) Check() error {
	return c.check()
}

// check is Check on a Config that New goes on to use: it also fills the
// defaults that depend on the dialect.
func (c *Config) check() error {
	var msgs []string
	switch c.Dialect {
	case ActiveDirectory:
		msgs = adConfig(c)
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
