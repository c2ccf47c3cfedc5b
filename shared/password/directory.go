package password

import (
	"context"
	"time"
)

// User is an account as a directory describes it. It never holds a password.
type User struct {
	Name              string
	ID                string // the directory's id for the account, such as uidNumber
	Group             string
	GroupID           string
	Created           time.Time
	PasswordChangedAt time.Time // zero when unknown
	Locked            bool
}

// Directory is where accounts live: the embedded store, OpenLDAP, or Active Directory.
// Implementations are safe for concurrent use. No method returns, logs or wraps a
// password in an error.
type Directory interface {
	// ChangePassword sets name's password to newPassword after proving oldPassword,
	// as the user themselves.
	// Returns EUNAUTHORIZED when the old password is wrong or the user does not exist
	// (the two are indistinguishable, in answer and in time), ELOCKED when the account
	// is locked, EPOLICY when the directory refuses the new password (history, age,
	// quality), EFORBIDDEN when the directory does not let the user change it, and
	// EUNAVAILABLE when the directory cannot be reached.
	ChangePassword(ctx context.Context, name, oldPassword, newPassword string) error

	// ResetPassword sets name's password to newPassword as an administrator, without
	// the old one.
	// Returns ENOTFOUND when the user does not exist, EPOLICY when the directory
	// refuses the new password, EFORBIDDEN when the service account may not reset it,
	// and EUNAVAILABLE when the directory cannot be reached.
	ResetPassword(ctx context.Context, name, newPassword string) error

	// LookupUser returns the account called name.
	// Returns ENOTFOUND when it does not exist and EUNAVAILABLE when the directory
	// cannot be reached.
	LookupUser(ctx context.Context, name string) (*User, error)
}
