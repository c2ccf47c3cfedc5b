package setup

import (
	"fmt"
	"strings"

	"chpass/shared/config"
	"chpass/shared/ldap"
	"chpass/shared/password"
)

// openDirectory opens a configured directory other than the embedded store.
func (a *App) openDirectory(name string, dc config.Directory) (password.Directory, error) {
	switch dc.Type {
	case "ldap":
		cfg := ldapSettings(*dc.LDAP)
		cfg.Warn = func(err error) {
			a.Logger.Warn().Err(err).Str("directory", name).Msg("directory warning")
		}
		d, err := ldap.New(cfg)
		if err != nil {
			// In the form of the configuration's other errors: the key, then what is wrong.
			return nil, fmt.Errorf("directories[%s].ldap: %s", name, strings.TrimPrefix(strings.TrimPrefix(err.Error(), "ldap: "), "invalid configuration: "))
		}
		if src := a.bindPasswords(dc.BindPasswordRef); src != nil {
			d.SetBindPasswords(src, 0)
		}
		a.closers = append(a.closers, d)
		return d, nil
	default:
		return nil, fmt.Errorf("directories[%s].type: %q is not supported", name, dc.Type)
	}
}

// ldapSettings hands the ldap adapter the settings of a directory's ldap block.
func ldapSettings(c config.LDAP) ldap.Config {
	l := ldap.Config{
		Dialect:           c.Dialect,
		URL:               c.URL,
		StartTLS:          c.StartTLS,
		CAFile:            c.CAFile,
		ServerName:        c.ServerName,
		InsecurePlain:     c.InsecurePlain,
		BindDN:            c.BindDN,
		BindPassword:      c.BindPassword,
		UserDNTemplate:    c.UserDNTemplate,
		NameAttribute:     c.NameAttribute,
		ListGroup:         c.ListGroup,
		PageSize:          c.PageSize,
		UseExop:           c.UseExop,
		PasswordAttribute: c.PasswordAttribute,
		ShadowLastChange:  c.ShadowLastChange,
		PoolSize:          c.PoolSize,
		DialTimeout:       c.DialTimeout,
		OpTimeout:         c.OpTimeout,
		Retries:           c.Retries,
	}
	if us := c.UserSearch; us != nil {
		l.UserSearch = &ldap.UserSearch{Base: us.Base, Filter: us.Filter, Scope: us.Scope}
	}
	return l
}
