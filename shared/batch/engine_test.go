package batch_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"chpass/shared/batch"
	"chpass/shared/batch/batchtest"
	"chpass/shared/password"
)

var key = []byte("0123456789abcdef0123456789abcdef")

// dir is a password.Directory that refuses a reset to the current password,
// as the embedded store and ppolicy do; it counts resets per user.
type dir struct {
	mu     sync.Mutex
	pw     map[string]string
	resets map[string]int
	hook   func(name string)
	// lose makes a user's reset happen but answer EUNAVAILABLE, as when the
	// connection drops before the answer arrives.
	lose map[string]bool
	// written is when each user's password was last written.
	written map[string]time.Time
}

func newDir(names ...string) *dir {
	d := &dir{pw: map[string]string{}, resets: map[string]int{}, written: map[string]time.Time{}}
	for _, n := range names {
		d.pw[n] = "Initial-Pass-1!"
	}
	return d
}

func (d *dir) ChangePassword(context.Context, string, string, string) error {
	return password.Errorf(password.EFORBIDDEN, "not used")
}

func (d *dir) ResetPassword(_ context.Context, name, pw string) error {
	if d.hook != nil {
		d.hook(name)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	cur, ok := d.pw[name]
	switch {
	case !ok:
		return password.Errorf(password.ENOTFOUND, "No such user.")
	case cur == pw:
		return password.PolicyError([]password.Violation{{Rule: password.RuleReusePrevention, Message: "reused"}})
	}
	d.pw[name] = pw
	d.resets[name]++
	d.written[name] = time.Now()
	if d.lose[name] {
		return password.Errorf(password.EUNAVAILABLE, "The directory cannot be reached.")
	}
	return nil
}

func (d *dir) LookupUser(_ context.Context, name string) (*password.User, error) {
	return &password.User{Name: name}, nil
}

func (d *dir) count(name string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.resets[name]
}

// holder is dir with a HoldsPassword that counts its calls.
type holder struct {
	*dir
	checks int
}

func (h *holder) HoldsPassword(_ context.Context, name, pw string) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks++
	cur, ok := h.pw[name]
	if !ok {
		return false, password.Errorf(password.ENOTFOUND, "No such user.")
	}
	return cur == pw, nil
}

// dated is dir as Active Directory answers: the password cannot be read back
// (HoldsPassword is EFORBIDDEN) but the time of its last write can; it keeps
// the since of each PasswordChangedSince call.
type dated struct {
	*dir
	since map[string]time.Time
}

func (d *dated) HoldsPassword(context.Context, string, string) (bool, error) {
	return false, password.Errorf(password.EFORBIDDEN, "The directory does not let the service account check the password.")
}

func (d *dated) PasswordChangedSince(_ context.Context, name string, since time.Time) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.pw[name]; !ok {
		return false, password.Errorf(password.ENOTFOUND, "No such user.")
	}
	d.since[name] = since
	return d.written[name].After(since), nil
}

func newEngine(tb testing.TB, store batch.TaskStore, d password.Directory, edit func(*batch.Options)) (*batch.Engine, *[]batch.AuditEvent) {
	tb.Helper()
	svc := password.NewService(password.DefaultPolicy(), d)
	var mu sync.Mutex
	events := &[]batch.AuditEvent{}
	opts := batch.Options{
		Store: store, Key: key, Concurrency: 2,
		Resolve: func(context.Context, string) (*password.Service, error) { return svc, nil },
		Audit: func(ev batch.AuditEvent) {
			mu.Lock()
			defer mu.Unlock()
			*events = append(*events, ev)
		},
	}
	if edit != nil {
		edit(&opts)
	}
	e, err := batch.New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	return e, events
}

func users(n int) []password.ResetRequest {
	out := make([]password.ResetRequest, n)
	for i := range out {
		out[i] = password.ResetRequest{Name: fmt.Sprintf("u%d", i), Password: fmt.Sprintf("Batch-Pass-%d-Xy9!", i)}
	}
	return out
}

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("u%d", i)
	}
	return out
}

