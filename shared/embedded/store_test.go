package embedded_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"chpass/shared/batch"
	"chpass/shared/embedded"
	"chpass/shared/password"
)

// cheap are argon2id parameters that keep tests fast. Production uses the defaults.
var cheap = embedded.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}

// clock is a fake time source that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// mustOpen opens a store in a fresh temporary directory, or at opts.Path, with
// cheap hashes unless opts says otherwise, and closes it when the test ends.
func mustOpen(tb testing.TB, opts embedded.Options) *embedded.Store {
	tb.Helper()
	if opts.Path == "" {
		opts.Path = filepath.Join(tb.TempDir(), "state", "chpass.db")
	}
	if opts.Argon2 == (embedded.Argon2Params{}) {
		opts.Argon2 = cheap
	}
	s, err := embedded.Open(opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

// mustEnsure seeds name with pw.
func mustEnsure(tb testing.TB, s *embedded.Store, name, pw string) {
	tb.Helper()
	if _, err := s.EnsureUser(context.Background(), name, pw); err != nil {
		tb.Fatalf("EnsureUser(%q): %v", name, err)
	}
}

// wantCode fails unless err carries code ("" for no error).
func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := password.ErrorCode(err); got != code {
		tb.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
}

// wantRule fails unless err is EPOLICY naming exactly rule.
func wantRule(tb testing.TB, err error, rule string) {
	tb.Helper()
	wantCode(tb, err, password.EPOLICY)
	vs := password.ErrorViolations(err)
	if len(vs) != 1 || vs[0].Rule != rule || vs[0].Message == "" {
		tb.Fatalf("violations = %+v, want one of rule %q", vs, rule)
	}
}

func TestChangePassword(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name     string
		ctx      context.Context
		user     string
		old, new string
		code     string
	}{
		{name: "OK", user: "alice", old: "Old-pass1", new: "New-pass1"},
		{name: "ErrWrongOldPassword", user: "alice", old: "wrong", new: "New-pass1", code: password.EUNAUTHORIZED},
		{name: "ErrUnknownUser", user: "mallory", old: "Old-pass1", new: "New-pass1", code: password.EUNAUTHORIZED},
		{name: "ErrEmptyName", user: "", old: "Old-pass1", new: "New-pass1", code: password.EUNAUTHORIZED},
		{name: "ErrNameTooLong", user: strings.Repeat("a", 40000), old: "Old-pass1", new: "New-pass1", code: password.EUNAUTHORIZED},
		{name: "ErrCanceled", ctx: canceled, user: "alice", old: "Old-pass1", new: "New-pass1", code: password.ECANCELED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			s := mustOpen(t, embedded.Options{History: 3, Now: clk.Now})
			mustEnsure(t, s, "alice", "Old-pass1")
			clk.Advance(time.Hour)
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			err := s.ChangePassword(ctx, tt.user, tt.old, tt.new)
			wantCode(t, err, tt.code)

			u, lerr := s.LookupUser(context.Background(), "alice")
			wantCode(t, lerr, "")
			changed := !u.PasswordChangedAt.Equal(u.Created)
			if changed != (tt.code == "") {
				t.Fatalf("password changed = %v after error %v", changed, err)
			}
			if tt.code == "" {
				if !u.PasswordChangedAt.Equal(clk.Now()) {
					t.Errorf("PasswordChangedAt = %v, want %v", u.PasswordChangedAt, clk.Now())
				}
				// The new password is now the one to prove; the old one no longer is.
				wantCode(t, s.ChangePassword(context.Background(), "alice", tt.old, "Other-pass1"), password.EUNAUTHORIZED)
				wantCode(t, s.ChangePassword(context.Background(), "alice", tt.new, "Other-pass1"), "")
			}
		})
	}
}

// An unknown user must be indistinguishable from a wrong password: same code and
// same message.
func TestChangePassword_UnknownUserSameAnswer(t *testing.T) {
	s := mustOpen(t, embedded.Options{})
	mustEnsure(t, s, "alice", "Old-pass1")
	ctx := context.Background()
	wrong := s.ChangePassword(ctx, "alice", "Not-it-1", "New-pass1")
	unknown := s.ChangePassword(ctx, "bob", "Not-it-1", "New-pass1")
	wantCode(t, wrong, password.EUNAUTHORIZED)
	wantCode(t, unknown, password.EUNAUTHORIZED)
	if password.ErrorMessage(wrong) != password.ErrorMessage(unknown) {
		t.Errorf("messages differ: %q and %q", password.ErrorMessage(wrong), password.ErrorMessage(unknown))
	}
	if wrong.Error() != unknown.Error() {
		t.Errorf("errors differ: %q and %q", wrong, unknown)
	}
}

