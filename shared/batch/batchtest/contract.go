package batchtest

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"chpass/shared/batch"
	"chpass/shared/password"
)

// Run runs the contract suite of batch.TaskStore. newStore is called once per
// test and must return an empty store; it may call t.Cleanup. The store's
// clock must be the real one: leases are tested by waiting them out.
func Run(t *testing.T, newStore func(t *testing.T) batch.TaskStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s batch.TaskStore)
	}{
		{"CreateAndRead", testCreate},
		{"CreateErrors", testCreateErrors},
		{"ErrNotFound", testNotFound},
		{"Tasks", testTasks},
		{"PendingTasks", testPending},
		{"Claim", testClaim},
		{"ClaimTakenOverAfterLease", testTakeover},
		{"ClaimOnceAmongMany", testClaimRace},
		{"RecordUser", testRecord},
		{"ReleaseTask", testRelease},
		{"FinishTask", testFinish},
		{"ErrCanceled", testCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := password.ErrorCode(err); got != code {
		tb.Fatalf("error %v (code %q), want code %q", err, got, code)
	}
}

var base = time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.UTC)

// sample returns a task as Submit would create it.
func sample(id, cluster string, created time.Time) batch.Task {
	return batch.Task{
		ID: id, Cluster: cluster, Kind: batch.KindReset, Status: batch.StatusRunning,
		Created: created, Updated: created, Total: 3, Sealed: []byte{0, 0xff, 'x', 1},
		Origin: batch.Origin{RequestID: "R-" + id, Caller: "LTAIkey", Request: map[string]string{"User.1.Password": "******", "ClusterId": cluster}},
	}
}

func create(tb testing.TB, s batch.TaskStore, t batch.Task) {
	tb.Helper()
	wantCode(tb, s.CreateTask(context.Background(), t), "")
}

func get(tb testing.TB, s batch.TaskStore, id string) batch.Task {
	tb.Helper()
	t, err := s.Task(context.Background(), id)
	wantCode(tb, err, "")
	return t
}

func claim(tb testing.TB, s batch.TaskStore, id, owner string, lease time.Duration, code string) batch.Task {
	tb.Helper()
	t, err := s.ClaimTask(context.Background(), id, owner, lease)
	wantCode(tb, err, code)
	return t
}

func sameTask(tb testing.TB, got, want batch.Task) {
	tb.Helper()
	if got.ID != want.ID || got.Cluster != want.Cluster || got.Kind != want.Kind || got.Status != want.Status ||
		!got.Created.Equal(want.Created) || !got.Updated.Equal(want.Updated) || got.Total != want.Total ||
		!bytes.Equal(got.Sealed, want.Sealed) || got.Origin.RequestID != want.Origin.RequestID ||
		got.Origin.Caller != want.Origin.Caller || !maps.Equal(got.Origin.Request, want.Origin.Request) {
		tb.Errorf("task\n got %+v\nwant %+v", got, want)
	}
}

func testCreate(t *testing.T, s batch.TaskStore) {
	want := sample("t1", "c-1", base)
	in := want
	in.Status, in.Owner, in.Users = batch.StatusFailed, "someone", []batch.UserRecord{{Name: "x"}} // ignored
	create(t, s, in)
	got := get(t, s, "t1")
	sameTask(t, got, want)
	if got.Owner != "" || len(got.Users) != 0 {
		t.Errorf("a new task has owner %q and %d user records", got.Owner, len(got.Users))
	}
	// A zero Created and Updated become the store's now.
	before := time.Now().Add(-time.Second)
	z := sample("t2", "c-1", time.Time{})
	z.Updated = time.Time{}
	create(t, s, z)
	got = get(t, s, "t2")
	if got.Created.Before(before) || got.Updated.Before(before) || got.Created.After(time.Now().Add(time.Second)) {
		t.Errorf("zero times became %v, %v", got.Created, got.Updated)
	}
}

func testCreateErrors(t *testing.T, s batch.TaskStore) {
	ctx := context.Background()
	wantCode(t, s.CreateTask(ctx, batch.Task{}), password.EINVALID)
	create(t, s, sample("t1", "c", base))
	dup := sample("t1", "other", base.Add(time.Hour))
	wantCode(t, s.CreateTask(ctx, dup), password.EINVALID)
	sameTask(t, get(t, s, "t1"), sample("t1", "c", base)) // the first one is unchanged
}

