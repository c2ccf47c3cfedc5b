package ehpcapi

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"chpass/shared/batch"
	"chpass/shared/batch/batchtest"
	"chpass/shared/logtest"
	"chpass/shared/password"
)

// listTask returns the task as ListTasks answers it.
func listTask(tb testing.TB, e *env, id string) taskInfo {
	tb.Helper()
	r := e.call(tb, map[string]string{"Action": ActionListTasks, "ClusterId": "ehpc-demo", "TaskId": id})
	if r.Status != 200 {
		tb.Fatalf("ListTasks: %d %s", r.Status, r.Raw)
	}
	var body listTasksResponse
	if err := json.Unmarshal([]byte(r.Raw), &body); err != nil {
		tb.Fatal(err)
	}
	if body.TotalCount != 1 || len(body.Tasks) != 1 {
		tb.Fatalf("ListTasks found %d tasks: %s", body.TotalCount, r.Raw)
	}
	return body.Tasks[0]
}

// enqueue sends an Async batch and returns its task id.
func enqueue(tb testing.TB, e *env, names ...string) string {
	tb.Helper()
	r := e.call(tb, modify("ehpc-demo", map[string]string{"Async": "true"}, names...))
	if r.Status != 200 {
		tb.Fatalf("Async: %d %s", r.Status, r.Raw)
	}
	id, _ := r.Body["TaskId"].(string)
	if id == "" || r.Body["RequestId"] == "" {
		tb.Fatalf("no TaskId: %s", r.Raw)
	}
	return id
}

func TestAsyncLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	id := enqueue(t, e, "user1", "ghost", "user2")

	// Waiting: nothing changed, the passwords are sealed, not in clear.
	if n := e.dir.resetNames(); len(n) != 0 {
		t.Fatalf("%v reset before the worker ran", n)
	}
	stored, err := e.tasks.Task(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Status != batch.StatusRunning || stored.Kind != batch.KindReset || stored.Total != 3 || stored.Cluster != "ehpc-demo" {
		t.Errorf("stored %+v", stored)
	}
	if len(stored.Sealed) == 0 || bytes.Contains(stored.Sealed, []byte(canary)) {
		t.Fatal("the payload is missing or in clear")
	}
	sealer, err := batch.NewSealer(taskKey)
	if err != nil {
		t.Fatal(err)
	}
	users, err := sealer.Open(id, stored.Sealed)
	if err != nil || len(users) != 3 || users[0].Password != canary+"0" || users[1].Name != "ghost" {
		t.Fatalf("the payload does not open with the key and the task id: %v", err)
	}
	if _, err := sealer.Open("another-task", stored.Sealed); err == nil {
		t.Error("the payload opens under another task id (AAD not bound)")
	}
	info := listTask(t, e, id)
	if info.Status != TaskProcessing || info.CurrentStep != 0 || info.TotalSteps != 3 {
		t.Errorf("waiting task %+v", info)
	}
	var req map[string]string
	if err := json.Unmarshal([]byte(info.Request), &req); err != nil {
		t.Fatal(err)
	}
	if req["User.1.Password"] != "******" || req["User.2.Name"] != "ghost" || req["ClusterId"] != "ehpc-demo" || req["Async"] != "true" {
		t.Errorf("Request %v", req)
	}
	if _, ok := req["Signature"]; ok {
		t.Error("Request shows the signature")
	}

	// Run: results per user, the payload erased.
	if err := e.h.Batches().RunPending(context.Background()); err != nil {
		t.Fatal(err)
	}
	info = listTask(t, e, id)
	if info.Status != TaskPartialFail || info.CurrentStep != 3 {
		t.Errorf("finished task %+v", info)
	}
	var results, failures []UserResult
	if err := json.Unmarshal([]byte(info.Result), &results); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(info.Errors), &failures); err != nil {
		t.Fatal(err)
	}
	if len(results) != 3 || results[0].Code != CodeSuccess || results[1].Code != CodeUserNotExist || results[2].Code != CodeSuccess {
		t.Errorf("Result %s", info.Result)
	}
	if len(failures) != 1 || failures[0].Name != "ghost" {
		t.Errorf("Errors %s", info.Errors)
	}
	stored, _ = e.tasks.Task(context.Background(), id)
	if stored.Sealed != nil {
		t.Error("the sealed passwords were not erased when the task ended")
	}
	if e.dir.password("user1") != canary+"0" || e.dir.password("user2") != canary+"2" {
		t.Error("the users were not reset")
	}
	// A second pass does nothing.
	if err := e.h.Batches().RunPending(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(e.dir.resetNames()); n != 2 {
		t.Errorf("%d resets after a second pass", n)
	}
}