func TestLockout(t *testing.T) {
	clk := newClock()
	s := mustOpen(t, embedded.Options{Lockout: 10 * time.Minute, Now: clk.Now}) // MaxFailures: default 5
	mustEnsure(t, s, "alice", "Right-pass1")
	ctx := context.Background()

	for i := range 5 {
		wantCode(t, s.ChangePassword(ctx, "alice", fmt.Sprintf("Wrong-%d", i), "New-pass1"), password.EUNAUTHORIZED)
	}
	t.Run("LockedEvenWithRightPassword", func(t *testing.T) {
		wantCode(t, s.ChangePassword(ctx, "alice", "Right-pass1", "New-pass1"), password.ELOCKED)
		wantCode(t, s.ChangePassword(ctx, "alice", "Wrong-9", "New-pass1"), password.ELOCKED)
		u, err := s.LookupUser(ctx, "alice")
		wantCode(t, err, "")
		if !u.Locked {
			t.Error("LookupUser: Locked = false while locked")
		}
	})
	t.Run("StillLockedJustBeforeTheEnd", func(t *testing.T) {
		clk.Advance(10*time.Minute - time.Second)
		wantCode(t, s.ChangePassword(ctx, "alice", "Right-pass1", "New-pass1"), password.ELOCKED)
	})
	t.Run("UnlockedAfterLockout", func(t *testing.T) {
		clk.Advance(time.Second)
		u, err := s.LookupUser(ctx, "alice")
		wantCode(t, err, "")
		if u.Locked {
			t.Error("LookupUser: Locked = true after the lockout ended")
		}
		wantCode(t, s.ChangePassword(ctx, "alice", "Right-pass1", "New-pass1"), "")
	})
	t.Run("SuccessResetsTheCount", func(t *testing.T) {
		for i := range 4 {
			wantCode(t, s.ChangePassword(ctx, "alice", fmt.Sprintf("Wrong-%d", i), "x"), password.EUNAUTHORIZED)
		}
		wantCode(t, s.ChangePassword(ctx, "alice", "New-pass1", "New-pass2"), "")
		for i := range 4 {
			wantCode(t, s.ChangePassword(ctx, "alice", fmt.Sprintf("Wrong-%d", i), "x"), password.EUNAUTHORIZED)
		}
		wantCode(t, s.ChangePassword(ctx, "alice", "New-pass2", "New-pass3"), "")
	})
	t.Run("ResetUnlocks", func(t *testing.T) {
		for i := range 5 {
			wantCode(t, s.ChangePassword(ctx, "alice", fmt.Sprintf("Wrong-%d", i), "x"), password.EUNAUTHORIZED)
		}
		wantCode(t, s.ChangePassword(ctx, "alice", "New-pass3", "New-pass4"), password.ELOCKED)
		wantCode(t, s.ResetPassword(ctx, "alice", "Reset-pass1"), "")
		u, err := s.LookupUser(ctx, "alice")
		wantCode(t, err, "")
		if u.Locked {
			t.Error("Locked = true after a reset")
		}
		wantCode(t, s.ChangePassword(ctx, "alice", "Reset-pass1", "New-pass5"), "")
	})
}

func TestLockout_Configurable(t *testing.T) {
	tests := []struct {
		name        string
		maxFailures int
		failures    int
		code        string // of the change with the right password after the failures
	}{
		{name: "TwoLocksAtTwo", maxFailures: 2, failures: 2, code: password.ELOCKED},
		{name: "TwoAllowsOne", maxFailures: 2, failures: 1, code: ""},
		{name: "NegativeNeverLocks", maxFailures: -1, failures: 20, code: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustOpen(t, embedded.Options{MaxFailures: tt.maxFailures})
			mustEnsure(t, s, "alice", "Right-pass1")
			for range tt.failures {
				wantCode(t, s.ChangePassword(context.Background(), "alice", "Wrong", "New-pass1"), password.EUNAUTHORIZED)
			}
			wantCode(t, s.ChangePassword(context.Background(), "alice", "Right-pass1", "New-pass1"), tt.code)
		})
	}
}

