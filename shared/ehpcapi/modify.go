package ehpcapi

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"chpass/shared/batch"
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
		out[i] = outcome(r.Name, r.Err)
	}
	return out
}

// outcome is one user's result in the catalog's terms.
func outcome(name string, err error) UserResult {
	code := userCode(err)
	r := UserResult{Name: name, Code: code}
	if code != CodeSuccess {
		r.Message = errf(code, name).message()
	}
	if code == CodeUserChangePasswordFailure || password.ErrorCode(err) == batch.EUNKNOWN {
		r.Detail = password.ErrorMessage(err)
	}
	return r
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
	origin := batch.Origin{RequestID: c.requestID, Caller: c.keyID}
	rs := outcomes(batch.Reset(c.origin(ctx, ""), cl.Service, c.cluster, origin, users, h.opts.Concurrency, h.audit, h.now))
	if err := batchError(rs); err != nil {
		return nil, err
	}
	return modifyResponse{RequestID: c.requestID}, nil
}

// noTaskStore is the Recommend of InvalidOpt when no task store is configured.
const noTaskStore = "Async and ListTasks require a task store: configure the embedded store (store.path) and tasks.key " +
	"(the base64 of a 32-byte key), and run the task worker (the local server runs it); or call with Async=false."

// invalidEntry maps CheckBatch's error onto InvalidParams naming User.N.Field of
// every bad entry; Recommend says the rules each one breaks (never a password).
func invalidEntry(err error) *apiError {
	var entries []*password.InvalidEntryError
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if ie, ok := e.(*password.InvalidEntryError); ok {
				entries = append(entries, ie)
			}
		}
	} else if ie := (*password.InvalidEntryError)(nil); errors.As(err, &ie) {
		entries = append(entries, ie)
	}
	if len(entries) == 0 {
		return errf(CodeInvalidParams, "User")
	}
	names := make([]string, len(entries))
	why := make([]string, len(entries))
	for i, ie := range entries {
		names[i] = "User." + strconv.Itoa(ie.Index+1) + "." + ie.Field
		if vs := password.ErrorViolations(ie.Err); len(vs) > 0 {
			parts := make([]string, len(vs))
			for k, v := range vs {
				parts[k] = v.Rule + ": " + v.Message
			}
			why[i] = strings.Join(parts, " ")
		} else {
			why[i] = password.ErrorMessage(ie.Err)
		}
	}
	if len(entries) == 1 {
		return &apiError{Code: CodeInvalidParams, Name: names[0], Recommend: why[0]}
	}
	for i := range why {
		why[i] = names[i] + ": " + why[i]
	}
	return &apiError{Code: CodeInvalidParams, Name: strings.Join(names, ", "), Recommend: strings.Join(why, " | ")}
}

// deadline returns ctx with the safety margin taken off its deadline.
func (h *Handler) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, d.Add(-h.opts.SafetyMargin))
	}
	return context.WithCancel(ctx)
}

// audit writes a batch's audit line: "audit_intent" before a user's change,
// "audit" with the outcome's catalog code after it.
func (h *Handler) audit(ev batch.AuditEvent) {
	name := "audit"
	if ev.Phase == batch.PhaseIntent {
		name = "audit_intent"
	}
	l := h.withFunction(h.log.Info()).
		Str("event", name).
		Str("request_id", ev.Origin.RequestID).
		Str("action", ActionModifyUserPasswords).
		Str("access_key_id", ev.Origin.Caller).
		Str("cluster", ev.Cluster).
		Str("user", ev.Name)
	if ev.Phase == batch.PhaseOutcome {
		var err error
		if ev.Code != "" {
			err = &password.Error{Code: ev.Code, Message: ev.Message}
		}
		l = l.Str("outcome", userCode(err))
		if ev.Checked {
			l = l.Bool("checked", true)
		}
	}
	if ev.TaskID != "" {
		l = l.Str("task_id", ev.TaskID)
	}
	msg := "password reset"
	if ev.Phase == batch.PhaseIntent {
		msg = "password reset starting"
	}
	l.Time("at", ev.At).Msg(msg)
}
