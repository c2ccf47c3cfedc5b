package setup

import (
	"fmt"

	"chpass/shared/config"
	"chpass/shared/ldap"
	"chpass/shared/password"
)

// openDirectory opens a configured directory other than the embedded store.
func (a *App) openDirectory(name string, dc config.Directory) (password.Directory, error) {
	switch dc.Type {
	case "ldap":
		cfg := *dc.LDAP
		cfg.Warn = func(err error) {
			a.Logger.Warn().Err(err).Str("directory", name).Msg("directory warning")
		}
		d, err := ldap.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("directories[%s]: %w", name, err)
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
