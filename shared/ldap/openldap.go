package ldap

import (
	goldap "github.com/go-ldap/ldap/v3"
)

// The OpenLDAP dialect's binding, translation and probe (its change and reset
// are in ldap.go).

// bindUser binds c as the user with the ppolicy request control, so that a
// refusal says why (locked, expired).
func (o openLDAP) bindUser(op string, c conn, dn, pw string) error {
	res, err := c.SimpleBind(&goldap.SimpleBindRequest{
		Username:           dn,
		Password:           pw,
		Controls:           []goldap.Control{ppolicyRequest()},
		AllowEmptyPassword: false,
	})
	if err == nil {
		return nil
	}
	pp := ppNone
	if res != nil {
		pp = ppolicyFromControls(res.Controls)
	}
	return domainError(op, selfService, err, pp)
}

// domainError translates err, reading the ppolicy response control from its packet.
func (o openLDAP) domainError(op string, p path, err error) error {
	return domainError(op, p, err, ppNone)
}

// ping sends a Who am I? request.
func (o openLDAP) ping(c conn) error {
	_, err := c.Extended(goldap.NewExtendedRequest(oidWhoAmI, nil))
	return err
}