func TestHistory(t *testing.T) {
	type step struct {
		reset bool // ResetPassword instead of ChangePassword
		to    string
		code  string
	}
	// Each change goes from the current password to step.to.
	tests := []struct {
		name    string
		history int
		steps   []step
	}{
		{name: "OffAllowsTheSamePassword", history: 0, steps: []step{
			{to: "p0"}, {to: "p0"}, {reset: true, to: "p0"},
		}},
		{name: "OneRefusesOnlyTheCurrent", history: 1, steps: []step{
			{to: "p0", code: password.EPOLICY}, {to: "p1"}, {to: "p0"},
			{reset: true, to: "p0", code: password.EPOLICY}, {reset: true, to: "p1"},
		}},
		{name: "ThreeRefusesTheLastThree", history: 3, steps: []step{
			{to: "p1"}, {to: "p2"},
			{to: "p2", code: password.EPOLICY}, {to: "p1", code: password.EPOLICY}, {to: "p0", code: password.EPOLICY},
			{to: "p3"},                                     // remembered now: p3, p2, p1
			{to: "p1", code: password.EPOLICY}, {to: "p0"}, // p0 fell out of the window
		}},
		{name: "ResetHonoursHistory", history: 3, steps: []step{
			{to: "p1"}, {to: "p2"},
			{reset: true, to: "p2", code: password.EPOLICY}, {reset: true, to: "p0", code: password.EPOLICY},
			{reset: true, to: "p3"}, {reset: true, to: "p0"},
			{to: "p3", code: password.EPOLICY}, {to: "p4"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustOpen(t, embedded.Options{History: tt.history})
			mustEnsure(t, s, "alice", "p0")
			ctx, cur := context.Background(), "p0"
			for i, st := range tt.steps {
				var err error
				if st.reset {
					err = s.ResetPassword(ctx, "alice", st.to)
				} else {
					err = s.ChangePassword(ctx, "alice", cur, st.to)
				}
				if st.code == password.EPOLICY {
					wantRule(t, err, password.RuleReusePrevention)
					if strings.Contains(password.ErrorMessage(err), st.to) || strings.Contains(err.Error(), st.to) {
						t.Fatalf("step %d: the error quotes the password: %v", i, err)
					}
					continue
				}
				if password.ErrorCode(err) != st.code {
					t.Fatalf("step %d (%+v): code %q, want %q (%v)", i, st, password.ErrorCode(err), st.code, err)
				}
				cur = st.to
			}
			// The password in force is the last accepted one.
			wantCode(t, s.ChangePassword(ctx, "alice", cur, "final-pass"), "")
		})
	}
}

// The depth of the history is the current option, whatever the file remembers.
func TestHistory_DepthFollowsOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chpass.db")
	ctx := context.Background()
	s, err := embedded.Open(embedded.Options{Path: path, History: 5, Argon2: cheap})
	wantCode(t, err, "")
	mustEnsure(t, s, "alice", "p0")
	for _, p := range []string{"p1", "p2", "p3"} {
		wantCode(t, s.ChangePassword(ctx, "alice", strings.Replace(p, string(p[1]), string(p[1]-1), 1), p), "")
	}
	wantRule(t, s.ResetPassword(ctx, "alice", "p0"), password.RuleReusePrevention)
	wantCode(t, s.Close(), "")

	s = mustOpen(t, embedded.Options{Path: path, History: 2})
	wantRule(t, s.ChangePassword(ctx, "alice", "p3", "p2"), password.RuleReusePrevention)
	wantCode(t, s.ChangePassword(ctx, "alice", "p3", "p1"), "")
}

func TestMinAge(t *testing.T) {
	clk := newClock()
	s := mustOpen(t, embedded.Options{MinAge: time.Hour, Now: clk.Now})
	ctx := context.Background()
	mustEnsure(t, s, "alice", "p0")

	// A seeded password may be changed at once.
	wantCode(t, s.ChangePassword(ctx, "alice", "p0", "p1"), "")
	clk.Advance(59 * time.Minute)
	err := s.ChangePassword(ctx, "alice", "p1", "p2")
	wantRule(t, err, password.RuleMinAge)
	if !strings.Contains(password.ErrorMessage(err), "60 minutes") {
		t.Errorf("message %q does not state the minimum age", password.ErrorMessage(err))
	}
	// A wrong old password is still just wrong: the age is no secret to reveal.
	wantCode(t, s.ChangePassword(ctx, "alice", "nope", "p2"), password.EUNAUTHORIZED)

	clk.Advance(time.Minute)
	wantCode(t, s.ChangePassword(ctx, "alice", "p1", "p2"), "")

	// A reset ignores the minimum age, and the user may change what it set at once.
	wantCode(t, s.ResetPassword(ctx, "alice", "r1"), "")
	wantCode(t, s.ChangePassword(ctx, "alice", "r1", "p3"), "")
	wantRule(t, s.ChangePassword(ctx, "alice", "p3", "p4"), password.RuleMinAge)
}

// A refusal by the policy after the right old password ends the run of failures.
func TestMinAge_ProvenPasswordClearsFailures(t *testing.T) {
	clk := newClock()
	s := mustOpen(t, embedded.Options{MinAge: time.Hour, MaxFailures: 3, Now: clk.Now})
	ctx := context.Background()
	mustEnsure(t, s, "alice", "p0")
	wantCode(t, s.ChangePassword(ctx, "alice", "p0", "p1"), "")
	for range 2 {
		wantCode(t, s.ChangePassword(ctx, "alice", "wrong", "p2"), password.EUNAUTHORIZED)
	}
	wantRule(t, s.ChangePassword(ctx, "alice", "p1", "p2"), password.RuleMinAge)
	for range 2 {
		wantCode(t, s.ChangePassword(ctx, "alice", "wrong", "p2"), password.EUNAUTHORIZED)
	}
	clk.Advance(time.Hour)
	wantCode(t, s.ChangePassword(ctx, "alice", "p1", "p2"), "")
}

func TestResetPassword(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		user string
		code string
	}{
		{name: "OK", user: "alice"},
		{name: "ErrNotFound", user: "bob", code: password.ENOTFOUND},
		{name: "ErrEmptyName", user: "", code: password.ENOTFOUND},
		{name: "ErrCanceled", ctx: canceled, user: "alice", code: password.ECANCELED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustOpen(t, embedded.Options{})
			mustEnsure(t, s, "alice", "p0")
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			wantCode(t, s.ResetPassword(ctx, tt.user, "r1"), tt.code)
			want := "p0"
			if tt.code == "" {
				want = "r1"
			}
			wantCode(t, s.ChangePassword(context.Background(), "alice", want, "p9"), "")
		})
	}
}

