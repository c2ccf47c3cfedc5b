package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"chpass/shared/gateway"
)

// kindRunTask names the internal event that has a function run one stored task.
const kindRunTask = "chpass run-task"

// runTaskField is the one field of a run-task event: {"chpassRunTask": {"taskId": "…"}}.
const runTaskField = "chpassRunTask"

func init() { registerDetector(Detector{Name: kindRunTask, Match: isRunTask}) }

// RunTaskEvent is the internal event a function sends to its own asynchronous invocation
// (Lambda InvocationType Event, Function Compute x-fc-invocation-type: Async): it carries
// only the id of a task already recorded, sealed, in the shared task store.
type RunTaskEvent struct {
	TaskID string `json:"taskId"`
}

// NewRunTaskEvent returns the JSON of the run-task event for task id.
func NewRunTaskEvent(id string) []byte {
	b, _ := json.Marshal(map[string]RunTaskEvent{runTaskField: {TaskID: id}})
	return b
}

// isRunTask reports whether data is a run-task event: a JSON object whose only field is
// chpassRunTask, an object. An HTTP event never is one: its fields are the gateway's.
func isRunTask(data []byte) bool {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil || len(m) != 1 {
		return false
	}
	v, ok := m[runTaskField]
	return ok && len(v) > 0 && v[0] == '{'
}

// validTaskID reports whether id is shaped like batch.NewTaskID's ids: 36 characters of
// upper-case hex and dashes.
func validTaskID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case c >= '0' && c <= '9', c >= 'A' && c <= 'F':
		default:
			return false
		}
	}
	return true
}

// RunTask is the kind of the internal run-task event (see RunTaskEvent), delivered on Lambda and
// Function Compute by the platform's asynchronous invocation of the function itself. Only the
// platform delivers it: it is a plain invocation event, which no HTTP request becomes (an HTTP
// event's body is the HTTP handler's, whatever it holds), and invoking a function directly needs
// the platform's own permission. fn runs the task with the invocation's context, which carries
// gateway.Info; it must be idempotent, since the platforms retry a failed asynchronous
// invocation. Its error is the invocation's failure, so that the platform retries it. The
// response is null.
func RunTask(fn func(ctx context.Context, id string) error) Kind {
	return Kind{
		Name: kindRunTask, On: []string{gateway.Lambda, gateway.FC}, Match: isRunTask,
		Handle: func(ctx context.Context, on string, data []byte) (any, error) {
			var e map[string]RunTaskEvent
			if err := decodeEvent(data, &e); err != nil {
				return nil, fmt.Errorf("malformed %s event: %w", kindRunTask, err)
			}
			id := e[runTaskField].TaskID
			if !validTaskID(id) {
				return nil, errors.New("malformed " + kindRunTask + " event: taskId is not a task id")
			}
			return nil, fn(gateway.With(ctx, invocationInfo(ctx, on)), id)
		},
	}
}
