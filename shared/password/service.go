package password

import (
	"context"
	"errors"
	"sync"

	"github.com/go-playground/validator/v10"
)

// Service changes and resets passwords: it checks the policy first and only then
// asks the directory, so a password the policy refuses never reaches it.
// It is safe for concurrent use.
type Service struct {
	policy Policy
	dir    Directory
	events *events // nil: no events
}

// NewService returns a Service enforcing p in front of dir.
func NewService(p Policy, dir Directory) *Service {
	return &Service{policy: p, dir: dir}
}

// policyCandidate is a Candidate with the policy it is checked against, so that
// one validator serves every Service whatever its policy.
type policyCandidate struct {
	Candidate
	policy *Policy
}

// candidateValidator is the process's one validator of policyCandidate, built by
// the first Check rather than by each NewService: a start, and requests that
// check no password, never pay for it. Its struct-level validation is
// NewValidator's, with the candidate's own policy.
var candidateValidator = sync.OnceValue(func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterStructValidation(func(sl validator.StructLevel) {
		c := sl.Current().Interface().(policyCandidate)
		reportViolations(sl, c.policy.Check(c.Name, c.Password))
	}, policyCandidate{})
	return v
})

// Policy returns the policy the service enforces.
func (s *Service) Policy() Policy { return s.policy }

// Directory returns the directory behind the service.
func (s *Service) Directory() Directory { return s.dir }

// Check returns an EPOLICY error listing every rule of the policy that password
// breaks for the user called name, or nil.
func (s *Service) Check(name, password string) error {
	if err := candidateValidator().Struct(policyCandidate{Candidate{Name: name, Password: password}, &s.policy}); err != nil {
		return PolicyError(s.policy.violations(err))
	}
	return nil
}

// Change sets name's password to newPassword after proving oldPassword, as the
// user themselves. It returns EFORBIDDEN when the policy does not let users change
// their own passwords, EINVALID for empty arguments, EUNAUTHORIZED (an unknown
// user) for a name that is not a PreparedName, EPOLICY with every violated rule,
// and otherwise what the directory returns.
func (s *Service) Change(ctx context.Context, name, oldPassword, newPassword string) error {
	_, err := s.ChangeOutcome(ctx, name, oldPassword, newPassword)
	return err
}

// Outcome says what a Change did besides its error.
type Outcome struct {
	// Asked is true when the change reached the directory: it was asked to change
	// the password, whatever it answered. It is false when the service refused the
	// change itself (EFORBIDDEN, EINVALID, EUNAUTHORIZED for a name no account
	// holds, EPOLICY) before asking.
	Asked bool
}

// ChangeOutcome is Change, and it says whether the directory was asked, so that
// a surface can audit exactly the attempts that reached the directory.
func (s *Service) ChangeOutcome(ctx context.Context, name, oldPassword, newPassword string) (Outcome, error) {
	switch {
	case !s.policy.AllowUserToChangePassword:
		return Outcome{}, Errorf(EFORBIDDEN, "Users may not change their own passwords.")
	case name == "":
		return Outcome{}, Errorf(EINVALID, "The user name is required.")
	case oldPassword == "":
		return Outcome{}, Errorf(EINVALID, "The old password is required.")
	case newPassword == "":
		return Outcome{}, Errorf(EINVALID, "The new password is required.")
	case !PreparedName(name):
		// No account holds such a name (see PreparedName): the answer of an unknown user.
		return Outcome{}, Errorf(EUNAUTHORIZED, "The user name or the old password is incorrect.")
	}
	var vs []Violation
	if err := s.Check(name, newPassword); err != nil {
		vs = ErrorViolations(err)
	}
	if oldPassword == newPassword {
		vs = append(vs, s.policy.Violation(RuleSameAsOld))
	}
	if len(vs) > 0 {
		return Outcome{}, PolicyError(vs)
	}
	asked := Outcome{Asked: true}
	if err := s.dir.ChangePassword(ctx, name, oldPassword, newPassword); err != nil {
		return asked, err
	}
	s.publish(ctx, KindSelfService, name)
	return asked, nil
}

// Reset sets name's password to newPassword as an administrator. It checks the
// name and the policy first.
func (s *Service) Reset(ctx context.Context, name, newPassword string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if err := s.Check(name, newPassword); err != nil {
		return err
	}
	if err := s.dir.ResetPassword(ctx, name, newPassword); err != nil {
		return err
	}
	s.publish(ctx, KindAdminReset, name)
	return nil
}

