package password

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeDirectory is a hand-written in-memory Directory for the service's tests.
type fakeDirectory struct {
	mu        sync.Mutex
	passwords map[string]string
	calls     atomic.Int32
	inFlight  atomic.Int32
	peak      atomic.Int32
	delay     time.Duration
}

func newFake(users map[string]string) *fakeDirectory {
	return &fakeDirectory{passwords: users}
}

func (f *fakeDirectory) ChangePassword(_ context.Context, name, old, new string) error {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if cur, ok := f.passwords[name]; !ok || cur != old {
		return Errorf(EUNAUTHORIZED, "The old password is wrong.")
	}
	f.passwords[name] = new
	return nil
}

func (f *fakeDirectory) ResetPassword(ctx context.Context, name, new string) error {
	f.calls.Add(1)
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		p := f.peak.Load()
		if n <= p || f.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return Wrap(EUNAVAILABLE, ctx.Err(), "timed out")
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.passwords[name]; !ok {
		return Errorf(ENOTFOUND, "No such user.")
	}
	f.passwords[name] = new
	return nil
}

func (f *fakeDirectory) LookupUser(_ context.Context, name string) (*User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.passwords[name]; !ok {
		return nil, Errorf(ENOTFOUND, "No such user.")
	}
	return &User{Name: name}, nil
}

var _ Directory = (*fakeDirectory)(nil)

func TestServiceChange(t *testing.T) {
	const old, good = "Alice-Old-Pass1!", "Alice-New-Pass2@"
	tests := []struct {
		name       string
		policy     func(*Policy)
		user       string
		old, new   string
		wantCode   string
		wantRules  []string
		wantCalled bool
	}{
		{name: "OK", user: "alice", old: old, new: good, wantCalled: true},
		{name: "WrongOld", user: "alice", old: "nope-Nope-1", new: good, wantCode: EUNAUTHORIZED, wantCalled: true},
		{name: "SameAsOld", user: "alice", old: old, new: old, wantCode: EPOLICY, wantRules: []string{RuleSameAsOld}},
		{name: "WeakAndSame", user: "alice", old: "alice", new: "alice", wantCode: EPOLICY,
			wantRules: []string{RuleCharCombination, RuleMinLength, RuleNotUsername, RuleSameAsOld}},
		{name: "NotAllowed", policy: func(p *Policy) { p.AllowUserToChangePassword = false }, user: "alice", old: old, new: good, wantCode: EFORBIDDEN},
		{name: "EmptyOld", user: "alice", old: "", new: good, wantCode: EINVALID},
		{name: "EmptyNew", user: "alice", old: old, new: "", wantCode: EINVALID},
		{name: "EmptyUser", user: "", old: old, new: good, wantCode: EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := DefaultPolicy()
			if tt.policy != nil {
				tt.policy(&p)
			}
			dir := newFake(map[string]string{"alice": old})
			err := NewService(p, dir).Change(context.Background(), tt.user, tt.old, tt.new)
			if got := ErrorCode(err); got != tt.wantCode {
				t.Fatalf("code = %q, want %q (%v)", got, tt.wantCode, err)
			}
			slices.Sort(tt.wantRules)
			if got := rules(ErrorViolations(err)); len(tt.wantRules) > 0 && !slices.Equal(got, tt.wantRules) {
				t.Fatalf("rules = %v, want %v", got, tt.wantRules)
			}
			if called := dir.calls.Load() > 0; called != tt.wantCalled {
				t.Fatalf("directory called = %v, want %v: the policy must come first", called, tt.wantCalled)
			}
		})
	}
}

