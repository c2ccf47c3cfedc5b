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

// VerifyDN is Verify for an account named by its DN, such as a rotated secret's "dn" naming an
// account outside the user search (the service account itself).
func (d *Directory) VerifyDN(ctx context.Context, dn, pw string) error {
	const op = "ldap.VerifyDN"
	if _, err := goldap.ParseDN(dn); err != nil || pw == "" {
		return password.Errorf(password.EUNAUTHORIZED, "The DN or the password is not valid.")
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

// ChangePasswordDN is ChangePassword for an account named by its DN: it binds as dn with
// oldPassword and changes the password on that connection, with the ppolicy control.
func (d *Directory) ChangePasswordDN(ctx context.Context, dn, oldPassword, newPassword string) error {
	const op = "ldap.ChangePasswordDN"
	if newPassword == "" {
		return password.Errorf(password.EINVALID, "The new password is required.")
	}
	if _, err := goldap.ParseDN(dn); err != nil || oldPassword == "" {
		return password.Errorf(password.EUNAUTHORIZED, "The DN or the old password is not valid.")
	}
	c, err := d.dialUser(ctx)
	if err != nil {
		return domainError(op, selfService, err, ppNone)
	}
	defer release(c)
	d.setTimeout(ctx, c, d.cfg.OpTimeout)
	if _, err := c.SimpleBind(&goldap.SimpleBindRequest{Username: dn, Password: oldPassword}); err != nil {
		return domainError(op, selfService, err, ppNone)
	}
	d.setTimeout(ctx, c, d.cfg.OpTimeout)
	if err := d.dialect.change(c, dn, oldPassword, newPassword); err != nil {
		return domainError(op, selfService, err, ppNone)
	}
	return nil
}

// ResetPasswordDN is ResetPassword for an account named by its DN.
func (d *Directory) ResetPasswordDN(ctx context.Context, dn, newPassword string) error {
	const op = "ldap.ResetPasswordDN"
	if newPassword == "" {
		return password.Errorf(password.EINVALID, "The new password is required.")
	}
	if _, err := goldap.ParseDN(dn); err != nil {
		return password.Errorf(password.ENOTFOUND, "The DN is not valid.")
	}
	err := d.withService(ctx, false, func(c conn) error { return d.dialect.reset(c, dn, newPassword) })
	if err != nil {
		return domainError(op, admin, err, ppNone)
	}
	return nil
}
