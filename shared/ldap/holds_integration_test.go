package ldap

import (
	"context"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"chpass/shared/password"
)

// TestHoldsPasswordOnSlapd: the check answers truthfully, counts no failure
// (many wrong checks neither lock the user nor leave a pwdFailureTime), and
// still answers true for a user whose password must be changed (pwdReset) or
// has expired.
func TestHoldsPasswordOnSlapd(t *testing.T) {
	e := requireSlapd(t)
	ctx := context.Background()
	for _, cfg := range map[string]Config{"StartTLSSearch": e.startTLS(), "LDAPSTemplate": e.ldaps()} {
		d := newDirectory(t, cfg)
		u := e.FreshUsers(t, 1, "")[0]
		if ok, err := d.HoldsPassword(ctx, u.Name, u.Password); err != nil || !ok {
			t.Fatalf("current password: %v, %v", ok, err)
		}
		for i := range 12 { // more than pwdMaxFailure (5)
			if ok, err := d.HoldsPassword(ctx, u.Name, u.Password+string(rune('a'+i))); err != nil || ok {
				t.Fatalf("wrong password %d: %v, %v", i, ok, err)
			}
		}
		root := e.RootConn(t)
		res, err := root.Search(goldap.NewSearchRequest("uid="+u.Name+","+e.People, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
			1, 0, false, "(objectClass=*)", []string{"pwdFailureTime", "pwdAccountLockedTime"}, nil))
		if err != nil {
			t.Fatal(err)
		}
		if f := res.Entries[0].GetAttributeValues("pwdFailureTime"); len(f) != 0 {
			t.Fatalf("the checks counted %d failures", len(f))
		}
		if !e.Bind(t, u.Name, u.Password) {
			t.Fatal("the user no longer binds after the checks")
		}
		if err := d.ResetPassword(ctx, u.Name, "Reset-Holds-1x"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := d.HoldsPassword(ctx, u.Name, "Reset-Holds-1x"); !ok {
			t.Error("the new password is not held after a reset")
		}
		if ok, _ := d.HoldsPassword(ctx, u.Name, u.Password); ok {
			t.Error("the old password is still held after a reset")
		}
		// Must change at next logon.
		mod := goldap.NewModifyRequest("uid="+u.Name+","+e.People, nil)
		mod.Replace("pwdReset", []string{"TRUE"})
		if err := root.Modify(mod); err != nil {
			t.Fatal(err)
		}
		root.Close()
		if ok, err := d.HoldsPassword(ctx, u.Name, "Reset-Holds-1x"); err != nil || !ok {
			t.Errorf("pwdReset: %v, %v", ok, err)
		}
		_, err = d.HoldsPassword(ctx, "nobody-"+u.Name, "x")
		if password.ErrorCode(err) != password.ENOTFOUND {
			t.Errorf("unknown user: %v", err)
		}
	}
	t.Run("Expired", func(t *testing.T) {
		d := newDirectory(t, e.ldaps())
		u := e.FreshUsers(t, 1, "expire")[0]
		time.Sleep(2100 * time.Millisecond) // pwdMaxAge is 1s
		if e.Bind(t, u.Name, u.Password) {
			t.Fatal("the expired password still binds: the fixture is not expired")
		}
		if ok, err := d.HoldsPassword(ctx, u.Name, u.Password); err != nil || !ok {
			t.Errorf("expired: %v, %v", ok, err)
		}
	})
}