// crashed submits a batch of four users and leaves it as a process killed
// mid-way would: u0 done (outcome recorded), u1 reset but its outcome not
// recorded, u2 intent recorded but the reset never made, u3 not started.
func crashed(tb testing.TB, store batch.TaskStore, d *dir) string {
	tb.Helper()
	e, _ := newEngine(tb, store, d, func(o *batch.Options) {
		o.Owner = "dead"
		o.Dispatch = func(context.Context, string) error { return nil }
	})
	ctx := context.Background()
	u := users(4)
	t, err := e.Submit(ctx, "c", batch.Origin{RequestID: "R"}, u)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := store.ClaimTask(ctx, t.ID, "dead", time.Hour); err != nil {
		tb.Fatal(err)
	}
	rec := func(i int, phase batch.Phase) {
		if err := store.RecordUser(ctx, t.ID, "dead", batch.UserRecord{Index: i, Name: u[i].Name, Phase: phase, At: time.Now()}); err != nil {
			tb.Fatal(err)
		}
	}
	rec(0, batch.PhaseIntent)
	_ = d.ResetPassword(ctx, u[0].Name, u[0].Password)
	rec(0, batch.PhaseOutcome)
	rec(1, batch.PhaseIntent)
	_ = d.ResetPassword(ctx, u[1].Name, u[1].Password)
	rec(2, batch.PhaseIntent)
	if err := store.ReleaseTask(ctx, t.ID, "dead"); err != nil { // as a restart under the same name would take it
		tb.Fatal(err)
	}
	return t.ID
}