func TestCheckName(t *testing.T) {
	tests := []struct {
		name  string
		valid bool
	}{
		{"alice", true}, {"user_01", true}, {"a.b-c", true}, {"svc@example.test", true},
		{"", false}, {"-rf", false}, {".hidden", false}, {"a b", false}, {"a*", false},
		{"alice)(uid=*", false}, {"a,b", false}, {"a=b", false}, {"a+b", false}, {"a<b", false},
		{"#a", false}, {"a;rm -rf /", false}, {"a\\b", false}, {"a\x00", false}, {"$(id)", false},
		{"ünicode", false}, {string(make([]byte, 65)), false},
		{"_svc", true}, {"0day", true}, {"@a", false}, {"a@", true}, {"a.", true}, {"a\n", false},
		{strings.Repeat("a", 64), true}, {strings.Repeat("a", 65), false}, {"a" + strings.Repeat(".", 63), true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.name), func(t *testing.T) {
			err := CheckName(tt.name)
			if (err == nil) != tt.valid {
				t.Fatalf("CheckName(%q) = %v, want valid=%v", tt.name, err, tt.valid)
			}
			if err != nil && ErrorCode(err) != EINVALID {
				t.Fatalf("code = %q", ErrorCode(err))
			}
		})
	}
}

func TestCheckBatchNamesFirstBadEntry(t *testing.T) {
	s := NewService(DefaultPolicy(), newFake(nil))
	tests := []struct {
		name      string
		entries   []ResetRequest
		wantIndex int
		wantField string
		wantCode  string
	}{
		{"BadName", []ResetRequest{{"u1", "Xy7#kLm2q"}, {"u*", "Xy7#kLm2q"}}, 1, "Name", EINVALID},
		{"Duplicate", []ResetRequest{{"u1", "Xy7#kLm2q"}, {"u2", "Xy7#kLm2q"}, {"u1", "Xy7#kLm2r"}}, 2, "Name", EINVALID},
		{"WeakPassword", []ResetRequest{{"u1", "Xy7#kLm2q"}, {"u2", "Xy7#kLm2q"}, {"u3", "short"}}, 2, "Password", EPOLICY},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ie *InvalidEntryError
			err := s.CheckBatch(tt.entries)
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want *InvalidEntryError", err)
			}
			if ie.Index != tt.wantIndex || ie.Field != tt.wantField || ErrorCode(ie.Err) != tt.wantCode {
				t.Fatalf("got index %d field %s code %s", ie.Index, ie.Field, ErrorCode(ie.Err))
			}
		})
	}
	if err := s.CheckBatch([]ResetRequest{{"u1", "Xy7#kLm2q"}, {"u2", "Pq4!zWx9y"}}); err != nil {
		t.Fatalf("valid batch refused: %v", err)
	}
}

// TestCheckBatchNamesEveryBadEntry: a batch with several bad entries is refused
// with one InvalidEntryError for each, in order, not only the first.
func TestCheckBatchNamesEveryBadEntry(t *testing.T) {
	s := NewService(DefaultPolicy(), newFake(nil))
	err := s.CheckBatch([]ResetRequest{{"u1", "Xy7#kLm2q"}, {"u*", "Xy7#kLm2q"}, {"u3", "short"}, {"u1", "Xy7#kLm2r"}, {"u5", "Pq4!zWx9y"}})
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("err = %v, want the bad entries joined", err)
	}
	var got []string
	for _, e := range j.Unwrap() {
		var ie *InvalidEntryError
		if !errors.As(e, &ie) {
			t.Fatalf("%v is not an *InvalidEntryError", e)
		}
		got = append(got, fmt.Sprintf("%d.%s:%s", ie.Index, ie.Field, ErrorCode(ie.Err)))
	}
	if want := "1.Name:" + EINVALID + " 2.Password:" + EPOLICY + " 3.Name:" + EINVALID; strings.Join(got, " ") != want {
		t.Fatalf("bad entries %v, want %s", got, want)
	}
}

