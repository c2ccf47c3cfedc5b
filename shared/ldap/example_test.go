package ldap_test

import (
	"context"
	"log"
	"time"

	"chpass/shared/ldap"
	"chpass/shared/password"
)

// Example connects to an OpenLDAP server with ppolicy over StartTLS, finds users
// with a search, and changes a password as the user.
func Example() {
	dir, err := ldap.New(ldap.Config{
		URL:          "ldap://ldap.example.com",
		StartTLS:     true,
		CAFile:       "/etc/ssl/certs/example-ca.pem",
		BindDN:       "cn=pwadmin,dc=example,dc=com", // not the rootdn: it bypasses ppolicy
		BindPassword: "resolved from a secret at start",
		UserSearch: &ldap.UserSearch{
			Base:   "ou=people,dc=example,dc=com",
			Filter: "(&(objectClass=inetOrgPerson)(uid=%s))",
		},
		ShadowLastChange: true,
		OpTimeout:        5 * time.Second,
		Retries:          2,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer dir.Close()

	svc := password.NewService(password.DefaultPolicy(), dir)
	err = svc.Change(context.Background(), "alice", "Old-Pass-1", "New-Pass-2!")
	switch password.ErrorCode(err) {
	case "":
		log.Print("changed")
	case password.EPOLICY:
		log.Printf("refused: %v", password.ErrorViolations(err))
	default:
		log.Print(password.ErrorMessage(err))
	}
}

// Example_activeDirectory connects to Active Directory over ldaps as a delegated
// service account (a plain Domain User with "Reset Password" on the OU, never a
// Domain Admin), finds users by sAMAccountName under the OU, and resets a
// password so that the user must change it at the next logon.
func Example_activeDirectory() {
	dir, err := ldap.New(ldap.Config{
		Dialect:      ldap.ActiveDirectory,
		URL:          "ldaps://dc1.corp.example.com", // or ldap:// with StartTLS; never plain
		CAFile:       "/etc/chpass/corp-ca.pem",
		BindDN:       "CN=chpass-svc,OU=Service,DC=corp,DC=example,DC=com",
		BindPassword: "resolved from a secret at start",
		UserSearch:   &ldap.UserSearch{Base: "OU=People,DC=corp,DC=example,DC=com"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer dir.Close()

	helpdesk, err := dir.WithReset(ldap.ResetOptions{MustChange: true, Unlock: true})
	if err != nil {
		log.Fatal(err)
	}
	if err := helpdesk.ResetPassword(context.Background(), "alice", "Temp-Pass-2!"); err != nil {
		log.Print(password.ErrorMessage(err))
	}
}
