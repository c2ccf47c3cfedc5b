package ehpcapi

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"chpass/shared/password"
)

// Task statuses, as ListTasks reports them. A task is pending while its status
// is TaskProcessing.
const (
	TaskProcessing  = "Processing"
	TaskSuccess     = "Success"
	TaskFail        = "Fail"
	TaskPartialFail = "PartialFail"
)

// TaskTypeModifyUserPasswords is the TaskType of an Async ModifyUserPasswords.
const TaskTypeModifyUserPasswords = "ModifyUserPasswords"

// Task is an asynchronous batch as the task store keeps it. Payload holds the
// batch's passwords sealed with AES-GCM (nil once the task ends); Result is
// this package's JSON record of the request (passwords masked) and the
// outcomes so far. Neither is ever a password in clear.
type Task struct {
	ID, ClusterID, Type, Status string
	Created, Updated            time.Time
	TotalSteps, CurrentStep     int
	Payload                     []byte
	Result                      []byte
}

// TaskStore keeps tasks. Implementations are safe for concurrent use.
type TaskStore interface {
	// SaveTask creates or replaces the task with t.ID.
	SaveTask(ctx context.Context, t Task) error
	// Task returns the task with id. Returns password.ENOTFOUND when there is none.
	Task(ctx context.Context, id string) (Task, error)
	// Tasks returns at most limit tasks of the cluster from offset, newest
	// first, and how many the cluster has in all.
	Tasks(ctx context.Context, clusterID string, offset, limit int) ([]Task, int, error)
	// PendingTasks returns the tasks whose Status is Processing.
	PendingTasks(ctx context.Context) ([]Task, error)
}

// sealer seals and opens task payloads with AES-GCM; the AAD is the task id,
// so a payload cannot be moved to another task.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("must be 32 bytes (AES-256), got %d", len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: g}, nil
}

func (s *sealer) seal(id string, plain []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, plain, []byte(id)), nil
}

func (s *sealer) open(id string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, errors.New("sealed payload too short")
	}
	return s.aead.Open(nil, sealed[:n], sealed[n:], []byte(id))
}

// taskPayload is what a task's Payload seals.
type taskPayload struct {
	Users []password.ResetRequest
}

// taskRecord is what a task's Result holds.
type taskRecord struct {
	RequestID   string            `json:"RequestId"`
	AccessKeyID string            `json:"AccessKeyId"`
	Request     map[string]string `json:"Request"`
	Results     []UserResult      `json:"Results"`
}

// maskedRequest returns the parameters worth showing in ListTasks, with every
// password replaced by "******".
var userParam = regexp.MustCompile(`^User\.[1-9][0-9]{0,2}\.(Name|Password)$`)

func maskedRequest(params map[string]string) map[string]string {
	out := make(map[string]string)
	for k, v := range params {
		switch {
		case k == "Action" || k == "ClusterId" || k == "Async" || k == "Version" || k == "RegionId":
			out[k] = v
		case userParam.MatchString(k):
			if m := userParam.FindStringSubmatch(k); m[1] == "Password" {
				v = "******"
			}
			out[k] = v
		}
	}
	return out
}

// enqueue stores a validated batch as a task and wakes the worker.
func (h *Handler) enqueue(ctx context.Context, c *call, users []password.ResetRequest, params map[string]string) (string, *apiError) {
	id := newID()
	plain, err := json.Marshal(taskPayload{Users: users})
	if err != nil {
		return "", errf(CodeUnknownError, "")
	}
	sealed, err := h.sealer.seal(id, plain)
	clear(plain)
	if err != nil {
		h.log.Error().Err(err).Str("request_id", c.requestID).Msg("cannot seal a task")
		return "", errf(CodeUnknownError, "")
	}
	rec, _ := json.Marshal(taskRecord{RequestID: c.requestID, AccessKeyID: c.keyID, Request: maskedRequest(params), Results: []UserResult{}})
	now := h.now().UTC()
	t := Task{
		ID: id, ClusterID: c.cluster, Type: TaskTypeModifyUserPasswords, Status: TaskProcessing,
		Created: now, Updated: now, TotalSteps: len(users), Payload: sealed, Result: rec,
	}
	if err := h.opts.Tasks.SaveTask(ctx, t); err != nil {
		h.log.Error().Err(err).Str("request_id", c.requestID).Msg("cannot save a task")
		return "", errf(CodeUnknownError, "")
	}
	h.log.Info().Str("event", "task_queued").Str("request_id", c.requestID).Str("task_id", id).
		Str("access_key_id", c.keyID).Str("cluster", c.cluster).Int("users", len(users)).Msg("task queued")
	select {
	case h.wake <- struct{}{}:
	default:
	}
	return id, nil
}