func TestAsyncStatuses(t *testing.T) {
	tests := []struct {
		name  string
		users []string
		setup func(*env)
		want  batch.Status
	}{
		{"Success", []string{"user1", "user2"}, nil, batch.StatusSucceeded},
		{"Fail", []string{"ghost1", "ghost2"}, nil, batch.StatusFailed},
		{"PartialFail", []string{"user1", "ghost"}, nil, batch.StatusPartial},
		{"ClusterStoppedMeanwhile", []string{"user1"}, func(e *env) {
			cl := e.h.opts.Clusters["ehpc-demo"]
			cl.Status = "stopped"
			e.h.opts.Clusters = map[string]Cluster{"ehpc-demo": cl}
		}, batch.StatusFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			id := enqueue(t, e, tt.users...)
			if tt.setup != nil {
				tt.setup(e)
			}
			if err := e.h.Batches().RunPending(context.Background()); err != nil {
				t.Fatal(err)
			}
			got, _ := e.tasks.Task(context.Background(), id)
			if got.Status != tt.want || got.Sealed != nil {
				t.Errorf("status %s (payload erased: %v), want %s", got.Status, got.Sealed == nil, tt.want)
			}
		})
	}
}

// TestAsyncResume: a worker interrupted mid-batch leaves the task Processing
// with its progress and sealed payload; a new handler (a restart) over the
// same store and key finishes it without resetting anyone twice.
func TestAsyncResume(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Concurrency = 1 })
	id := enqueue(t, e, "user1", "user2", "user3", "user4")
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	n := 0
	e.dir.Hook = func(string) {
		mu.Lock()
		defer mu.Unlock()
		if n++; n == 2 {
			cancel() // the process is told to stop after the second reset began
		}
	}
	_ = e.h.Batches().RunPending(ctx)
	stored, _ := e.tasks.Task(context.Background(), id)
	if stored.Status != batch.StatusRunning || stored.Sealed == nil || stored.Done() != 2 || stored.Owner != "" {
		t.Fatalf("after the interruption: status %s step %d payload kept %v owner %q", stored.Status, stored.Done(), stored.Sealed != nil, stored.Owner)
	}
	e.dir.Hook = nil

	// Restart: a new handler over the same store and key.
	logs := &logtest.Buffer{}
	h2, err := New(Options{Clusters: e.h.opts.Clusters, AccessKeys: e.h.opts.AccessKeys, Tasks: e.tasks, TaskKey: taskKey, Logger: zerolog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h2.Batches().Worker(wctx, time.Hour); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		stored, _ = e.tasks.Task(context.Background(), id)
		if stored.Status != batch.StatusRunning || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	wcancel()
	<-done
	if stored.Status != batch.StatusSucceeded || stored.Sealed != nil || stored.Done() != 4 {
		t.Fatalf("after the restart: %s step %d", stored.Status, stored.Done())
	}
	names := e.dir.resetNames()
	slices.Sort(names)
	if got := strings.Join(names, ","); got != "user1,user2,user3,user4" {
		t.Errorf("resets %s, want each user once", got)
	}
	if strings.Contains(logs.String(), canary) {
		t.Error("the canary is in the restarted worker's logs")
	}
}

// TestWorkerWakes: an Async request wakes a running worker at once.
func TestWorkerWakes(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.h.Batches().Worker(ctx, time.Hour); close(done) }()
	defer func() { cancel(); <-done }()
	time.Sleep(10 * time.Millisecond) // let the first empty pass finish
	id := enqueue(t, e, "user1")
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if listTask(t, e, id).Status == TaskSuccess {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the worker did not run the task")
}

// tamperStore flips a bit of every sealed payload it hands out.
type tamperStore struct{ *batchtest.Memory }

func (s tamperStore) ClaimTask(ctx context.Context, id, owner string, lease time.Duration) (batch.Task, error) {
	t, err := s.Memory.ClaimTask(ctx, id, owner, lease)
	if len(t.Sealed) > 0 {
		t.Sealed[len(t.Sealed)-1] ^= 1
	}
	return t, err
}

func TestAsyncPayloadTampered(t *testing.T) {
	e := newEnv(t, nil)
	id := enqueue(t, e, "user1")
	opts := e.h.opts
	opts.Tasks = tamperStore{e.tasks}
	h2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := h2.Batches().RunPending(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := e.tasks.Task(context.Background(), id)
	if got.Status != batch.StatusFailed || got.Sealed != nil || len(e.dir.resetNames()) != 0 {
		t.Errorf("tampered payload: %s, resets %v", got.Status, e.dir.resetNames())
	}
}

func TestListTasks(t *testing.T) {
	e := newEnv(t, nil)
	var ids []string
	for range 3 {
		ids = append(ids, enqueue(t, e, "user1"))
	}
	r := e.call(t, map[string]string{"Action": ActionListTasks, "ClusterId": "ehpc-demo", "PageSize": "2", "Archived": "false"})
	var body listTasksResponse
	if err := json.Unmarshal([]byte(r.Raw), &body); err != nil || r.Status != 200 {
		t.Fatal(r.Raw)
	}
	if body.TotalCount != 3 || len(body.Tasks) != 2 || body.Tasks[0].TaskID != ids[2] {
		t.Errorf("page 1: %s", r.Raw)
	}
	tests := []struct {
		name   string
		params map[string]string
		status int
		code   string
		total  int
	}{
		{"UnknownTask", map[string]string{"TaskId": "nope", "ClusterId": "ehpc-demo"}, 200, "", 0},
		{"TaskOfAnotherCluster", map[string]string{"TaskId": ids[0], "ClusterId": "ehpc-other"}, 200, "", 0},
		{"TaskWithoutCluster", map[string]string{"TaskId": ids[0]}, 200, "", 1},
		{"Neither", map[string]string{}, 400, CodeMissingParameter, 0},
		{"UnknownCluster", map[string]string{"ClusterId": "ehpc-nope"}, 404, CodeClusterNotFound, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.params["Action"] = ActionListTasks
			r := e.call(t, tt.params)
			if tt.code != "" {
				wantError(t, r, tt.status, tt.code)
				return
			}
			var body listTasksResponse
			if err := json.Unmarshal([]byte(r.Raw), &body); err != nil || r.Status != 200 || body.TotalCount != tt.total {
				t.Errorf("%d %s", r.Status, r.Raw)
			}
		})
	}
	t.Run("NoStore", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.Tasks, o.TaskKey = nil, nil })
		r := e.call(t, map[string]string{"Action": ActionListTasks, "ClusterId": "ehpc-demo"})
		wantError(t, r, 400, CodeInvalidOpt)
		if !strings.Contains(r.Body["Recommend"].(string), "tasks.key") {
			t.Errorf("Recommend %q does not say what to configure", r.Body["Recommend"])
		}
	})
}

