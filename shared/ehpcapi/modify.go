package ehpcapi

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"chpass/shared/password"
)

// UserResult is the outcome of one user of a batch: Code is Success or the
// catalog code of the failure, Message its catalog message, Detail the
// directory's caller-safe reason when it refused the password. It never holds
// a password.
type UserResult struct {
	Name    string `json:"Name"`
	Code    string `json:"Code"`
	Message string `json:"Message"`
	Detail  string `json:"Detail,omitempty"`
}

type modifyResponse struct {
	RequestID string `json:"RequestId"`
	TaskID    string `json:"TaskId,omitempty"`
}

// userCode maps one user's reset error onto the catalog.
func userCode(err error) string {
	switch password.ErrorCode(err) {
	case "":
		return CodeSuccess
	case password.ENOTFOUND:
		return CodeUserNotExist
	case password.EPOLICY, password.EFORBIDDEN:
		return CodeUserChangePasswordFailure
	case password.EUNAVAILABLE, password.ECANCELED:
		return CodeServiceUnavailable
	default:
		return CodeAgentError
	}
}

// outcomes turns a batch's results into per-user results.
func outcomes(results []password.ResetResult) []UserResult {
	out := make([]UserResult, len(results))
	for i, r := range results {
		code := userCode(r.Err)
		out[i] = UserResult{Name: r.Name, Code: code}
		if code != CodeSuccess {
			out[i].Message = errf(code, r.Name).message()
		}
		if code == CodeUserChangePasswordFailure {
			out[i].Detail = password.ErrorMessage(r.Err)
		}
	}
	return out
}

// batchError returns nil when every user succeeded; the shared code when every
// user failed for one reason (%s = the names, for the codes that take one);
// PartFailure with Results otherwise.
func batchError(rs []UserResult) *apiError {
	failed, first := 0, ""
	same := true
	for _, r := range rs {
		if r.Code == CodeSuccess {
			continue
		}
		failed++
		if first == "" {
			first = r.Code
		} else if r.Code != first {
			same = false
		}
	}
	switch {
	case failed == 0:
		return nil
	case failed == len(rs) && same:
		names := make([]string, len(rs))
		for i, r := range rs {
			names[i] = r.Name
		}
		return &apiError{Code: first, Name: strings.Join(names, ","), Results: rs}
	default:
		return &apiError{Code: CodePartFailure, Results: rs}
	}
}

func (h *Handler) modifyUserPasswords(ctx context.Context, c *call, key AccessKey, params map[string]string) (any, *apiError) {
	if c.cluster == "" {
		return nil, errf(CodeMissingParameter, "ClusterId")
	}
	if err := authorize(key, c.action, c.cluster); err != nil {
		return nil, err
	}
	users, perr := parseUsers(params)
	if perr != nil {
		return nil, perr
	}
	async, perr := parseBool(params, "Async")
	if perr != nil {
		return nil, perr
	}
	cl, perr := h.cluster(c.cluster)
	if perr != nil {
		return nil, perr
	}
	if cl.Service == nil {
		return nil, errf(CodeDomainNotExist, cl.Domain)
	}
	if err := cl.Service.CheckBatch(users); err != nil {
		return nil, invalidEntry(err)
	}
	if async {
		if h.opts.Tasks == nil {
			return nil, &apiError{Code: CodeInvalidOpt, Recommend: noTaskStore}
		}
		id, err := h.enqueue(ctx, c, users, params)
		if err != nil {
			return nil, err
		}
		return modifyResponse{RequestID: c.requestID, TaskID: id}, nil
	}
	ctx, cancel := h.deadline(ctx)
	defer cancel()
	results := cl.Service.ResetAll(c.origin(ctx, ""), users, h.opts.Concurrency)
	rs := outcomes(results)
	h.audit(c, "", rs)
	if err := batchError(rs); err != nil {
		return nil, err
	}
	return modifyResponse{RequestID: c.requestID}, nil
}

// noTaskStore is the Recommend of InvalidOpt when no task store is configured.
const noTaskStore = "Async and ListTasks require a task store: configure the embedded store (store.path) and tasks.key " +
	"(the base64 of a 32-byte key), and run the task worker (the local server runs it); or call with Async=false."

// invalidEntry maps CheckBatch's error onto InvalidParams naming User.N.Field.
func invalidEntry(err error) *apiError {
	var ie *password.InvalidEntryError
	if !errors.As(err, &ie) {
		return errf(CodeInvalidParams, "User")
	}
	e := &apiError{Code: CodeInvalidParams, Name: "User." + strconv.Itoa(ie.Index+1) + "." + ie.Field}
	if vs := password.ErrorViolations(ie.Err); len(vs) > 0 {
		parts := make([]string, len(vs))
		for i, v := range vs {
			parts[i] = v.Rule + ": " + v.Message
		}
		e.Recommend = strings.Join(parts, " ")
	} else {
		e.Recommend = password.ErrorMessage(ie.Err)
	}
	return e
}

// deadline returns ctx with the safety margin taken off its deadline.
func (h *Handler) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, d.Add(-h.opts.SafetyMargin))
	}
	return context.WithCancel(ctx)
}

// audit writes one line per user of a batch.
func (h *Handler) audit(c *call, taskID string, rs []UserResult) {
	for _, r := range rs {
		ev := h.withFunction(h.log.Info()).
			Str("event", "audit").
			Str("request_id", c.requestID).
			Str("action", ActionModifyUserPasswords).
			Str("access_key_id", c.keyID).
			Str("cluster", c.cluster).
			Str("user", r.Name).
			Str("outcome", r.Code)
		if taskID != "" {
			ev = ev.Str("task_id", taskID)
		}
		ev.Time("at", time.Now().UTC()).Msg("password reset")
	}
}
