package ehpcapi

import (
	"context"
	"encoding/json"
	"regexp"
	"sync"
	"time"

	"chpass/shared/batch"
	"chpass/shared/password"
)

// Task statuses, as ListTasks reports them: the E-HPC names of batch.Status.
const (
	TaskProcessing  = "Processing"
	TaskSuccess     = "Success"
	TaskFail        = "Fail"
	TaskPartialFail = "PartialFail"
)

// TaskTypeModifyUserPasswords is the TaskType of an Async ModifyUserPasswords
// (a batch.KindReset task).
const TaskTypeModifyUserPasswords = "ModifyUserPasswords"

// taskStatus translates a task's status into the E-HPC catalog.
func taskStatus(s batch.Status) string {
	switch s {
	case batch.StatusRunning:
		return TaskProcessing
	case batch.StatusSucceeded:
		return TaskSuccess
	case batch.StatusFailed:
		return TaskFail
	case batch.StatusPartial:
		return TaskPartialFail
	default:
		return string(s)
	}
}

func taskType(kind string) string {
	if kind == batch.KindReset {
		return TaskTypeModifyUserPasswords
	}
	return kind
}

// userParam matches the parameters of a batch's users; compiled by the first
// task shown, not at every start.
var userParam = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^User\.[1-9][0-9]{0,2}\.(Name|Password)$`)
})

// maskedRequest returns the parameters worth showing in ListTasks, with every
// password replaced by "******".
func maskedRequest(params map[string]string) map[string]string {
	out := make(map[string]string)
	for k, v := range params {
		switch {
		case k == "Action" || k == "ClusterId" || k == "Async" || k == "Version" || k == "RegionId":
			out[k] = v
		case userParam().MatchString(k):
			if m := userParam().FindStringSubmatch(k); m[1] == "Password" {
				v = "******"
			}
			out[k] = v
		}
	}
	return out
}

// enqueue hands a validated batch to the batch engine as a task.
func (h *Handler) enqueue(ctx context.Context, c *call, users []password.ResetRequest, params map[string]string) (string, *apiError) {
	origin := batch.Origin{RequestID: c.requestID, Caller: c.keyID, Request: maskedRequest(params)}
	t, err := h.batches.Submit(ctx, c.cluster, origin, users)
	if err != nil {
		h.log.Error().Err(err).Str("request_id", c.requestID).Msg("cannot queue a task")
		if password.ErrorCode(err) == password.EUNAVAILABLE {
			return "", errf(CodeServiceUnavailable, "")
		}
		return "", errf(CodeUnknownError, "")
	}
	return t.ID, nil
}

// resolve is the batch engine's Resolver: a task's cluster must still exist,
// run and have a directory when the task runs.
func (h *Handler) resolve(_ context.Context, id string) (*password.Service, error) {
	cl, aerr := h.cluster(id)
	if aerr == nil && cl.Service == nil {
		aerr = errf(CodeDomainNotExist, cl.Domain)
	}
	if aerr != nil {
		return nil, password.Errorf(password.EUNAVAILABLE, "%s", aerr.message())
	}
	return cl.Service, nil
}

// Batches returns the engine that runs this handler's Async batches (for the
// local worker and for "run task <id>" events), or nil without a task store.
func (h *Handler) Batches() *batch.Engine { return h.batches }

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

// recordResult translates one user's outcome into the catalog.
func recordResult(u batch.UserRecord) UserResult {
	var err error
	if u.Code != "" {
		err = &password.Error{Code: u.Code, Message: u.Message}
	}
	return outcome(u.Name, err)
}

func viewTask(t batch.Task) taskInfo {
	results, failures := []UserResult{}, []UserResult{}
	for _, u := range t.Users {
		if u.Phase != batch.PhaseOutcome {
			continue
		}
		r := recordResult(u)
		results = append(results, r)
		if r.Code != CodeSuccess {
			failures = append(failures, r)
		}
	}
	res, _ := json.Marshal(results)
	errs, _ := json.Marshal(failures)
	request := t.Origin.Request
	if request == nil {
		request = map[string]string{}
	}
	req, _ := json.Marshal(request)
	return taskInfo{
		TaskID: t.ID, ClusterID: t.Cluster, TaskType: taskType(t.Kind), Status: taskStatus(t.Status),
		TotalSteps: t.Total, CurrentStep: len(results),
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
			return nil, h.storeFailed(c, err)
		case c.cluster != "" && t.Cluster != c.cluster:
		case c.cluster == "" && !key.may(c.action, t.Cluster):
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
		return nil, h.storeFailed(c, terr)
	}
	for _, t := range tasks {
		out.Tasks = append(out.Tasks, viewTask(t))
	}
	out.TotalCount = total
	return out, nil
}

// storeFailed logs a task store failure and answers it.
func (h *Handler) storeFailed(c *call, err error) *apiError {
	h.log.Error().Err(err).Str("request_id", c.requestID).Msg("task store failed")
	if password.ErrorCode(err) == password.EUNAVAILABLE {
		return errf(CodeServiceUnavailable, "")
	}
	return errf(CodeUnknownError, "")
}