// TestCanary runs every kind of scenario with the canary password through
// one handler and then searches everything it produced: responses (checked
// by serve), logs and task records at rest (checked at cleanup), and the
// error texts of the handler's own errors.
func TestCanary(t *testing.T) {
	e := newEnv(t, nil)
	e.dir.Errs["user5"] = password.PolicyError([]password.Violation{password.DefaultPolicy().Violation(password.RuleReusePrevention)})
	scenarios := []map[string]string{
		modify("ehpc-demo", nil, "user1", "user2"),
		modify("ehpc-demo", nil, "user1", "ghost", "user5"),
		modify("ehpc-demo", map[string]string{"Async": "true"}, "user3", "user4"),
		modify("ehpc-demo", map[string]string{"User.2.Password": canary}, "user1", "user1"),
		modify("ehpc-demo", map[string]string{"User.1.Foo": canary}, "user1"),
		modify("ehpc-demo", map[string]string{"Async": canary}, "user1"),
		modify("ehpc-stopped", nil, "user1"),
		modify("ehpc-nodir", nil, "user1"),
		modify("ehpc-nope", nil, "user1"),
		modify("ehpc-demo", map[string]string{"User.1.Password": strings.Repeat(canary, 800)}, "user1"),
	}
	for _, p := range scenarios {
		e.call(t, p)
		e.serve(t, get(signed("GET", p, testKeyID, "wrong-secret", e.now)))
		e.serve(t, post(signed("POST", p, testKeyID, testSecret, e.now)))
		bad := signed("GET", p, testKeyID, testSecret, e.now)
		bad["Timestamp"] = "bad"
		e.serve(t, get(bad))
	}
	if err := e.h.Batches().RunPending(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := e.call(t, map[string]string{"Action": ActionListTasks, "ClusterId": "ehpc-demo"})
	if r.Status != 200 {
		t.Fatal(r.Raw)
	}
	// The handler's own error texts.
	_, perr := parseUsers(modify("ehpc-demo", map[string]string{"User.1.Bad": canary}, "user1"))
	for _, err := range []error{perr, invalidEntry(password.NewService(password.DefaultPolicy(), e.dir).CheckBatch(
		[]password.ResetRequest{{Name: "user1", Password: strings.ToLower(canary)}}))} {
		if err != nil && strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), strings.ToLower(canary)) {
			t.Errorf("an error text holds the canary")
		}
	}
	if !strings.Contains(e.logs.String(), `"event":"audit"`) {
		t.Error("no audit lines: the scenarios did not run")
	}
}