// Worker runs pending tasks until ctx ends: at once (resuming tasks a crash
// left Processing), whenever an Async request queues one, and every poll.
func (h *Handler) Worker(ctx context.Context, poll time.Duration) {
	if h.opts.Tasks == nil {
		return
	}
	if poll <= 0 {
		poll = 10 * time.Second
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if err := h.RunPending(ctx); err != nil && ctx.Err() == nil {
			h.log.Error().Err(err).Msg("running pending tasks failed")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.wake:
		}
	}
}

// RunPending runs every pending task once, in this process one pass at a time.
// A task whose run ctx interrupts stays Processing with its progress saved and
// resumes on the next pass, skipping the users already done.
func (h *Handler) RunPending(ctx context.Context) error {
	if h.opts.Tasks == nil {
		return errors.New("ehpcapi: no task store")
	}
	h.running.Lock()
	defer h.running.Unlock()
	tasks, err := h.opts.Tasks.PendingTasks(ctx)
	if err != nil {
		return fmt.Errorf("ehpcapi.RunPending: %w", err)
	}
	var errs []error
	for _, t := range tasks {
		if ctx.Err() != nil {
			break
		}
		if t.Type != TaskTypeModifyUserPasswords || t.Status != TaskProcessing {
			continue
		}
		if err := h.runTask(ctx, t); err != nil {
			errs = append(errs, fmt.Errorf("task %s: %w", t.ID, err))
		}
	}
	return errors.Join(errs...)
}

func (h *Handler) runTask(ctx context.Context, t Task) error {
	var rec taskRecord
	if err := json.Unmarshal(t.Result, &rec); err != nil {
		rec = taskRecord{}
	}
	c := &call{requestID: rec.RequestID, action: ActionModifyUserPasswords, keyID: rec.AccessKeyID, cluster: t.ClusterID}
	h.log.Info().Str("event", "task_started").Str("task_id", t.ID).Str("cluster", t.ClusterID).Int("done", len(rec.Results)).Msg("task running")
	var payload taskPayload
	if t.Payload == nil {
		return h.finish(ctx, c, t, rec, nil, CodeUnknownError)
	}
	plain, err := h.sealer.open(t.ID, t.Payload)
	if err == nil {
		err = json.Unmarshal(plain, &payload)
		clear(plain)
	}
	if err != nil {
		h.log.Error().Str("task_id", t.ID).Msg("cannot open a task's sealed payload")
		return h.finish(ctx, c, t, rec, nil, CodeUnknownError)
	}
	cl, aerr := h.cluster(t.ClusterID)
	if aerr == nil && cl.Service == nil {
		aerr = errf(CodeDomainNotExist, cl.Domain)
	}
	if aerr != nil {
		return h.finish(ctx, c, t, rec, payload.Users, aerr.Code)
	}
	done := make(map[string]bool, len(rec.Results))
	for _, r := range rec.Results {
		done[r.Name] = true
	}
	var todo []password.ResetRequest
	for _, u := range payload.Users {
		if !done[u.Name] {
			todo = append(todo, u)
		}
	}
	step := h.opts.Concurrency
	for len(todo) > 0 {
		chunk := todo[:min(step, len(todo))]
		results := cl.Service.ResetAll(c.origin(ctx, t.ID), chunk, h.opts.Concurrency)
		var recorded []password.ResetResult
		for _, r := range results {
			if ctx.Err() != nil && password.ErrorCode(r.Err) == password.ECANCELED {
				continue // not tried: the next pass tries it
			}
			recorded = append(recorded, r)
		}
		rs := outcomes(recorded)
		h.audit(c, t.ID, rs)
		rec.Results = append(rec.Results, rs...)
		todo = todo[len(chunk):]
		t.CurrentStep = len(rec.Results)
		t.Updated = h.now().UTC()
		t.Result, _ = json.Marshal(rec)
		if ctx.Err() != nil {
			// Interrupted: save the progress with the payload still sealed.
			saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			err := h.opts.Tasks.SaveTask(saveCtx, t)
			cancel()
			return err
		}
		if len(todo) > 0 {
			if err := h.opts.Tasks.SaveTask(ctx, t); err != nil {
				return err
			}
		}
	}
	return h.finish(ctx, c, t, rec, nil, "")
}

// finish ends a task: users without a result get failCode, the status follows
// the results, and the sealed passwords are erased.
func (h *Handler) finish(ctx context.Context, c *call, t Task, rec taskRecord, users []password.ResetRequest, failCode string) error {
	if failCode != "" {
		done := make(map[string]bool, len(rec.Results))
		for _, r := range rec.Results {
			done[r.Name] = true
		}
		var rs []UserResult
		for _, u := range users {
			if !done[u.Name] {
				rs = append(rs, UserResult{Name: u.Name, Code: failCode, Message: errf(failCode, u.Name).message()})
			}
		}
		h.audit(c, t.ID, rs)
		rec.Results = append(rec.Results, rs...)
	}
	ok := 0
	for _, r := range rec.Results {
		if r.Code == CodeSuccess {
			ok++
		}
	}
	switch {
	case len(rec.Results) > 0 && ok == len(rec.Results) && len(rec.Results) == t.TotalSteps:
		t.Status = TaskSuccess
	case ok == 0:
		t.Status = TaskFail
	default:
		t.Status = TaskPartialFail
	}
	t.Payload = nil
	t.CurrentStep = len(rec.Results)
	t.Updated = h.now().UTC()
	t.Result, _ = json.Marshal(rec)
	h.log.Info().Str("event", "task_finished").Str("task_id", t.ID).Str("cluster", t.ClusterID).
		Str("status", t.Status).Int("succeeded", ok).Int("users", t.TotalSteps).Msg("task finished")
	return h.opts.Tasks.SaveTask(context.WithoutCancel(ctx), t)
}