func testNotFound(t *testing.T, s batch.TaskStore) {
	ctx := context.Background()
	for _, id := range []string{"nope", ""} {
		_, err := s.Task(ctx, id)
		wantCode(t, err, password.ENOTFOUND)
	}
	_, err := s.ClaimTask(ctx, "nope", "a", time.Minute)
	wantCode(t, err, password.ENOTFOUND)
	wantCode(t, s.RecordUser(ctx, "nope", "a", batch.UserRecord{Phase: batch.PhaseIntent}), password.ENOTFOUND)
	wantCode(t, s.ReleaseTask(ctx, "nope", "a"), password.ENOTFOUND)
	wantCode(t, s.FinishTask(ctx, "nope", "a", batch.StatusFailed), password.ENOTFOUND)
}

func ids(ts []batch.Task) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}

func testTasks(t *testing.T, s batch.TaskStore) {
	ctx := context.Background()
	// t0 predates 1970, to check time ordering; inserted out of order.
	seed := []batch.Task{
		sample("t3", "c-a", base.Add(3*time.Minute)),
		sample("t0", "c-b", time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)),
		sample("t1", "c-a", base.Add(1*time.Minute)),
		sample("t5", "c-b", base.Add(5*time.Minute)),
		sample("t2", "c-b", base.Add(2*time.Minute)),
		sample("t4", "c-a", base.Add(4*time.Minute)),
	}
	for _, tk := range seed {
		create(t, s, tk)
	}
	// Records show in listings too.
	claim(t, s, "t5", "o", time.Minute, "")
	wantCode(t, s.RecordUser(ctx, "t5", "o", batch.UserRecord{Index: 1, Name: "bob", Phase: batch.PhaseIntent, At: base}), "")
	tests := []struct {
		name          string
		cluster       string
		offset, limit int
		want          []string
		total         int
		code          string
	}{
		{name: "AllNewestFirst", want: []string{"t5", "t4", "t3", "t2", "t1", "t0"}, total: 6},
		{name: "FirstPage", limit: 2, want: []string{"t5", "t4"}, total: 6},
		{name: "SecondPage", offset: 2, limit: 2, want: []string{"t3", "t2"}, total: 6},
		{name: "PastTheEnd", offset: 6, limit: 2, want: []string{}, total: 6},
		{name: "OneCluster", cluster: "c-a", want: []string{"t4", "t3", "t1"}, total: 3},
		{name: "OneClusterPage", cluster: "c-b", offset: 1, limit: 1, want: []string{"t2"}, total: 3},
		{name: "UnknownCluster", cluster: "c-z", want: []string{}, total: 0},
		{name: "ErrNegativeOffset", offset: -1, code: password.EINVALID},
		{name: "ErrNegativeLimit", limit: -1, code: password.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, total, err := s.Tasks(ctx, tt.cluster, tt.offset, tt.limit)
			wantCode(t, err, tt.code)
			if tt.code != "" {
				return
			}
			if got := ids(ts); !slices.Equal(got, tt.want) || total != tt.total {
				t.Errorf("Tasks = %v (total %d), want %v (total %d)", got, total, tt.want, tt.total)
			}
			for _, tk := range ts {
				if tk.ID == "t5" && (len(tk.Users) != 1 || tk.Users[0].Name != "bob") {
					t.Errorf("t5 listed with users %+v", tk.Users)
				}
			}
		})
	}
}

func testPending(t *testing.T, s batch.TaskStore) {
	ctx := context.Background()
	for i, id := range []string{"p2", "p0", "p1", "p3"} {
		_ = i
		create(t, s, sample(id, "c", base.Add(time.Duration(id[1]-'0')*time.Minute)))
	}
	claim(t, s, "p1", "o", time.Minute, "") // claimed tasks are still pending
	claim(t, s, "p3", "o", time.Minute, "")
	wantCode(t, s.FinishTask(ctx, "p3", "o", batch.StatusSucceeded), "")
	ts, err := s.PendingTasks(ctx)
	wantCode(t, err, "")
	if got := ids(ts); !slices.Equal(got, []string{"p0", "p1", "p2"}) {
		t.Errorf("PendingTasks = %v, want p0 p1 p2 (oldest first, no ended task)", got)
	}
}