// wellFormedName reports whether name is what a user name may look like on the
// administrative paths: the portable POSIX user name, plus '@' for user principal
// names, that is ^[A-Za-z0-9_][A-Za-z0-9._@-]{0,63}$. It is a loop rather than that
// regexp, whose {0,63} compiled at every process start to 60 KB in 861 allocations.
func wellFormedName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_':
		case (c == '.' || c == '@' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// CheckName returns EINVALID unless name is a well-formed user name: 1 to 64
// characters of letters, digits, '.', '_', '-' and '@', not starting with '.',
// '-' or '@'. Such a name holds no LDAP, DN or shell metacharacter.
func CheckName(name string) error {
	if name == "" {
		return Errorf(EINVALID, "The user name is required.")
	}
	if !wellFormedName(name) {
		return Errorf(EINVALID, "The user name must be 1 to 64 letters, digits, '.', '_', '-' or '@', and start with a letter, digit or '_'.")
	}
	return nil
}

// ResetRequest is one entry of a batch reset.
type ResetRequest struct {
	Name     string
	Password string
}

// ResetResult is the outcome of one entry of a batch reset; Err is nil on success.
type ResetResult struct {
	Name string
	Err  error
}

// InvalidEntryError says which entry of a batch is invalid, and why.
type InvalidEntryError struct {
	Index int    // 0-based position in the batch
	Field string // "Name" or "Password"
	Err   error  // an *Error: EINVALID for names, EPOLICY for passwords
}

// Error implements error.
func (e *InvalidEntryError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the entry's own error.
func (e *InvalidEntryError) Unwrap() error { return e.Err }

// CheckBatch validates every entry of a batch before anything changes: each name
// well formed and unique under the directory's own equality (bob and BOB are one
// name in LDAP), each password within the policy. It returns nil, or one
// *InvalidEntryError for each bad entry, in the batch's order, joined with
// errors.Join (errors.As finds the first; Unwrap() []error gives them all).
func (s *Service) CheckBatch(entries []ResetRequest) error {
	seen := make(map[string]int, len(entries))
	var bad []error
	for i, e := range entries {
		if err := CheckName(e.Name); err != nil {
			bad = append(bad, &InvalidEntryError{Index: i, Field: "Name", Err: err})
			continue
		}
		key := s.nameKey(e.Name)
		if j, dup := seen[key]; dup {
			bad = append(bad, &InvalidEntryError{Index: i, Field: "Name", Err: Errorf(EINVALID, "The user name repeats entry %d.", j+1)})
			continue
		}
		seen[key] = i
		if err := s.Check(e.Name, e.Password); err != nil {
			bad = append(bad, &InvalidEntryError{Index: i, Field: "Password", Err: err})
		}
	}
	return errors.Join(bad...)
}

// ResetAll resets every entry of a batch that CheckBatch accepted, at most
// concurrency at a time, and returns one result per entry in the batch's order.
// It finds the entries first, in bulk when the directory can (ForBatch).
// Entries not started when ctx ends fail with ECANCELED; none is retried.
func (s *Service) ResetAll(ctx context.Context, entries []ResetRequest, concurrency int) []ResetResult {
	if concurrency < 1 {
		concurrency = 1
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name
	}
	s = s.ForBatch(ctx, names)
	results := make([]ResetResult, len(entries))
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i, e := range entries {
		results[i].Name = e.Name
		select {
		case <-ctx.Done():
			results[i].Err = Wrap(ECANCELED, ctx.Err(), "The deadline passed before this user's password was changed.")
			continue
		case sem <- struct{}{}:
		}
		wg.Add(1)
		go func(i int, e ResetRequest) {
			defer func() { <-sem; wg.Done() }()
			if ctx.Err() != nil {
				results[i].Err = Wrap(ECANCELED, ctx.Err(), "The deadline passed before this user's password was changed.")
				return
			}
			results[i].Err = s.dir.ResetPassword(ctx, e.Name, e.Password)
			if results[i].Err == nil {
				s.publish(ctx, KindAdminReset, e.Name)
			}
		}(i, e)
	}
	wg.Wait()
	return results
}

// BatchFinder is a directory that can find the entries of many users in a few
// operations, where ResetPassword alone would look each user up before
// changing the password (LDAP: a search per user).
type BatchFinder interface {
	// ForBatch returns the directory for one run of a batch that resets names'
	// passwords: names' entries are found in bulk (from now on, in the
	// background; a ResetPassword waits for its own), and its ResetPassword
	// changes each of them without looking the user up again. It answers
	// every call exactly as the directory itself would: a name it could not
	// settle in bulk (not found, found twice, a stored spelling that differs,
	// a failed search, a resolution grown old) is looked up on its own, as
	// before. Its other methods are the directory's. It never fails; the view
	// is meant for one batch run only, and must not be kept beyond it.
	ForBatch(ctx context.Context, names []string) Directory
}

// ForBatch returns the service for one run of a batch that resets names: when
// its directory is a BatchFinder, a copy of s, events included, in front of the
// directory's view for the batch (see BatchFinder), which finds the entries in
// a few operations; otherwise s itself. Use the copy for that run only.
func (s *Service) ForBatch(ctx context.Context, names []string) *Service {
	f, ok := s.dir.(BatchFinder)
	if !ok || len(names) == 0 {
		return s
	}
	return s.WithDirectory(f.ForBatch(ctx, names))
}