// taskInfo is one task as ListTasks answers it; Result, Errors and Request are
// JSON texts, as the vendor SDK reads them.
type taskInfo struct {
	TaskID      string `json:"TaskId"`
	ClusterID   string `json:"ClusterId"`
	TaskType    string `json:"TaskType"`
	Status      string `json:"Status"`
	TotalSteps  int    `json:"TotalSteps"`
	CurrentStep int    `json:"CurrentStep"`
	Result      string `json:"Result"`
	Errors      string `json:"Errors"`
	Request     string `json:"Request"`
	CreateTime  string `json:"CreateTime"`
	UpdateTime  string `json:"UpdateTime"`
}

type listTasksResponse struct {
	RequestID  string     `json:"RequestId"`
	PageNumber int        `json:"PageNumber"`
	PageSize   int        `json:"PageSize"`
	TotalCount int        `json:"TotalCount"`
	Tasks      []taskInfo `json:"Tasks"`
}

func viewTask(t Task) taskInfo {
	var rec taskRecord
	_ = json.Unmarshal(t.Result, &rec)
	results := rec.Results
	if results == nil {
		results = []UserResult{}
	}
	failures := []UserResult{}
	for _, r := range results {
		if r.Code != CodeSuccess {
			failures = append(failures, r)
		}
	}
	res, _ := json.Marshal(results)
	errs, _ := json.Marshal(failures)
	req, _ := json.Marshal(rec.Request)
	return taskInfo{
		TaskID: t.ID, ClusterID: t.ClusterID, TaskType: t.Type, Status: t.Status,
		TotalSteps: t.TotalSteps, CurrentStep: t.CurrentStep,
		Result: string(res), Errors: string(errs), Request: string(req),
		CreateTime: t.Created.UTC().Format(time.RFC3339), UpdateTime: t.Updated.UTC().Format(time.RFC3339),
	}
}

func (h *Handler) listTasks(ctx context.Context, c *call, key AccessKey, params map[string]string) (any, *apiError) {
	taskID := params["TaskId"]
	if c.cluster == "" && taskID == "" {
		return nil, errf(CodeMissingParameter, "ClusterId")
	}
	if c.cluster != "" {
		if err := authorize(key, c.action, c.cluster); err != nil {
			return nil, err
		}
	} else if !key.mayAction(c.action) {
		return nil, errf(CodeNotAuthorized, "")
	}
	page, err := parseInt(params, "PageNumber", 1, 1, 1_000_000)
	if err != nil {
		return nil, err
	}
	size, err := parseInt(params, "PageSize", 10, 1, 50)
	if err != nil {
		return nil, err
	}
	if _, err := parseBool(params, "Archived"); err != nil {
		return nil, err
	}
	if c.cluster != "" {
		if _, ok := h.opts.Clusters[c.cluster]; !ok {
			return nil, errf(CodeClusterNotFound, "")
		}
	}
	if h.opts.Tasks == nil {
		return nil, &apiError{Code: CodeInvalidOpt, Recommend: noTaskStore}
	}
	out := listTasksResponse{RequestID: c.requestID, PageNumber: page, PageSize: size, Tasks: []taskInfo{}}
	if taskID != "" {
		t, err := h.opts.Tasks.Task(ctx, taskID)
		switch {
		case password.ErrorCode(err) == password.ENOTFOUND:
		case err != nil:
			h.log.Error().Err(err).Str("request_id", c.requestID).Msg("task store failed")
			return nil, errf(CodeUnknownError, "")
		case c.cluster != "" && t.ClusterID != c.cluster:
		case c.cluster == "" && !key.may(c.action, t.ClusterID):
			// Not the caller's: answered as if it did not exist.
		default:
			if page == 1 {
				out.Tasks = append(out.Tasks, viewTask(t))
			}
			out.TotalCount = 1
		}
		return out, nil
	}
	tasks, total, terr := h.opts.Tasks.Tasks(ctx, c.cluster, (page-1)*size, size)
	if terr != nil {
		h.log.Error().Err(terr).Str("request_id", c.requestID).Msg("task store failed")
		return nil, errf(CodeUnknownError, "")
	}
	for _, t := range tasks {
		out.Tasks = append(out.Tasks, viewTask(t))
	}
	out.TotalCount = total
	return out, nil
}
