// Package batch is the room of the domain where batches of password resets
// live once they outlast a request: the Task record in domain terms, the
// TaskStore port that keeps tasks durably (the embedded store for one process,
// a shared store for many instances), the sealing of a waiting task's
// passwords, and the Engine that runs tasks, idempotently and resumably, from
// a local worker loop or from any instance told "run task <id>".
//
// A batch's record is durable per user: before a user's password is changed
// an intent is recorded, and after it the outcome, each with an audit event.
// A run that was interrupted (a crash, a deadline, a lost lease) leaves intents
// without an outcome; the next run reconciles exactly those, recognising a
// user who already holds the task's password as done, and never resets a user
// whose outcome is known.
package batch

import (
	"context"
	"time"
)

// Status is where a task stands.
type Status string

// Task statuses. A task is pending while it is StatusRunning; the others are final.
const (
	StatusRunning   Status = "running"   // accepted, not finished: a run may be going on or due
	StatusSucceeded Status = "succeeded" // every user's password was changed
	StatusFailed    Status = "failed"    // no user's password was changed
	StatusPartial   Status = "partial"   // some users' passwords were changed, others not
)

// Final reports whether s is a status a task ends in.
func (s Status) Final() bool {
	return s == StatusSucceeded || s == StatusFailed || s == StatusPartial
}

// KindReset is the Kind of a task that resets the passwords of a list of users
// as an administrator (E-HPC's Async ModifyUserPasswords).
const KindReset = "reset"

// Error codes of this room, beside the password package's codes (ENOTFOUND,
// EINVALID, EUNAVAILABLE, ECANCELED, EINTERNAL) that TaskStore methods also
// return.
const (
	// ECLAIMED: another owner holds the task's claim and its lease has not
	// expired, or (for RecordUser, ReleaseTask and FinishTask) the caller no
	// longer holds the claim.
	ECLAIMED = "claimed"
	// EENDED: the task has already ended; nothing more may be recorded.
	EENDED = "ended"
	// EUNKNOWN is a user's outcome when a run was interrupted after recording
	// the intent and the change cannot be checked without a login that the
	// directory would count as a failure (the directory is neither a PasswordHolder nor a PasswordChangeChecker,
	// or its check failed).
	// The password may or may not have changed.
	EUNKNOWN = "unknown"
)

// Origin says who asked for a task and what, as the API surface that accepted
// it chose to show it. It never holds a password.
type Origin struct {
	RequestID string            `json:"request_id,omitempty"`
	Caller    string            `json:"caller,omitempty"`  // the access key id or principal that asked
	Request   map[string]string `json:"request,omitempty"` // the request's parameters, passwords masked
}

// Task is a batch as a TaskStore keeps it.
type Task struct {
	ID      string
	Cluster string // the scope the batch runs in: whose directory and policy
	Kind    string // KindReset
	Status  Status
	Created time.Time
	Updated time.Time
	// Total is how many users the batch has; their names and passwords are in
	// Sealed, in batch order (UserRecord.Index).
	Total int
	// Sealed is the batch's users and passwords, sealed with AES-GCM under the
	// engine's key with the task ID as additional data. Never a password in
	// clear; nil once the task has ended.
	Sealed []byte
	Origin Origin
	// Owner holds the claim to run the task until LeaseUntil (the store's
	// clock); "" when nobody does.
	Owner      string
	LeaseUntil time.Time
	// Users are the per-user records so far, in batch order (by Index), at
	// most one per user: its intent, replaced by its outcome.
	Users []UserRecord
}

// Done returns how many users have an outcome.
func (t Task) Done() int {
	n := 0
	for _, u := range t.Users {
		if u.Phase == PhaseOutcome {
			n++
		}
	}
	return n
}

// Phase is how far a user of a batch has got.
type Phase string

// Phases of a UserRecord.
const (
	PhaseIntent  Phase = "intent"  // the change is about to be tried (or was, and the run stopped)
	PhaseOutcome Phase = "outcome" // the change was tried and Code says how it went
)