func testClaim(t *testing.T, s batch.TaskStore) {
	create(t, s, sample("t", "c", base))
	_, err := s.ClaimTask(context.Background(), "t", "", time.Minute)
	wantCode(t, err, password.EINVALID)
	_, err = s.ClaimTask(context.Background(), "t", "a", 0)
	wantCode(t, err, password.EINVALID)
	got := claim(t, s, "t", "a", time.Minute, "")
	sameTask(t, got, sample("t", "c", base))
	if got.Owner != "a" || got.LeaseUntil.Before(time.Now().Add(50*time.Second)) || got.LeaseUntil.After(time.Now().Add(70*time.Second)) {
		t.Errorf("claim: owner %q until %v, want a for about a minute", got.Owner, got.LeaseUntil)
	}
	claim(t, s, "t", "b", time.Minute, batch.ECLAIMED)
	// The holder renews.
	again := claim(t, s, "t", "a", 2*time.Minute, "")
	if !again.LeaseUntil.After(got.LeaseUntil) {
		t.Errorf("renewal kept the lease at %v (was %v)", again.LeaseUntil, got.LeaseUntil)
	}
	if o := get(t, s, "t").Owner; o != "a" {
		t.Errorf("Task shows owner %q", o)
	}
}

func testTakeover(t *testing.T, s batch.TaskStore) {
	ctx := context.Background()
	create(t, s, sample("t", "c", base))
	claim(t, s, "t", "dead", time.Second, "")
	wantCode(t, s.RecordUser(ctx, "t", "dead", batch.UserRecord{Index: 0, Name: "alice", Phase: batch.PhaseIntent, At: base}), "")
	claim(t, s, "t", "next", time.Minute, batch.ECLAIMED)
	time.Sleep(1200 * time.Millisecond)
	// Past its lease but not taken over, the holder may still record.
	wantCode(t, s.RecordUser(ctx, "t", "dead", batch.UserRecord{Index: 1, Name: "bob", Phase: batch.PhaseIntent, At: base}), "")
	got := claim(t, s, "t", "next", time.Minute, "")
	if got.Owner != "next" || len(got.Users) != 2 || got.Users[0].Name != "alice" || got.Users[1].Name != "bob" {
		t.Fatalf("taken over: owner %q users %+v", got.Owner, got.Users)
	}
	// The old holder is fenced off.
	wantCode(t, s.RecordUser(ctx, "t", "dead", batch.UserRecord{Index: 0, Name: "alice", Phase: batch.PhaseOutcome, At: base}), batch.ECLAIMED)
	wantCode(t, s.ReleaseTask(ctx, "t", "dead"), batch.ECLAIMED)
	wantCode(t, s.FinishTask(ctx, "t", "dead", batch.StatusFailed), batch.ECLAIMED)
	claim(t, s, "t", "dead", time.Minute, batch.ECLAIMED)
	if u := get(t, s, "t").Users; u[0].Phase != batch.PhaseIntent {
		t.Errorf("a fenced-off record was stored: %+v", u)
	}
}

func testClaimRace(t *testing.T, s batch.TaskStore) {
	create(t, s, sample("t", "c", base))
	const n = 16
	var wg sync.WaitGroup
	codes := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.ClaimTask(context.Background(), "t", fmt.Sprintf("owner%d", i), time.Minute)
			codes[i] = password.ErrorCode(err)
		}()
	}
	wg.Wait()
	won := 0
	for i, c := range codes {
		switch c {
		case "":
			won++
			if o := get(t, s, "t").Owner; o != fmt.Sprintf("owner%d", i) {
				t.Errorf("owner%d won but the task is held by %q", i, o)
			}
		case batch.ECLAIMED:
		default:
			t.Errorf("claim %d: code %q", i, c)
		}
	}
	if won != 1 {
		t.Fatalf("%d claims won, want exactly 1", won)
	}
}