func outcomes(tb testing.TB, store batch.TaskStore, id string) (batch.Task, map[string]batch.UserRecord) {
	tb.Helper()
	t, err := store.Task(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	m := map[string]batch.UserRecord{}
	for _, u := range t.Users {
		m[u.Name] = u
	}
	return t, m
}

// TestRunReconcilesIntents: a resumed task checks exactly the intents without
// an outcome, takes a user who holds the password as done, resets the rest
// once, and never resets anyone twice. (Before the batch room, the resumed
// chunk was reset again and u1 was reported failed by reuse.)
func TestRunReconcilesIntents(t *testing.T) {
	store := &batchtest.Memory{}
	d := &holder{dir: newDir(names(4)...)}
	id := crashed(t, store, d.dir)
	e, events := newEngine(t, store, d, nil)
	if err := e.Run(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	task, got := outcomes(t, store, id)
	if task.Status != batch.StatusSucceeded || task.Sealed != nil || task.Done() != 4 {
		t.Fatalf("task %s, done %d, sealed kept %v", task.Status, task.Done(), task.Sealed != nil)
	}
	for i, n := range names(4) {
		if r := got[n]; r.Phase != batch.PhaseOutcome || r.Code != "" {
			t.Errorf("%s: %+v", n, r)
		}
		if c := d.count(n); c != 1 {
			t.Errorf("%s reset %d times, want once", n, c)
		}
		if d.pw[n] != users(4)[i].Password {
			t.Errorf("%s does not hold the task's password", n)
		}
	}
	if !got["u1"].Checked || got["u2"].Checked || got["u3"].Checked {
		t.Errorf("checked flags: %+v", got)
	}
	if d.checks != 2 {
		t.Errorf("%d HoldsPassword calls, want 2 (u1 and u2: the intents without an outcome)", d.checks)
	}
	// Audit: u1 gets its outcome line; u2 its outcome; u3 intent then outcome; u0 nothing more.
	var lines []string
	for _, ev := range *events {
		lines = append(lines, ev.Name+":"+string(ev.Phase))
	}
	slices.Sort(lines)
	if want := []string{"u1:outcome", "u2:outcome", "u3:intent", "u3:outcome"}; !slices.Equal(lines, want) {
		t.Errorf("audit events %v, want %v", lines, want)
	}
	// Running it again does nothing.
	if err := e.Run(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if c := d.count("u3"); c != 1 {
		t.Errorf("a second Run reset again")
	}
}

// TestRunReconcilesByChangeTime: on a directory that can only say when a
// password was written (Active Directory), a resumed task asks it with each
// intent's recorded time: u1, written after its intent, is done (checked);
// u2, whose intent has no write after it, is reset now; nobody is EUNKNOWN and
// nobody is reset twice.
func TestRunReconcilesByChangeTime(t *testing.T) {
	store := &batchtest.Memory{}
	d := &dated{dir: newDir(names(4)...), since: map[string]time.Time{}}
	id := crashed(t, store, d.dir)
	before, _ := outcomes(t, store, id)
	e, _ := newEngine(t, store, d, nil)
	if err := e.Run(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	task, got := outcomes(t, store, id)
	if task.Status != batch.StatusSucceeded || task.Done() != 4 {
		t.Fatalf("task %s, done %d", task.Status, task.Done())
	}
	for _, n := range names(4) {
		if r := got[n]; r.Phase != batch.PhaseOutcome || r.Code != "" {
			t.Errorf("%s: %+v", n, r)
		}
		if c := d.count(n); c != 1 {
			t.Errorf("%s reset %d times, want once", n, c)
		}
	}
	if !got["u1"].Checked || got["u2"].Checked {
		t.Errorf("checked flags: %+v", got)
	}
	intents := 0
	for _, u := range before.Users {
		if u.Phase != batch.PhaseIntent {
			continue
		}
		intents++
		if s, ok := d.since[u.Name]; !ok || !s.Equal(u.At) {
			t.Errorf("%s asked since %v (asked %v), want its intent's time %v", u.Name, s, ok, u.At)
		}
	}
	if intents != 2 {
		t.Errorf("%d intents without an outcome before the run, want 2 (u1, u2)", intents)
	}
	if _, ok := d.since["u3"]; ok {
		t.Error("u3, which had no intent, was checked")
	}
}

// TestRunWithoutHolder: a directory that cannot check a password without a
// counted login gets EUNKNOWN for the intents without an outcome, and no
// second reset.
func TestRunWithoutHolder(t *testing.T) {
	store := &batchtest.Memory{}
	d := newDir(names(4)...)
	id := crashed(t, store, d)
	e, _ := newEngine(t, store, d, nil)
	if err := e.Run(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	task, got := outcomes(t, store, id)
	if task.Status != batch.StatusPartial {
		t.Errorf("status %s", task.Status)
	}
	want := map[string]string{"u0": "", "u1": batch.EUNKNOWN, "u2": batch.EUNKNOWN, "u3": ""}
	for n, code := range want {
		if got[n].Code != code || got[n].Phase != batch.PhaseOutcome {
			t.Errorf("%s: %+v, want code %q", n, got[n], code)
		}
	}
	if d.count("u1") != 1 || d.count("u2") != 0 || d.count("u3") != 1 {
		t.Errorf("resets u1 %d u2 %d u3 %d", d.count("u1"), d.count("u2"), d.count("u3"))
	}
}

// TestRunLeavesLiveClaims: a task held by a live run elsewhere is not run; once
// that run's lease expires, it is taken over.
func TestRunLeavesLiveClaims(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	store := &batchtest.Memory{Now: clock}
	d := &holder{dir: newDir(names(2)...)}
	e, _ := newEngine(t, store, d, func(o *batch.Options) { o.Dispatch = func(context.Context, string) error { return nil } })
	task, err := e.Submit(context.Background(), "c", batch.Origin{}, users(2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.ClaimTask(context.Background(), task.ID, "elsewhere", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := e.Run(context.Background(), task.ID); err != nil {
		t.Fatal(err)
	}
	if d.count("u0")+d.count("u1") != 0 {
		t.Fatal("ran a task that a live run holds")
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if err := e.RunPending(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, _ := outcomes(t, store, task.ID); got.Status != batch.StatusSucceeded {
		t.Fatalf("after the lease: %s", got.Status)
	}
}

// TestRunRenewsItsLease: a run longer than its lease keeps its claim.
func TestRunRenewsItsLease(t *testing.T) {
	store := &batchtest.Memory{}
	d := &holder{dir: newDir(names(6)...)}
	d.hook = func(string) { time.Sleep(300 * time.Millisecond) }
	e, _ := newEngine(t, store, d, func(o *batch.Options) {
		o.Lease, o.Concurrency = time.Second, 1 // the run lasts about twice the lease
		o.Dispatch = func(context.Context, string) error { return nil }
	})
	task, err := e.Submit(context.Background(), "c", batch.Origin{}, users(6))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- e.Run(context.Background(), task.ID) }()
	stolen := 0
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			running = false
		case <-time.After(20 * time.Millisecond):
			if _, err := store.ClaimTask(context.Background(), task.ID, "thief", time.Millisecond); err == nil {
				stolen++
				_ = store.ReleaseTask(context.Background(), task.ID, "thief")
			}
		}
	}
	if stolen > 0 {
		t.Errorf("the claim was taken %d times during a run that renews its lease", stolen)
	}
	if got, _ := outcomes(t, store, task.ID); got.Status != batch.StatusSucceeded || got.Done() != 6 {
		t.Errorf("status %s done %d", got.Status, got.Done())
	}
}

// TestResetAuditsBeforeAndAfter: a synchronous batch writes the intent before
// the directory is called and the outcome after.
func TestResetAuditsBeforeAndAfter(t *testing.T) {
	d := newDir(names(3)...)
	var mu sync.Mutex
	var seq []string
	d.hook = func(name string) {
		mu.Lock()
		defer mu.Unlock()
		seq = append(seq, name+":reset")
	}
	svc := password.NewService(password.DefaultPolicy(), d)
	in := append(users(3), password.ResetRequest{Name: "ghost", Password: "Batch-Pass-G-Xy9!"})
	rs := batch.Reset(context.Background(), svc, "c", batch.Origin{RequestID: "R"}, in, 2, func(ev batch.AuditEvent) {
		mu.Lock()
		defer mu.Unlock()
		seq = append(seq, ev.Name+":"+string(ev.Phase)+":"+ev.Code)
	}, nil)
	for i, r := range rs {
		want := ""
		if i == 3 {
			want = password.ENOTFOUND
		}
		if password.ErrorCode(r.Err) != want || r.Name != in[i].Name {
			t.Errorf("result %d: %+v", i, r)
		}
	}
	for _, n := range []string{"u0", "u1", "u2", "ghost"} {
		i, r, o := slices.Index(seq, n+":intent:"), slices.Index(seq, n+":reset"), -1
		for j, s := range seq {
			if strings.HasPrefix(s, n+":outcome:") {
				o = j
			}
		}
		if i < 0 || r < i || o < r {
			t.Errorf("%s: intent at %d, reset at %d, outcome at %d in %v", n, i, r, o, seq)
		}
	}
	// A canceled batch changes and audits nobody.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	seq = nil
	rs = batch.Reset(ctx, svc, "c", batch.Origin{}, users(2), 2, func(ev batch.AuditEvent) { seq = append(seq, ev.Name) }, nil)
	if len(seq) != 0 || password.ErrorCode(rs[0].Err) != password.ECANCELED {
		t.Errorf("canceled: %v %v", seq, rs)
	}
}

// TestLostAnswerSettled: a reset that happened but whose answer was lost
// (EUNAVAILABLE) is reported as the success it was when the directory can
// check, in a task and in a synchronous batch; without a check it stays a
// failure that says the directory was unavailable.
func TestLostAnswerSettled(t *testing.T) {
	t.Run("Task", func(t *testing.T) {
		store := &batchtest.Memory{}
		d := &holder{dir: newDir(names(3)...)}
		d.lose = map[string]bool{"u1": true}
		e, _ := newEngine(t, store, d, func(o *batch.Options) { o.Dispatch = func(context.Context, string) error { return nil } })
		task, err := e.Submit(context.Background(), "c", batch.Origin{}, users(3))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Run(context.Background(), task.ID); err != nil {
			t.Fatal(err)
		}
		got, recs := outcomes(t, store, task.ID)
		if got.Status != batch.StatusSucceeded || recs["u1"].Code != "" || !recs["u1"].Checked || d.count("u1") != 1 {
			t.Errorf("status %s, u1 %+v, resets %d", got.Status, recs["u1"], d.count("u1"))
		}
	})
	for _, withHolder := range []bool{true, false} {
		t.Run(fmt.Sprintf("Sync/holder=%v", withHolder), func(t *testing.T) {
			d := newDir(names(2)...)
			d.lose = map[string]bool{"u0": true}
			var dir password.Directory = d
			if withHolder {
				dir = &holder{dir: d}
			}
			var checked []string
			rs := batch.Reset(context.Background(), password.NewService(password.DefaultPolicy(), dir), "c", batch.Origin{}, users(2), 2,
				func(ev batch.AuditEvent) {
					if ev.Checked {
						checked = append(checked, ev.Name)
					}
				}, nil)
			want := password.EUNAVAILABLE
			if withHolder {
				want = ""
			}
			if c := password.ErrorCode(rs[0].Err); c != want || password.ErrorCode(rs[1].Err) != "" {
				t.Errorf("u0 %q (want %q), u1 %v", c, want, rs[1].Err)
			}
			if withHolder != (len(checked) == 1) {
				t.Errorf("checked audit events %v", checked)
			}
		})
	}
}

// flaky is a Memory whose RecordUser fails (unreachable) after failAfter calls.
type flaky struct {
	*batchtest.Memory
	mu        sync.Mutex
	calls     int
	failAfter int
}

func (f *flaky) RecordUser(ctx context.Context, id, owner string, r batch.UserRecord) error {
	f.mu.Lock()
	f.calls++
	fail := f.calls > f.failAfter
	f.mu.Unlock()
	if fail {
		return password.Errorf(password.EUNAVAILABLE, "The task store is unavailable.")
	}
	return f.Memory.RecordUser(ctx, id, owner, r)
}

// TestRunStopsWhenTheStoreFails: a run that cannot record stops starting
// users, releases its claim and reports the failure; the next run finishes
// the task with nobody reset twice.
func TestRunStopsWhenTheStoreFails(t *testing.T) {
	store := &flaky{Memory: &batchtest.Memory{}, failAfter: 3} // u0 intent+outcome, u1 intent
	d := &holder{dir: newDir(names(4)...)}
	e, _ := newEngine(t, store, d, func(o *batch.Options) {
		o.Concurrency = 1
		o.Dispatch = func(context.Context, string) error { return nil }
	})
	task, err := e.Submit(context.Background(), "c", batch.Origin{}, users(4))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Run(context.Background(), task.ID); password.ErrorCode(err) != password.EUNAVAILABLE {
		t.Fatalf("Run = %v, want the store's failure", err)
	}
	got, _ := outcomes(t, store, task.ID)
	if got.Status != batch.StatusRunning || got.Owner != "" || d.count("u2")+d.count("u3") != 0 {
		t.Fatalf("after the failure: %s owner %q, u2/u3 reset %d", got.Status, got.Owner, d.count("u2")+d.count("u3"))
	}
	store.mu.Lock()
	store.failAfter = 1 << 30
	store.mu.Unlock()
	if err := e.Run(context.Background(), task.ID); err != nil {
		t.Fatal(err)
	}
	got, recs := outcomes(t, store, task.ID)
	if got.Status != batch.StatusSucceeded || !recs["u1"].Checked {
		t.Errorf("status %s, u1 %+v", got.Status, recs["u1"])
	}
	for _, n := range names(4) {
		if d.count(n) != 1 {
			t.Errorf("%s reset %d times", n, d.count(n))
		}
	}
}

// TestRunLostClaimStops: when another run takes the claim over (this one's
// lease ran out), this run records nothing more and starts nobody.
func TestRunLostClaimStops(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	store := &batchtest.Memory{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }}
	d := &holder{dir: newDir(names(4)...)}
	e, _ := newEngine(t, store, d, func(o *batch.Options) {
		o.Concurrency, o.Lease = 1, time.Hour
		o.Dispatch = func(context.Context, string) error { return nil }
	})
	task, err := e.Submit(context.Background(), "c", batch.Origin{}, users(4))
	if err != nil {
		t.Fatal(err)
	}
	d.hook = func(name string) {
		if name == "u1" { // the lease runs out and another run claims the task
			mu.Lock()
			now = now.Add(2 * time.Hour)
			mu.Unlock()
			if _, err := store.ClaimTask(context.Background(), task.ID, "other", time.Hour); err != nil {
				t.Error(err)
			}
		}
	}
	if err := e.Run(context.Background(), task.ID); err == nil {
		t.Fatal("Run reported success after losing its claim")
	}
	got, recs := outcomes(t, store, task.ID)
	if got.Owner != "other" || recs["u1"].Phase != batch.PhaseIntent || d.count("u2")+d.count("u3") != 0 {
		t.Errorf("owner %q, u1 %+v, u2/u3 reset %d", got.Owner, recs["u1"], d.count("u2")+d.count("u3"))
	}
}

// TestAbandon: when the platform gives a task up, Abandon ends it without
// resetting anyone: u0 keeps its outcome, u1 (reset, outcome lost) is checked
// and succeeded, u2 (intent, no reset) is checked and failed, u3 (never
// tried) is failed; the task is partial. Without a way to check, the intents
// are EUNKNOWN. A live claim is respected (an ECLAIMED error, nothing
// changed), and an ended task is left alone.
func TestAbandon(t *testing.T) {
	ctx := context.Background()
	t.Run("reconciles and fails the rest", func(t *testing.T) {
		store := &batchtest.Memory{}
		d := &holder{dir: newDir(names(4)...)}
		id := crashed(t, store, d.dir)
		e, events := newEngine(t, store, d, nil)
		if err := e.Abandon(ctx, id); err != nil {
			t.Fatal(err)
		}
		task, got := outcomes(t, store, id)
		if task.Status != batch.StatusPartial || task.Sealed != nil || task.Done() != 4 {
			t.Fatalf("task %s, done %d, sealed kept %v", task.Status, task.Done(), task.Sealed != nil)
		}
		want := map[string]string{"u0": "", "u1": "", "u2": password.ECANCELED, "u3": password.ECANCELED}
		for n, code := range want {
			if r := got[n]; r.Phase != batch.PhaseOutcome || r.Code != code {
				t.Errorf("%s: %+v, want code %q", n, r, code)
			}
		}
		if !got["u1"].Checked || !got["u2"].Checked || got["u3"].Checked {
			t.Errorf("checked flags: %+v", got)
		}
		for _, n := range []string{"u2", "u3"} {
			if c := d.count(n); c != 0 {
				t.Errorf("%s reset %d times by Abandon", n, c)
			}
		}
		for _, ev := range *events {
			if ev.Phase == batch.PhaseIntent {
				t.Errorf("Abandon recorded an intent for %s", ev.Name)
			}
		}
		// Idempotent: a second delivery leaves the ended task alone, and Run too.
		if err := e.Abandon(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := e.Run(ctx, id); err != nil {
			t.Fatal(err)
		}
		if again, _ := outcomes(t, store, id); again.Status != batch.StatusPartial || d.count("u3") != 0 {
			t.Fatalf("after a second delivery: %s, u3 reset %d times", again.Status, d.count("u3"))
		}
	})
	t.Run("without a check the intents are unknown", func(t *testing.T) {
		store := &batchtest.Memory{}
		d := newDir(names(4)...)
		id := crashed(t, store, d)
		e, _ := newEngine(t, store, d, nil)
		if err := e.Abandon(ctx, id); err != nil {
			t.Fatal(err)
		}
		task, got := outcomes(t, store, id)
		want := map[string]string{"u0": "", "u1": batch.EUNKNOWN, "u2": batch.EUNKNOWN, "u3": password.ECANCELED}
		for n, code := range want {
			if got[n].Code != code {
				t.Errorf("%s: %+v, want code %q", n, got[n], code)
			}
		}
		if task.Status != batch.StatusPartial {
			t.Errorf("status %s", task.Status)
		}
	})
	t.Run("a live run's claim is respected", func(t *testing.T) {
		var mu sync.Mutex
		now := time.Now()
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		store := &batchtest.Memory{Now: clock}
		d := &holder{dir: newDir(names(2)...)}
		e, _ := newEngine(t, store, d, func(o *batch.Options) { o.Dispatch = func(context.Context, string) error { return nil } })
		task, err := e.Submit(ctx, "c", batch.Origin{}, users(2))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.ClaimTask(ctx, task.ID, "elsewhere", time.Minute); err != nil {
			t.Fatal(err)
		}
		err = e.Abandon(ctx, task.ID)
		if password.ErrorCode(err) != batch.ECLAIMED {
			t.Fatalf("Abandon under a live claim: %v, want an ECLAIMED error for the platform to retry", err)
		}
		if got, _ := outcomes(t, store, task.ID); got.Status.Final() || len(got.Users) != 0 {
			t.Fatalf("Abandon changed a task a live run holds: %s, %d users", got.Status, len(got.Users))
		}
		mu.Lock()
		now = now.Add(time.Minute)
		mu.Unlock()
		if err := e.Abandon(ctx, task.ID); err != nil {
			t.Fatal(err)
		}
		got, m := outcomes(t, store, task.ID)
		if got.Status != batch.StatusFailed || m["u0"].Code != password.ECANCELED || m["u1"].Code != password.ECANCELED {
			t.Fatalf("after the lease: %s %+v", got.Status, m)
		}
		if d.count("u0")+d.count("u1") != 0 {
			t.Fatal("Abandon reset a user")
		}
	})
}

// finder is holder as a password.BatchFinder: ForBatch records the names it
// is asked for, and its view counts the resets made through it.
type finder struct {
	*holder
	asked  [][]string
	viewed map[string]int
}

func newFinder(names ...string) *finder {
	return &finder{holder: &holder{dir: newDir(names...)}, viewed: map[string]int{}}
}

func (f *finder) ForBatch(_ context.Context, names []string) password.Directory {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, slices.Clone(names))
	return finderView{f}
}

// finderView is a finder's view for one batch; HoldsPassword is the finder's.
type finderView struct{ *finder }

func (v finderView) ResetPassword(ctx context.Context, name, pw string) error {
	v.mu.Lock()
	v.viewed[name]++
	v.mu.Unlock()
	return v.finder.ResetPassword(ctx, name, pw)
}

// TestResetFindsUsersInBulk: a synchronous batch asks a BatchFinder for all
// its names once, before any change, and resets every user through the view.
func TestResetFindsUsersInBulk(t *testing.T) {
	f := newFinder(names(5)...)
	svc := password.NewService(password.DefaultPolicy(), f)
	var seq []string
	rs := batch.Reset(context.Background(), svc, "c", batch.Origin{}, users(5), 2, func(ev batch.AuditEvent) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.asked) != 1 {
			t.Errorf("audit event %s:%s before ForBatch", ev.Name, ev.Phase)
		}
		seq = append(seq, ev.Name)
	}, nil)
	for _, r := range rs {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Name, r.Err)
		}
	}
	if want := [][]string{names(5)}; !slices.EqualFunc(f.asked, want, slices.Equal) {
		t.Fatalf("ForBatch asked for %v, want %v", f.asked, want)
	}
	for _, n := range names(5) {
		if f.viewed[n] != 1 || f.count(n) != 1 {
			t.Errorf("%s: %d resets through the view, %d in all; want 1 and 1", n, f.viewed[n], f.count(n))
		}
	}
	if len(seq) != 10 {
		t.Errorf("%d audit events, want 10", len(seq))
	}
}

// TestRunFindsPendingUsersInBulk: a resumed task asks a BatchFinder for the
// users without an outcome only, resets through the view, and reconciles its
// intents exactly as without it (through the view's HoldsPassword); Abandon
// asks for nobody.
func TestRunFindsPendingUsersInBulk(t *testing.T) {
	store := &batchtest.Memory{}
	f := newFinder(names(4)...)
	id := crashed(t, store, f.dir)
	e, _ := newEngine(t, store, f, nil)
	if err := e.Run(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if want := [][]string{{"u1", "u2", "u3"}}; !slices.EqualFunc(f.asked, want, slices.Equal) {
		t.Fatalf("ForBatch asked for %v, want %v (the users without an outcome)", f.asked, want)
	}
	task, got := outcomes(t, store, id)
	if task.Status != batch.StatusSucceeded {
		t.Fatalf("task %s", task.Status)
	}
	for _, n := range names(4) {
		if r := got[n]; r.Phase != batch.PhaseOutcome || r.Code != "" {
			t.Errorf("%s: %+v", n, r)
		}
		if c := f.count(n); c != 1 {
			t.Errorf("%s reset %d times, want once", n, c)
		}
	}
	// u0 and u1 were reset before the crash; u2 and u3 now, through the view.
	if want := map[string]int{"u2": 1, "u3": 1}; !maps.Equal(f.viewed, want) {
		t.Errorf("resets through the view %v, want %v", f.viewed, want)
	}
	if !got["u1"].Checked || f.checks != 2 {
		t.Errorf("u1 checked %v, %d HoldsPassword calls; want true and 2", got["u1"].Checked, f.checks)
	}

	// Abandon resets nobody, and finds nobody.
	store = &batchtest.Memory{}
	f = newFinder(names(4)...)
	id = crashed(t, store, f.dir)
	e, _ = newEngine(t, store, f, nil)
	if err := e.Abandon(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if len(f.asked) != 0 || len(f.viewed) != 0 {
		t.Fatalf("Abandon asked ForBatch for %v and reset %v", f.asked, f.viewed)
	}
}