// TestViewTaskTranslatesRecords: ListTasks shows outcomes only (not intents),
// in the E-HPC catalog, with the task's status in E-HPC's words.
func TestViewTaskTranslatesRecords(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	task := batch.Task{ID: "T", Cluster: "c", Kind: batch.KindReset, Status: batch.StatusPartial, Total: 5, Created: at, Updated: at,
		Users: []batch.UserRecord{
			{Index: 0, Name: "ok", Phase: batch.PhaseOutcome},
			{Index: 1, Name: "checked", Phase: batch.PhaseOutcome, Checked: true},
			{Index: 2, Name: "ghost", Phase: batch.PhaseOutcome, Code: password.ENOTFOUND, Message: "No such user."},
			{Index: 3, Name: "unknown", Phase: batch.PhaseOutcome, Code: batch.EUNKNOWN, Message: "The change was interrupted and its outcome could not be checked."},
			{Index: 4, Name: "pending", Phase: batch.PhaseIntent},
		}}
	info := viewTask(task)
	if info.Status != TaskPartialFail || info.TaskType != TaskTypeModifyUserPasswords || info.CurrentStep != 4 || info.TotalSteps != 5 {
		t.Errorf("info %+v", info)
	}
	var results []UserResult
	if err := json.Unmarshal([]byte(info.Result), &results); err != nil {
		t.Fatal(err)
	}
	want := []UserResult{
		{Name: "ok", Code: CodeSuccess}, {Name: "checked", Code: CodeSuccess},
		{Name: "ghost", Code: CodeUserNotExist, Message: "The specified user is not found in the domain: ghost."},
		{Name: "unknown", Code: CodeAgentError, Message: errf(CodeAgentError, "unknown").message(), Detail: "The change was interrupted and its outcome could not be checked."},
	}
	if !slices.Equal(results, want) {
		t.Errorf("Result\n got %+v\nwant %+v", results, want)
	}
	for s, w := range map[batch.Status]string{batch.StatusRunning: TaskProcessing, batch.StatusSucceeded: TaskSuccess, batch.StatusFailed: TaskFail} {
		if g := taskStatus(s); g != w {
			t.Errorf("status %s shown as %s, want %s", s, g, w)
		}
	}
}
