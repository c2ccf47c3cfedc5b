package ldap

import (
	"context"
	"errors"

	goldap "github.com/go-ldap/ldap/v3"

	"chpass/shared/password"
)

// Verify binds as the user called name with pw on a fresh connection, as rotation tests a
// pending password. Returns EUNAUTHORIZED when pw is wrong or the user does not exist, ELOCKED
// when ppolicy reports the account locked, EUNAVAILABLE when the directory cannot be reached.
func (d *Directory) Verify(ctx context.Context, name, pw string) error {
	const op = "ldap.Verify"
	if pw == "" {
		return password.Errorf(password.EUNAUTHORIZED, "The password is required.")
	}
	dn, err := d.userDN(ctx, name)
	if errors.Is(err, errNoSuchUser) {
		return domainError(op, selfService, errNoSuchUser, ppNone)
	}
	if err != nil {
		return domainError(op, lookup, err, ppNone)
	}
	c, err := d.dialUser(ctx)
	if err != nil {
		return domainError(op, selfService, err, ppNone)
	}
	defer release(c)
	d.setTimeout(ctx, c, d.cfg.OpTimeout)
	res, err := c.SimpleBind(&goldap.SimpleBindRequest{Username: dn, Password: pw, Controls: []goldap.Control{ppolicyRequest()}})
	if err != nil {
		pp := ppNone
		if res != nil {
			pp = ppolicyFromControls(res.Controls)
		}
		return domainError(op, selfService, err, pp)
	}
	return nil
}
