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