func TestResetAll(t *testing.T) {
	users := map[string]string{}
	var batch []ResetRequest
	for i := range 40 {
		name := fmt.Sprintf("user%03d", i)
		users[name] = "Old-Pass-1!"
		batch = append(batch, ResetRequest{Name: name, Password: fmt.Sprintf("New-Pass-%d!", i)})
	}
	batch = append(batch, ResetRequest{Name: "ghost", Password: "New-Pass-x!"})
	dir := newFake(users)
	dir.delay = 2 * time.Millisecond
	results := NewService(DefaultPolicy(), dir).ResetAll(context.Background(), batch, 4)
	if len(results) != len(batch) {
		t.Fatalf("%d results for %d entries", len(results), len(batch))
	}
	for i, r := range results {
		if r.Name != batch[i].Name {
			t.Fatalf("result %d is for %q, want %q: order must be kept", i, r.Name, batch[i].Name)
		}
	}
	if ErrorCode(results[len(results)-1].Err) != ENOTFOUND {
		t.Fatalf("ghost: %v", results[len(results)-1].Err)
	}
	for _, r := range results[:40] {
		if r.Err != nil {
			t.Fatalf("%s: %v", r.Name, r.Err)
		}
	}
	if p := dir.peak.Load(); p > 4 || p < 2 {
		t.Fatalf("peak concurrency %d, want 2..4", p)
	}
}

func TestResetAllStopsAtDeadline(t *testing.T) {
	users := map[string]string{}
	var batch []ResetRequest
	for i := range 20 {
		name := fmt.Sprintf("user%03d", i)
		users[name] = "x"
		batch = append(batch, ResetRequest{Name: name, Password: "New-Pass-1!"})
	}
	dir := newFake(users)
	dir.delay = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(10 * time.Millisecond); cancel() }()
	results := NewService(DefaultPolicy(), dir).ResetAll(ctx, batch, 2)
	canceled := 0
	for _, r := range results {
		if c := ErrorCode(r.Err); c == ECANCELED || c == EUNAVAILABLE {
			canceled++
		}
	}
	if canceled < len(batch)-2 {
		t.Fatalf("%d of %d entries canceled; entries not started must not run after the deadline", canceled, len(batch))
	}
	if int(dir.calls.Load()) > 2 {
		t.Fatalf("directory called %d times after the deadline", dir.calls.Load())
	}
}

func TestErrorHelpers(t *testing.T) {
	plain := errors.New("dial tcp: refused")
	tests := []struct {
		name     string
		err      error
		code     string
		message  string
		wrapping bool
	}{
		{"Nil", nil, "", "", false},
		{"Plain", plain, EINTERNAL, "Internal error.", false},
		{"Domain", Errorf(ENOTFOUND, "No such user."), ENOTFOUND, "No such user.", false},
		{"Wrapped", fmt.Errorf("op: %w", Wrap(EUNAVAILABLE, plain, "The directory is unavailable.")), EUNAVAILABLE, "The directory is unavailable.", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ErrorCode(tt.err); got != tt.code {
				t.Errorf("code = %q, want %q", got, tt.code)
			}
			if got := ErrorMessage(tt.err); got != tt.message {
				t.Errorf("message = %q, want %q", got, tt.message)
			}
			if tt.wrapping && !errors.Is(tt.err, plain) {
				t.Errorf("cause lost")
			}
		})
	}
}