func TestLookupUser(t *testing.T) {
	clk := newClock()
	s := mustOpen(t, embedded.Options{Now: clk.Now})
	ctx := context.Background()
	mustEnsure(t, s, "alice", "p0")
	mustEnsure(t, s, "bob", "p0")
	tests := []struct {
		name string
		user string
		code string
	}{
		{name: "OK", user: "bob"},
		{name: "ErrNotFound", user: "carol", code: password.ENOTFOUND},
		{name: "ErrEmptyName", user: "", code: password.ENOTFOUND},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := s.LookupUser(ctx, tt.user)
			wantCode(t, err, tt.code)
			if tt.code != "" {
				return
			}
			if u.Name != tt.user || u.ID == "" || !u.Created.Equal(clk.Now()) || !u.PasswordChangedAt.Equal(clk.Now()) || u.Locked {
				t.Errorf("LookupUser = %+v", u)
			}
		})
	}
}

// Names are opaque keys: each matches only itself, whatever bytes it holds.
func TestNamesAreExactKeys(t *testing.T) {
	names := []string{
		"a", "a*", "*", "a\x00", "a\x00b", "A", "a ", " a", `a\`, "(uid=*)", "cn=a,dc=example", "a+b", "<a>", "#a", "a;b", "é", "\xff\xfe",
	}
	s := mustOpen(t, embedded.Options{MaxFailures: -1})
	ctx := context.Background()
	for i, n := range names {
		mustEnsure(t, s, n, fmt.Sprintf("pw-%d", i))
	}
	for i, n := range names {
		t.Run(fmt.Sprintf("%q", n), func(t *testing.T) {
			u, err := s.LookupUser(ctx, n)
			wantCode(t, err, "")
			if u.Name != n {
				t.Fatalf("LookupUser(%q).Name = %q", n, u.Name)
			}
			for j := range names {
				if j == i {
					continue
				}
				// Another user's password never opens this account.
				wantCode(t, s.ChangePassword(ctx, n, fmt.Sprintf("pw-%d", j), "x"), password.EUNAUTHORIZED)
			}
			wantCode(t, s.ChangePassword(ctx, n, fmt.Sprintf("pw-%d", i), "changed"), "")
		})
	}
	for _, n := range []string{"b", "a**", "a\x00c", "a\x00\x00", "(uid=a)", "\x00"} {
		_, err := s.LookupUser(ctx, n)
		wantCode(t, err, password.ENOTFOUND)
	}
	users, total, err := s.ListUsers(ctx, 0, 0)
	wantCode(t, err, "")
	if total != len(names) || len(users) != len(names) {
		t.Fatalf("ListUsers: %d of %d, want %d", len(users), total, len(names))
	}
}

func TestEnsureUser(t *testing.T) {
	s := mustOpen(t, embedded.Options{})
	ctx := context.Background()
	tests := []struct {
		name    string
		user    string
		pw      string
		created bool
		code    string
	}{
		{name: "Creates", user: "alice", pw: "p0", created: true},
		{name: "NeverOverwrites", user: "alice", pw: "other", created: false},
		{name: "ErrEmptyName", user: "", pw: "p0", code: password.EINVALID},
		{name: "ErrNameTooLong", user: strings.Repeat("n", 32769), pw: "p0", code: password.EINVALID},
		{name: "ErrEmptyPassword", user: "bob", pw: "", code: password.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			created, err := s.EnsureUser(ctx, tt.user, tt.pw)
			wantCode(t, err, tt.code)
			if created != tt.created {
				t.Errorf("created = %v, want %v", created, tt.created)
			}
		})
	}
	// The first password is still the one in force.
	wantCode(t, s.ChangePassword(ctx, "alice", "other", "p1"), password.EUNAUTHORIZED)
	wantCode(t, s.ChangePassword(ctx, "alice", "p0", "p1"), "")
	_, err := s.LookupUser(ctx, "bob")
	wantCode(t, err, password.ENOTFOUND)
}

func TestListUsers(t *testing.T) {
	s := mustOpen(t, embedded.Options{})
	ctx := context.Background()
	for _, n := range []string{"dave", "alice", "erin", "carol", "bob"} {
		mustEnsure(t, s, n, "p0")
	}
	tests := []struct {
		name          string
		offset, limit int
		want          []string
		code          string
	}{
		{name: "All", limit: 0, want: []string{"alice", "bob", "carol", "dave", "erin"}},
		{name: "FirstPage", limit: 2, want: []string{"alice", "bob"}},
		{name: "MiddlePage", offset: 2, limit: 2, want: []string{"carol", "dave"}},
		{name: "LastPage", offset: 4, limit: 2, want: []string{"erin"}},
		{name: "PastTheEnd", offset: 9, limit: 2, want: nil},
		{name: "ErrNegativeOffset", offset: -1, limit: 2, code: password.EINVALID},
		{name: "ErrNegativeLimit", limit: -1, code: password.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users, total, err := s.ListUsers(ctx, tt.offset, tt.limit)
			wantCode(t, err, tt.code)
			if tt.code != "" {
				return
			}
			var got []string
			for _, u := range users {
				got = append(got, u.Name)
			}
			if !slices.Equal(got, tt.want) || total != 5 {
				t.Errorf("ListUsers = %v, total %d; want %v, total 5", got, total, tt.want)
			}
		})
	}
}

// Every state survives closing and reopening the file.
func TestPersistence(t *testing.T) {
	clk := newClock()
	path := filepath.Join(t.TempDir(), "nested", "dir", "chpass.db")
	opts := embedded.Options{Path: path, History: 2, MaxFailures: 3, Argon2: cheap, Now: clk.Now}
	ctx := context.Background()

	s, err := embedded.Open(opts)
	wantCode(t, err, "")
	mustEnsure(t, s, "alice", "p0")
	wantCode(t, s.ChangePassword(ctx, "alice", "p0", "p1"), "")
	for range 2 {
		wantCode(t, s.ChangePassword(ctx, "alice", "wrong", "p2"), password.EUNAUTHORIZED)
	}
	task := batch.Task{ID: "t-1", Cluster: "c-1", Kind: batch.KindReset, Status: batch.StatusRunning,
		Created: clk.Now(), Updated: clk.Now(), Total: 3, Sealed: []byte{0, 1, 2},
		Origin: batch.Origin{RequestID: "R-1", Caller: "LTAI", Request: map[string]string{"ClusterId": "c-1"}}}
	wantCode(t, s.CreateTask(ctx, task), "")
	claimed, err := s.ClaimTask(ctx, "t-1", "local", time.Hour)
	wantCode(t, err, "")
	rec := batch.UserRecord{Index: 1, Name: "bob", Phase: batch.PhaseIntent, At: clk.Now()}
	wantCode(t, s.RecordUser(ctx, "t-1", "local", rec), "")
	task.Owner, task.LeaseUntil, task.Users = "local", claimed.LeaseUntil, []batch.UserRecord{rec}
	wantCode(t, s.Close(), "")
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode: %v, %v; want 0600", fi.Mode(), err)
	}
	// Closed: the store says it is unavailable rather than failing obscurely.
	_, err = s.LookupUser(ctx, "alice")
	wantCode(t, err, password.EUNAVAILABLE)
	wantCode(t, s.ChangePassword(ctx, "alice", "p1", "p2"), password.EUNAVAILABLE)

	s = mustOpen(t, opts)
	created, err := s.EnsureUser(ctx, "alice", "seed")
	wantCode(t, err, "")
	if created {
		t.Fatal("EnsureUser created alice again after reopening")
	}
	wantRule(t, s.ResetPassword(ctx, "alice", "p0"), password.RuleReusePrevention)     // history kept
	wantCode(t, s.ChangePassword(ctx, "alice", "wrong", "p2"), password.EUNAUTHORIZED) // third failure: failures kept
	wantCode(t, s.ChangePassword(ctx, "alice", "p1", "p2"), password.ELOCKED)
	got, err := s.Task(ctx, "t-1")
	wantCode(t, err, "")
	if !taskEqual(got, task) {
		t.Errorf("Task = %+v, want %+v", got, task)
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		opts embedded.Options
		code string
	}{
		{name: "ErrNoPath", opts: embedded.Options{}, code: password.EINVALID},
		{name: "ErrNegativeHistory", opts: embedded.Options{Path: filepath.Join(dir, "a.db"), History: -1}, code: password.EINVALID},
		{name: "ErrNegativeMinAge", opts: embedded.Options{Path: filepath.Join(dir, "b.db"), MinAge: -time.Second}, code: password.EINVALID},
		{name: "ErrNegativeLockout", opts: embedded.Options{Path: filepath.Join(dir, "c.db"), Lockout: -time.Second}, code: password.EINVALID},
		{name: "ErrArgon2MemoryTooSmall", opts: embedded.Options{Path: filepath.Join(dir, "d.db"), Argon2: embedded.Argon2Params{MemoryKiB: 8, Threads: 2}}, code: password.EINVALID},
		{name: "ErrArgon2TimeTooLarge", opts: embedded.Options{Path: filepath.Join(dir, "e.db"), Argon2: embedded.Argon2Params{Time: 1 << 20}}, code: password.EINVALID},
		{name: "ErrNotAStore", opts: embedded.Options{Path: writeFile(t, filepath.Join(dir, "junk.db"), bytes.Repeat([]byte("junk"), 4096))}, code: password.EINTERNAL},
		{name: "ErrParentIsAFile", opts: embedded.Options{Path: filepath.Join(writeFile(t, filepath.Join(dir, "file"), nil), "x.db")}, code: password.EUNAVAILABLE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := embedded.Open(tt.opts)
			if err == nil {
				s.Close()
			}
			wantCode(t, err, tt.code)
		})
	}
	t.Run("ErrHeldByAnother", func(t *testing.T) {
		path := filepath.Join(dir, "held.db")
		mustOpen(t, embedded.Options{Path: path})
		_, err := embedded.Open(embedded.Options{Path: path, Argon2: cheap})
		wantCode(t, err, password.EUNAVAILABLE)
		// The error says what is wrong and what to do, not only "timeout".
		if err == nil || !strings.Contains(err.Error(), "another process holds "+path) || !strings.Contains(err.Error(), "store.path") {
			t.Fatalf("error %v does not say that another process holds %s", err, path)
		}
	})
}

func writeFile(tb testing.TB, path string, data []byte) string {
	tb.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// Hashes keep the parameters they were made with, so raising the parameters
// later leaves every password valid.
func TestArgon2ParamsCanChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chpass.db")
	ctx := context.Background()
	s, err := embedded.Open(embedded.Options{Path: path, Argon2: cheap})
	wantCode(t, err, "")
	mustEnsure(t, s, "alice", "p0")
	wantCode(t, s.Close(), "")

	s = mustOpen(t, embedded.Options{Path: path, History: 2, Argon2: embedded.Argon2Params{Time: 2, MemoryKiB: 128, Threads: 2}})
	wantCode(t, s.ChangePassword(ctx, "alice", "p0", "p1"), "")
	wantRule(t, s.ChangePassword(ctx, "alice", "p1", "p0"), password.RuleReusePrevention)
	wantCode(t, s.ChangePassword(ctx, "alice", "p1", "p2"), "")
}

// The file holds no password in clear, and no error quotes one, whatever happened.
func TestNoClearPasswordAtRest(t *testing.T) {
	const canary = "Canary-7f3a9c-Secret!"
	path := filepath.Join(t.TempDir(), "chpass.db")
	clk := newClock()
	s, err := embedded.Open(embedded.Options{Path: path, History: 3, MinAge: time.Minute, Argon2: cheap, Now: clk.Now})
	wantCode(t, err, "")
	ctx := context.Background()
	var errs []error
	record := func(err error) { errs = append(errs, err) }

	mustEnsure(t, s, "alice", canary)
	mustEnsure(t, s, "bob", canary+"0")
	record(s.ChangePassword(ctx, "alice", canary, canary+"1"))
	record(s.ChangePassword(ctx, "alice", canary+"1", canary)) // min age
	clk.Advance(time.Hour)
	record(s.ChangePassword(ctx, "alice", canary+"1", canary))  // reuse
	record(s.ChangePassword(ctx, "alice", canary, canary+"2"))  // wrong old
	record(s.ChangePassword(ctx, "nobody", canary, canary+"2")) // unknown
	record(s.ChangePassword(ctx, canary, canary, canary))       // the name is no secret, but no error quotes it either
	record(s.ResetPassword(ctx, "bob", canary+"0"))             // reuse
	record(s.ResetPassword(ctx, "bob", canary+"3"))             // ok
	record(s.ResetPassword(ctx, "nobody", canary))              // not found
	record(s.CreateTask(ctx, batch.Task{ID: "t", Total: 1, Sealed: []byte("sealed")}))
	wantCode(t, s.Close(), "")

	for _, err := range errs {
		if err != nil && strings.Contains(err.Error(), "Canary") {
			t.Errorf("error quotes the password: %v", err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("Canary")) {
		t.Fatal("the store file holds a password in clear")
	}
	if !bytes.Contains(data, []byte("$argon2id$v=19$m=64,t=1,p=1$")) {
		t.Error("the store file holds no argon2id hash in PHC format")
	}
}

func TestConcurrency(t *testing.T) {
	ctx := context.Background()
	t.Run("DifferentUsers", func(t *testing.T) {
		s := mustOpen(t, embedded.Options{History: 2})
		const n = 16
		for i := range n {
			mustEnsure(t, s, fmt.Sprintf("user%02d", i), "p0")
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				name := fmt.Sprintf("user%02d", i)
				for j := range 3 {
					if err := s.ChangePassword(ctx, name, fmt.Sprintf("p%d", j), fmt.Sprintf("p%d", j+1)); err != nil {
						errs[i] = err
						return
					}
				}
				_, _, errs[i] = s.ListUsers(ctx, 0, 5)
			})
		}
		wg.Wait()
		for i, err := range errs {
			wantCode(t, err, "")
			wantCode(t, s.ChangePassword(ctx, fmt.Sprintf("user%02d", i), "p3", "p4"), "")
		}
	})
	t.Run("SameUserOneWins", func(t *testing.T) {
		s := mustOpen(t, embedded.Options{MaxFailures: 100})
		mustEnsure(t, s, "alice", "p0")
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { errs[i] = s.ChangePassword(ctx, "alice", "p0", fmt.Sprintf("new%d", i)) })
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch password.ErrorCode(err) {
			case "":
				if winner >= 0 {
					t.Fatalf("changes %d and %d both succeeded from the same old password", winner, i)
				}
				winner = i
			case password.EUNAUTHORIZED:
			default:
				t.Fatalf("change %d: %v", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no change succeeded")
		}
		wantCode(t, s.ChangePassword(ctx, "alice", fmt.Sprintf("new%d", winner), "final"), "")
	})
	t.Run("FailuresCountedExactly", func(t *testing.T) {
		s := mustOpen(t, embedded.Options{MaxFailures: 5})
		mustEnsure(t, s, "alice", "p0")
		var wg sync.WaitGroup
		for i := range 5 {
			wg.Go(func() {
				if err := s.ChangePassword(ctx, "alice", fmt.Sprintf("wrong%d", i), "x"); password.ErrorCode(err) != password.EUNAUTHORIZED {
					t.Errorf("wrong password %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		wantCode(t, s.ChangePassword(ctx, "alice", "p0", "p1"), password.ELOCKED)
	})
	t.Run("MixedOperations", func(t *testing.T) {
		s := mustOpen(t, embedded.Options{History: 3})
		mustEnsure(t, s, "alice", "p0")
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Go(func() {
				var err error
				switch i % 3 {
				case 0:
					err = s.ResetPassword(ctx, "alice", fmt.Sprintf("reset%d", i))
				case 1:
					_, err = s.LookupUser(ctx, "alice")
				case 2:
					err = s.CreateTask(ctx, batch.Task{ID: fmt.Sprintf("t%d", i), Total: 1})
				}
				if err != nil {
					t.Errorf("operation %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		pending, err := s.PendingTasks(ctx)
		wantCode(t, err, "")
		if len(pending) != 2 {
			t.Errorf("PendingTasks: %d, want 2", len(pending))
		}
	})
}

func taskEqual(a, b batch.Task) bool {
	return a.ID == b.ID && a.Cluster == b.Cluster && a.Kind == b.Kind && a.Status == b.Status &&
		a.Created.Equal(b.Created) && a.Updated.Equal(b.Updated) && a.Total == b.Total &&
		bytes.Equal(a.Sealed, b.Sealed) && a.Origin.RequestID == b.Origin.RequestID && a.Origin.Caller == b.Origin.Caller &&
		maps.Equal(a.Origin.Request, b.Origin.Request) && a.Owner == b.Owner && a.LeaseUntil.Equal(b.LeaseUntil) &&
		slices.EqualFunc(a.Users, b.Users, func(x, y batch.UserRecord) bool {
			return x.Index == y.Index && x.Name == y.Name && x.Phase == y.Phase && x.Code == y.Code && x.At.Equal(y.At)
		})
}

// The embedded store's lease runs on its own clock (Options.Now).
func TestTaskLeaseOnStoreClock(t *testing.T) {
	clk := newClock()
	s := mustOpen(t, embedded.Options{Now: clk.Now})
	ctx := context.Background()
	wantCode(t, s.CreateTask(ctx, batch.Task{ID: "t", Total: 1}), "")
	got, err := s.ClaimTask(ctx, "t", "a", time.Minute)
	wantCode(t, err, "")
	if !got.LeaseUntil.Equal(clk.Now().Add(time.Minute)) {
		t.Errorf("lease until %v, want %v", got.LeaseUntil, clk.Now().Add(time.Minute))
	}
	_, err = s.ClaimTask(ctx, "t", "b", time.Minute)
	wantCode(t, err, batch.ECLAIMED)
	clk.Advance(time.Minute)
	_, err = s.ClaimTask(ctx, "t", "b", time.Minute)
	wantCode(t, err, "")
}

func TestCanceledContext(t *testing.T) {
	s := mustOpen(t, embedded.Options{})
	mustEnsure(t, s, "alice", "p0")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := map[string]func() error{
		"ChangePassword": func() error { return s.ChangePassword(ctx, "alice", "p0", "p1") },
		"ResetPassword":  func() error { return s.ResetPassword(ctx, "alice", "p1") },
		"LookupUser":     func() error { _, err := s.LookupUser(ctx, "alice"); return err },
		"ListUsers":      func() error { _, _, err := s.ListUsers(ctx, 0, 0); return err },
		"EnsureUser":     func() error { _, err := s.EnsureUser(ctx, "bob", "p0"); return err },
		"CreateTask":     func() error { return s.CreateTask(ctx, batch.Task{ID: "t"}) },
		"ClaimTask":      func() error { _, err := s.ClaimTask(ctx, "t", "a", time.Minute); return err },
		"RecordUser":     func() error { return s.RecordUser(ctx, "t", "a", batch.UserRecord{Phase: batch.PhaseIntent}) },
		"ReleaseTask":    func() error { return s.ReleaseTask(ctx, "t", "a") },
		"FinishTask":     func() error { return s.FinishTask(ctx, "t", "a", batch.StatusFailed) },
		"Task":           func() error { _, err := s.Task(ctx, "t"); return err },
		"Tasks":          func() error { _, _, err := s.Tasks(ctx, "", 0, 0); return err },
		"PendingTasks":   func() error { _, err := s.PendingTasks(ctx); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			wantCode(t, err, password.ECANCELED)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%v does not wrap context.Canceled", err)
			}
		})
	}
	// Nothing changed.
	wantCode(t, s.ChangePassword(context.Background(), "alice", "p0", "p1"), "")
}

// TestOpen_ExistingStoreIsOnlyRead reopens a seeded store and seeds the same users
// again, as every start of a function does: the file must not change (no write
// transaction, no fsync, on a warm path that runs at each cold start).
func TestOpen_ExistingStoreIsOnlyRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chpass.db")
	s, err := embedded.Open(embedded.Options{Path: path, Argon2: cheap})
	if err != nil {
		t.Fatal(err)
	}
	mustEnsure(t, s, "alice", "Alice-Old-Pass1!")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err = embedded.Open(embedded.Options{Path: path, Argon2: cheap})
	if err != nil {
		t.Fatal(err)
	}
	if created, err := s.EnsureUser(context.Background(), "alice", "Alice-Old-Pass1!"); err != nil || created {
		t.Fatalf("EnsureUser of an existing user: created %v, %v", created, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("reopening a ready store wrote to it")
	}
}

// TestOpen_NewerSchema refuses a store a newer version wrote, without touching it.
func TestOpen_NewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chpass.db")
	s, err := embedded.Open(embedded.Options{Path: path, Argon2: cheap})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema"), binary.BigEndian.AppendUint64(nil, 99))
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = embedded.Open(embedded.Options{Path: path, Argon2: cheap})
	wantCode(t, err, password.EINTERNAL)
	if err == nil || !strings.Contains(password.ErrorMessage(err), "newer version") {
		t.Fatalf("err = %v, want a newer-version refusal", err)
	}
}

// A view of WithPolicy enforces its own history and minimum age on the same
// accounts, resets included, while the store keeps its own rules.
func TestWithPolicy(t *testing.T) {
	clk := newClock()
	ctx := context.Background()
	s := mustOpen(t, embedded.Options{History: 1, Remember: 5, Now: clk.Now})
	mustEnsure(t, s, "alice", "p0")
	strict := s.WithPolicy(5, time.Hour)
	loose := s.WithPolicy(0, 0)

	// The store's own resets ignore the age; its history is the current password only.
	wantCode(t, s.ResetPassword(ctx, "alice", "p1"), "")
	wantCode(t, s.ResetPassword(ctx, "alice", "p2"), "")
	wantCode(t, s.ResetPassword(ctx, "alice", "p0"), "")

	// The strict view refuses a reset within the hour of the last change, whoever made it.
	err := strict.ResetPassword(ctx, "alice", "p9")
	wantRule(t, err, password.RuleMinAge)
	if !strings.Contains(password.ErrorMessage(err), "60 minutes") {
		t.Errorf("message %q does not state the view's minimum age", password.ErrorMessage(err))
	}
	clk.Advance(time.Hour)
	// Its history of 5 remembers p2 and p1, which the store's history of 1 would not.
	wantRule(t, strict.ResetPassword(ctx, "alice", "p1"), password.RuleReusePrevention)
	wantRule(t, strict.ResetPassword(ctx, "alice", "p2"), password.RuleReusePrevention)
	wantCode(t, strict.ResetPassword(ctx, "alice", "p3"), "")
	wantRule(t, strict.ResetPassword(ctx, "alice", "p4"), password.RuleMinAge)

	// The loose view resets at once, to anything but nothing.
	wantCode(t, loose.ResetPassword(ctx, "alice", "p3"), "")
	wantCode(t, loose.ResetPassword(ctx, "alice", "p3"), "")
	// Self-service through the store keeps the store's rules.
	wantCode(t, s.ChangePassword(ctx, "alice", "p3", "p2"), "")
	wantRule(t, s.ChangePassword(ctx, "alice", "p2", "p2"), password.RuleReusePrevention)
}

// A start seeds the configured users with EnsureUser: for a user the file
// already holds, it computes no argon2id hash. Each hash allocates its whole
// memory cost (16 MiB here), so the bytes allocated tell whether one ran.
func TestEnsureUserOfAnExistingUserHashesNothing(t *testing.T) {
	const memKiB = 16 << 10
	opts := embedded.Options{Path: filepath.Join(t.TempDir(), "chpass.db"), Argon2: embedded.Argon2Params{Time: 1, MemoryKiB: memKiB, Threads: 1}}
	ctx := context.Background()
	allocated := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	s, err := embedded.Open(opts)
	wantCode(t, err, "")
	if n := allocated(func() { mustEnsure(t, s, "alice", "Alice-Old-Pass1!") }); n < memKiB<<10 {
		t.Fatalf("creating alice allocated %d bytes: no hash seen, the measure proves nothing", n)
	}
	wantCode(t, s.Close(), "")
	s = mustOpen(t, opts) // the next start
	var created bool
	if n := allocated(func() { created, err = s.EnsureUser(ctx, "alice", "Alice-Old-Pass1!") }); n >= 1<<20 {
		t.Errorf("EnsureUser of an existing user allocated %d bytes: it hashed the password", n)
	}
	wantCode(t, err, "")
	if created {
		t.Error("EnsureUser created alice again")
	}
}
