// Package rotation is the domain of scheduled password rotation: the Secrets port (read a staged
// version, put a pending version, move a stage) that the Secrets Manager, KMS and embedded adapters
// implement, the Account port a directory offers it, the Policy port that makes new passwords, the
// secret's JSON shape, and the two staged protocols: Secrets Manager's four steps and the
// timer-driven one used with KMS and the embedded store. It knows no other domain: setup hands it
// the password policy and tells it which directory errors are a refused password.
package rotation

import (
	"context"
	"errors"
	"fmt"
)

// Errors of the Secrets port. Adapters wrap them (errors.Is finds them) with the service's own
// code in the text, never a secret's value.
var (
	// ErrSecretNotFound: no such secret (Secrets Manager and KMS: ResourceNotFoundException,
	// Forbidden.ResourceNotFound).
	ErrSecretNotFound = errors.New("no such secret")
	// ErrVersionNotFound: no such version, no version holds the stage, or the version has no
	// value yet (Secrets Manager: ResourceNotFoundException; KMS: Forbidden.ResourceNotFound).
	ErrVersionNotFound = errors.New("no such version or stage")
	// ErrVersionExists: a version of that id exists already with another value (Secrets Manager:
	// ResourceExistsException; KMS: Rejected.ResourceExist). It is the lock of the timer
	// protocol: two writers of one slot's version put different random passwords, and one gets it.
	ErrVersionExists = errors.New("version exists")
	// ErrStageConflict: the stage is not on the version it was to be moved from (Secrets Manager:
	// InvalidParameterException; KMS: Rejected.ValidationFailed).
	ErrStageConflict = errors.New("stage is not on that version")
	// ErrThrottled: the service refused for rate; worth retrying after a pause.
	ErrThrottled = errors.New("throttled")
)

// Version is one version of a secret and the stages attached to it.
type Version struct {
	ID     string
	Stages []string
}

// Has reports whether v carries stage.
func (v Version) Has(stage string) bool {
	for _, s := range v.Stages {
		if s == stage {
			return true
		}
	}
	return false
}

// Description is what a secret service says of a secret, values aside.
type Description struct {
	// RotationEnabled is Secrets Manager's flag; adapters of services without one report true.
	RotationEnabled bool
	Versions        []Version
}

// Staged returns the version carrying stage, if any.
func (d Description) Staged(stage string) (Version, bool) {
	for _, v := range d.Versions {
		if v.Has(stage) {
			return v, true
		}
	}
	return Version{}, false
}

// Version returns the version id, if the secret has it.
func (d Description) Version(id string) (Version, bool) {
	for _, v := range d.Versions {
		if v.ID == id {
			return v, true
		}
	}
	return Version{}, false
}

// Secrets is the write half of a secret service, as rotation needs it. Implementations are safe
// for concurrent use and never put a value in an error.
type Secrets interface {
	// Describe returns the secret's versions and stages.
	// Returns ErrSecretNotFound.
	Describe(ctx context.Context, secret string) (Description, error)
	// Value returns the value of version id, or when id is "" of the version staged stage; with
	// both, the version must carry the stage.
	// Returns ErrVersionNotFound when there is no such version or stage or it has no value yet.
	Value(ctx context.Context, secret, id, stage string) (string, error)
	// Put stores value as a new version id carrying stages.
	// Returns ErrVersionExists when id exists with a different value; the same value again
	// succeeds, as both services do.
	Put(ctx context.Context, secret, id, value string, stages []string) error
	// MoveStage attaches stage to version to, removing it from version from ("" when no version
	// carries it; to "" removes it from from). Moving the current stage moves the previous stage
	// to the version that was current, as both services do.
	// Returns ErrStageConflict when from does not carry stage, ErrVersionNotFound when to does
	// not exist.
	MoveStage(ctx context.Context, secret, stage, to, from string) error
}

// Stages names a service's stages.
type Stages struct{ Current, Pending, Previous string }

// AWSStages are Secrets Manager's; KMSStages are KMS's (ACSPending is a custom stage), which the
// embedded store uses too.
var (
	AWSStages = Stages{Current: "AWSCURRENT", Pending: "AWSPENDING", Previous: "AWSPREVIOUS"}
	KMSStages = Stages{Current: "ACSCurrent", Pending: "ACSPending", Previous: "ACSPrevious"}
)

// Policy is what rotation needs of a password policy: new passwords that pass it
// (password.Policy is one).
type Policy interface {
	// Generate returns a random password for account name that passes the policy, holding none
	// of the characters of exclude, length long (0: the policy's default length).
	// Returns an error when the policy cannot be met, never one holding a password.
	Generate(name, exclude string, length int) (string, error)
}

// Account is what rotation needs of a directory. Implementations never put a password in an error.
type Account interface {
	// Verify binds as name with pw. Returns an error that Rotator.WrongPassword reports when pw
	// is wrong.
	Verify(ctx context.Context, name, pw string) error
	// ChangePassword changes name's password from oldPassword to newPassword as name.
	ChangePassword(ctx context.Context, name, oldPassword, newPassword string) error
	// ResetPassword sets name's password as the service account.
	ResetPassword(ctx context.Context, name, newPassword string) error
}

// DNAccount is an Account that also takes accounts by DN, for secrets whose "dn" names an
// account outside the directory's user search (such as chpass's own service account).
type DNAccount interface {
	VerifyDN(ctx context.Context, dn, pw string) error
	ChangePasswordDN(ctx context.Context, dn, oldPassword, newPassword string) error
	ResetPasswordDN(ctx context.Context, dn, newPassword string) error
}

// byDN is an Account that addresses one DN whatever name it is given.
type byDN struct {
	a  DNAccount
	dn string
}

func (b byDN) Verify(ctx context.Context, _, pw string) error { return b.a.VerifyDN(ctx, b.dn, pw) }
func (b byDN) ChangePassword(ctx context.Context, _, old, pw string) error {
	return b.a.ChangePasswordDN(ctx, b.dn, old, pw)
}
func (b byDN) ResetPassword(ctx context.Context, _, pw string) error {
	return b.a.ResetPasswordDN(ctx, b.dn, pw)
}

// Failure is a rotation that did not complete. Its text names the secret, the version, the step
// and the cause, never a value.
type Failure struct {
	Secret, Version, Step string
	Err                   error
}

func (f *Failure) Error() string {
	return fmt.Sprintf("rotation of %s version %s failed at %s: %v", f.Secret, f.Version, f.Step, f.Err)
}

// Unwrap returns the cause.
func (f *Failure) Unwrap() error { return f.Err }