// TestServiceChangeOutcome checks that ChangeOutcome says the directory was asked
// exactly when it was, whatever it answered, and that it returns Change's error.
func TestServiceChangeOutcome(t *testing.T) {
	const old, good = "Alice-Old-Pass1!", "Alice-New-Pass2@"
	tests := []struct {
		name     string
		policy   func(*Policy)
		user     string
		old, new string
		wantCode string
	}{
		{name: "OK", user: "alice", old: old, new: good},
		{name: "WrongOld", user: "alice", old: "nope-Nope-1", new: good, wantCode: EUNAUTHORIZED},
		{name: "UnknownUser", user: "bob", old: old, new: good, wantCode: EUNAUTHORIZED},
		{name: "NotPrepared", user: "al ice", old: old, new: good, wantCode: EUNAUTHORIZED},
		{name: "SameAsOld", user: "alice", old: old, new: old, wantCode: EPOLICY},
		{name: "NotAllowed", policy: func(p *Policy) { p.AllowUserToChangePassword = false }, user: "alice", old: old, new: good, wantCode: EFORBIDDEN},
		{name: "EmptyOld", user: "alice", old: "", new: good, wantCode: EINVALID},
		{name: "EmptyNew", user: "alice", old: old, new: "", wantCode: EINVALID},
		{name: "EmptyUser", user: "", old: old, new: good, wantCode: EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := DefaultPolicy()
			if tt.policy != nil {
				tt.policy(&p)
			}
			dir := newFake(map[string]string{"alice": old})
			did, err := NewService(p, dir).ChangeOutcome(context.Background(), tt.user, tt.old, tt.new)
			if got := ErrorCode(err); got != tt.wantCode {
				t.Fatalf("code = %q, want %q (%v)", got, tt.wantCode, err)
			}
			if called := dir.calls.Load() > 0; did.Asked != called {
				t.Fatalf("Outcome.Asked = %v, but the directory was called: %v", did.Asked, called)
			}
			// Change answers what ChangeOutcome answers.
			dir2 := newFake(map[string]string{"alice": old})
			err2 := NewService(p, dir2).Change(context.Background(), tt.user, tt.old, tt.new)
			if ErrorCode(err2) != tt.wantCode || dir2.calls.Load() != dir.calls.Load() {
				t.Fatalf("Change = %v (%d calls), ChangeOutcome = %v (%d calls)", err2, dir2.calls.Load(), err, dir.calls.Load())
			}
		})
	}
}

// namePattern is the rule CheckName states, as a regexp: wellFormedName must
// agree with it on every string.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._@-]{0,63}$`)

// TestWellFormedNameIsThePattern checks wellFormedName against namePattern on
// every string of one and two bytes and on strings around the 64-byte limit.
func TestWellFormedNameIsThePattern(t *testing.T) {
	check := func(name string) {
		t.Helper()
		if got, want := wellFormedName(name), namePattern.MatchString(name); got != want {
			t.Fatalf("wellFormedName(%q) = %v, the pattern says %v", name, got, want)
		}
	}
	check("")
	for a := range 256 {
		check(string([]byte{byte(a)}))
		for b := range 256 {
			check(string([]byte{byte(a), byte(b)}))
		}
	}
	for _, n := range []int{62, 63, 64, 65, 66} {
		for _, c := range []string{"a", ".", "@", "-", "_", "9", "\n", "\x00", "é"} {
			check(strings.Repeat("x", n-1) + c)
			check(c + strings.Repeat("x", n-1))
		}
	}
}

// FuzzWellFormedName checks wellFormedName against namePattern on any input.
func FuzzWellFormedName(f *testing.F) {
	for _, s := range []string{"alice", "svc@example.test", "-rf", "a.b-c", "ünicode", strings.Repeat("a", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := wellFormedName(name), namePattern.MatchString(name); got != want {
			t.Fatalf("wellFormedName(%q) = %v, the pattern says %v", name, got, want)
		}
	})
}

// Services share one validator: each still checks against its own policy, also
// when they check at the same moment.
func TestServicesKeepTheirOwnPolicy(t *testing.T) {
	strict, loose := DefaultPolicy(), DefaultPolicy()
	strict.MinimumPasswordLength = 16
	loose.PasswordCharCombination = 2
	services := map[string]*Service{"strict": NewService(strict, newFake(nil)), "loose": NewService(loose, newFake(nil))}
	// "Abcdefghij12" has 12 characters of three classes; "abcdefghij12" only two classes.
	want := map[string]map[string][]string{
		"strict": {"Abcdefghij12": {RuleMinLength}, "abcdefghij12": {RuleMinLength, RuleCharCombination}},
		"loose":  {"Abcdefghij12": nil, "abcdefghij12": nil},
	}
	var wg sync.WaitGroup
	for name, svc := range services {
		for pw, rules := range want[name] {
			wg.Go(func() {
				for range 50 {
					var got []string
					if err := svc.Check("alice", pw); err != nil {
						for _, v := range ErrorViolations(err) {
							got = append(got, v.Rule)
						}
					}
					if !slices.Equal(got, rules) {
						t.Errorf("%s policy, %q: rules %v, want %v", name, pw, got, rules)
						return
					}
				}
			})
		}
	}
	wg.Wait()
}