// UserRecord is the durable record of one user of a batch. It never holds a
// password.
type UserRecord struct {
	Index int    `json:"index"` // the user's position in the batch, from 0
	Name  string `json:"name"`
	Phase Phase  `json:"phase"`
	// Code is the outcome, in the password package's codes ("" for success)
	// or EUNKNOWN; empty for an intent.
	Code string `json:"code,omitempty"`
	// Message is the caller-safe message of a failure.
	Message string `json:"message,omitempty"`
	// Checked is set when the outcome was established after an interruption
	// by checking that the user holds the task's password (PasswordHolder), or
	// on Active Directory that the password was written after the intent
	// (PasswordChangeChecker), not by a reset.
	Checked bool      `json:"checked,omitempty"`
	At      time.Time `json:"at"`
}

// TaskStore keeps tasks durably, for one process or for many instances.
// Implementations are safe for concurrent use, and each method is atomic: a
// shared store implements each with one round trip. Every method returns
// ECANCELED when ctx has ended before it started and EUNAVAILABLE when the
// store cannot be reached; a Task it returns is a copy.
type TaskStore interface {
	// CreateTask stores a new task as given, with Status StatusRunning, no
	// Owner and no Users (those fields of t are ignored). A zero Created or
	// Updated is the store's now.
	// Returns EINVALID for an empty ID, an ID the store cannot key, or an ID
	// that already exists.
	CreateTask(ctx context.Context, t Task) error

	// Task returns the task with id, with its Users.
	// Returns ENOTFOUND when there is none.
	Task(ctx context.Context, id string) (Task, error)

	// Tasks returns the tasks of cluster, or of every cluster when cluster is
	// "", newest first (by Created), from offset on and at most limit of them
	// (all when limit is 0), with their Users, and how many there are in all.
	// Returns EINVALID for a negative offset or limit.
	Tasks(ctx context.Context, cluster string, offset, limit int) ([]Task, int, error)

	// PendingTasks returns every task whose Status is StatusRunning, oldest
	// first, whoever holds its claim.
	PendingTasks(ctx context.Context) ([]Task, error)

	// ClaimTask makes owner the holder of the task's claim until lease from
	// now on the store's clock, and returns the task with its Users. It
	// succeeds when nobody holds the claim, when the holder's lease has
	// expired (a taken-over task), and when owner already holds it (which
	// renews the lease).
	// Returns ENOTFOUND when there is no such task, EENDED when it has ended,
	// ECLAIMED when another owner holds an unexpired lease, and EINVALID for
	// an empty owner or a lease that is not positive.
	ClaimTask(ctx context.Context, id, owner string, lease time.Duration) (Task, error)

	// RecordUser stores r as the record of user r.Index of the task, replacing
	// the one before (an intent by its outcome), while owner holds the claim
	// (even past its lease, as long as nobody has taken it over). It sets the
	// task's Updated to r.At.
	// Returns ENOTFOUND when there is no such task, EENDED when it has ended,
	// ECLAIMED when owner does not hold the claim, and EINVALID when r.Index
	// is not within the task's Total or r.Phase is not a Phase.
	RecordUser(ctx context.Context, id, owner string, r UserRecord) error

	// ReleaseTask gives up owner's claim, so that another run may claim the
	// task at once (a run that stops before the end calls it).
	// Returns ENOTFOUND, EENDED, and ECLAIMED when owner does not hold the claim.
	ReleaseTask(ctx context.Context, id, owner string) error

	// FinishTask ends the task with status, which must be final: it erases
	// Sealed, drops the claim and sets Updated to the store's now.
	// Returns ENOTFOUND, EENDED when it has already ended, ECLAIMED when owner
	// does not hold the claim, and EINVALID when status is not final.
	FinishTask(ctx context.Context, id, owner string, status Status) error
}