func testRecord(t *testing.T, s batch.TaskStore) {
	ctx := context.Background()
	create(t, s, sample("t", "c", base))
	wantCode(t, s.RecordUser(ctx, "t", "a", batch.UserRecord{Index: 0, Phase: batch.PhaseIntent}), batch.ECLAIMED) // not claimed
	claim(t, s, "t", "a", time.Minute, "")
	at := base.Add(time.Hour)
	recs := []batch.UserRecord{
		{Index: 2, Name: "carol", Phase: batch.PhaseIntent, At: at},
		{Index: 0, Name: "alice", Phase: batch.PhaseIntent, At: at.Add(time.Second)},
		{Index: 0, Name: "alice", Phase: batch.PhaseOutcome, At: at.Add(2 * time.Second)},
		{Index: 2, Name: "carol", Phase: batch.PhaseOutcome, Code: password.EPOLICY, Message: "Reused.", Checked: true, At: at.Add(3 * time.Second)},
		{Index: 1, Name: "bob", Phase: batch.PhaseIntent, At: at.Add(4 * time.Second)},
	}
	for _, r := range recs {
		wantCode(t, s.RecordUser(ctx, "t", "a", r), "")
	}
	got := get(t, s, "t")
	want := []batch.UserRecord{recs[2], recs[4], recs[3]}
	if len(got.Users) != 3 {
		t.Fatalf("users %+v, want %+v", got.Users, want)
	}
	for i := range want {
		g, w := got.Users[i], want[i]
		if g.Index != w.Index || g.Name != w.Name || g.Phase != w.Phase || g.Code != w.Code || g.Message != w.Message ||
			g.Checked != w.Checked || !g.At.Equal(w.At) {
			t.Errorf("user record %d = %+v, want %+v", i, g, w)
		}
	}
	if got.Done() != 2 || !got.Updated.Equal(recs[4].At) {
		t.Errorf("done %d updated %v", got.Done(), got.Updated)
	}
	for _, bad := range []batch.UserRecord{{Index: 3, Phase: batch.PhaseIntent}, {Index: -1, Phase: batch.PhaseIntent}, {Index: 0, Phase: "done"}} {
		wantCode(t, s.RecordUser(ctx, "t", "a", bad), password.EINVALID)
	}
	wantCode(t, s.RecordUser(ctx, "t", "b", batch.UserRecord{Index: 1, Phase: batch.PhaseOutcome}), batch.ECLAIMED)
	if u := get(t, s, "t").Users; len(u) != 3 || u[1].Phase != batch.PhaseIntent {
		t.Errorf("refused records were stored: %+v", u)
	}
}

func testRelease(t *testing.T, s batch.TaskStore) {
	ctx := context.Background()
	create(t, s, sample("t", "c", base))
	wantCode(t, s.ReleaseTask(ctx, "t", "a"), batch.ECLAIMED)
	claim(t, s, "t", "a", time.Hour, "")
	wantCode(t, s.ReleaseTask(ctx, "t", "b"), batch.ECLAIMED)
	wantCode(t, s.ReleaseTask(ctx, "t", "a"), "")
	if o := get(t, s, "t").Owner; o != "" {
		t.Errorf("released, the owner is %q", o)
	}
	claim(t, s, "t", "b", time.Hour, "") // at once, well within a's lease
}

func testFinish(t *testing.T, s batch.TaskStore) {
	ctx := context.Background()
	create(t, s, sample("t", "c", base))
	claim(t, s, "t", "a", time.Minute, "")
	wantCode(t, s.RecordUser(ctx, "t", "a", batch.UserRecord{Index: 0, Name: "alice", Phase: batch.PhaseOutcome, At: base}), "")
	wantCode(t, s.FinishTask(ctx, "t", "a", batch.StatusRunning), password.EINVALID)
	wantCode(t, s.FinishTask(ctx, "t", "b", batch.StatusPartial), batch.ECLAIMED)
	before := time.Now().Add(-time.Second)
	wantCode(t, s.FinishTask(ctx, "t", "a", batch.StatusPartial), "")
	got := get(t, s, "t")
	if got.Status != batch.StatusPartial || got.Sealed != nil || got.Owner != "" || len(got.Users) != 1 || got.Updated.Before(before) {
		t.Errorf("finished: %+v", got)
	}
	wantCode(t, s.FinishTask(ctx, "t", "a", batch.StatusFailed), batch.EENDED)
	claim(t, s, "t", "a", time.Minute, batch.EENDED)
	wantCode(t, s.RecordUser(ctx, "t", "a", batch.UserRecord{Index: 1, Phase: batch.PhaseIntent}), batch.EENDED)
	wantCode(t, s.ReleaseTask(ctx, "t", "a"), batch.EENDED)
	if s := get(t, s, "t").Status; s != batch.StatusPartial {
		t.Errorf("status changed after the end to %s", s)
	}
}

func testCanceled(t *testing.T, s batch.TaskStore) {
	create(t, s, sample("t", "c", base))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	wantCode(t, s.CreateTask(ctx, sample("u", "c", base)), password.ECANCELED)
	_, err := s.Task(ctx, "t")
	wantCode(t, err, password.ECANCELED)
	_, err = s.ClaimTask(ctx, "t", "a", time.Minute)
	wantCode(t, err, password.ECANCELED)
	if _, err := s.Task(context.Background(), "u"); password.ErrorCode(err) != password.ENOTFOUND {
		t.Errorf("a canceled create stored the task: %v", err)
	}
}