// batchFake is fakeDirectory as a BatchFinder: its views reset through it and
// count what they reset.
type batchFake struct {
	*fakeDirectory
	asked  [][]string
	viewed atomic.Int32
}

func (b *batchFake) ForBatch(_ context.Context, names []string) Directory {
	b.asked = append(b.asked, slices.Clone(names))
	return batchFakeView{b}
}

type batchFakeView struct{ *batchFake }

func (v batchFakeView) ResetPassword(ctx context.Context, name, pw string) error {
	v.viewed.Add(1)
	return v.fakeDirectory.ResetPassword(ctx, name, pw)
}

// countingPublisher counts the events published.
type countingPublisher struct{ n atomic.Int32 }

func (p *countingPublisher) Publish(context.Context, Event) error {
	p.n.Add(1)
	return nil
}

// TestForBatch: a service whose directory is a BatchFinder gives, for a
// batch, a copy in front of the directory's view, with its policy and events;
// ResetAll resets through it. Another directory gives the service itself.
func TestForBatch(t *testing.T) {
	ctx := context.Background()
	plain := NewService(DefaultPolicy(), newFake(map[string]string{"u1": "Old-Pass-1!"}))
	if plain.ForBatch(ctx, []string{"u1"}) != plain {
		t.Fatal("ForBatch of a directory that is no BatchFinder is not the service itself")
	}

	dir := &batchFake{fakeDirectory: newFake(map[string]string{"u1": "Old-Pass-1!", "u2": "Old-Pass-2!"})}
	pub := &countingPublisher{}
	svc := NewService(DefaultPolicy(), dir).WithEvents(pub, EventOptions{Directory: "d"})
	if svc.ForBatch(ctx, nil) != svc || len(dir.asked) != 0 {
		t.Fatal("ForBatch of no names asked the directory")
	}
	b := svc.ForBatch(ctx, []string{"u1", "u2"})
	if _, ok := b.Directory().(batchFakeView); !ok || b == svc {
		t.Fatalf("ForBatch gave a service in front of %T", b.Directory())
	}
	if err := b.Reset(ctx, "u1", "New-Pass-1!"); err != nil {
		t.Fatal(err)
	}
	if err := b.Reset(ctx, "u2", "short"); ErrorCode(err) != EPOLICY {
		t.Fatalf("the batch service's policy: %v", err)
	}
	if n := pub.n.Load(); n != 1 {
		t.Fatalf("the batch service published %d events, want 1", n)
	}
	if err := svc.Reset(ctx, "u2", "New-Pass-2!"); err != nil || dir.viewed.Load() != 1 {
		t.Fatalf("the service itself reset through the view (%d resets there): %v", dir.viewed.Load(), err)
	}

	dir.asked = nil
	results := svc.ResetAll(ctx, []ResetRequest{{"u1", "Next-Pass-1!"}, {"u2", "Next-Pass-2!"}, {"ghost", "Next-Pass-3!"}}, 2)
	if want := [][]string{{"u1", "u2", "ghost"}}; !slices.EqualFunc(dir.asked, want, slices.Equal) {
		t.Fatalf("ResetAll asked ForBatch for %v, want %v", dir.asked, want)
	}
	if dir.viewed.Load() != 4 || results[0].Err != nil || results[1].Err != nil || ErrorCode(results[2].Err) != ENOTFOUND {
		t.Fatalf("ResetAll: %d resets through the view, results %+v", dir.viewed.Load(), results)
	}
}
