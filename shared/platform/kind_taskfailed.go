package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"chpass/shared/gateway"
)

// kindTaskFailed names the platform's record of a run-task invocation it gave up.
const kindTaskFailed = "chpass task-failed"

// maxRecordDepth bounds how many failure records wrapped in one another are unwrapped: a
// record's own invocation that fails is recorded again, its payload the first record.
const maxRecordDepth = 8

func init() { registerDetector(Detector{Name: kindTaskFailed, Match: isTaskFailed}) }

// failureRecord is the part of an asynchronous invocation's destination record that chpass
// reads. Lambda's: {"version":"1.0","timestamp":…,"requestContext":{"requestId","functionArn",
// "condition":"RetriesExhausted"|"EventAgeExceeded","approximateInvokeCount"},"requestPayload":
// {the event},"responseContext":…,"responsePayload":…}. Function Compute 3.0's has the same
// fields (no version; timestamp a number; condition its error code) and its requestPayload is
// the event as a JSON string.
type failureRecord struct {
	RequestContext struct {
		RequestID   string `json:"requestId"`
		FunctionArn string `json:"functionArn"`
		Condition   string `json:"condition"`
	} `json:"requestContext"`
	RequestPayload json.RawMessage `json:"requestPayload"`
}

// isTaskFailed reports whether data is an asynchronous invocation's destination record: an
// object with requestContext.condition, requestContext.functionArn and requestPayload. No HTTP
// event has requestPayload, and a Lambda function URL's requestContext has no condition.
func isTaskFailed(data []byte) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return false
	}
	if _, ok := m["requestPayload"]; !ok {
		return false
	}
	var rc struct {
		Condition   *string `json:"condition"`
		FunctionArn *string `json:"functionArn"`
	}
	if json.Unmarshal(m["requestContext"], &rc) != nil {
		return false
	}
	return rc.Condition != nil && rc.FunctionArn != nil
}

// taskOfRecord returns the task id of the run-task event at the bottom of a failure record
// (unwrapping records of failed record deliveries), depth the number of records unwrapped.
func taskOfRecord(data []byte) (id string, depth int, err error) {
	for depth = 1; ; depth++ {
		var r failureRecord
		if err := decodeEvent(data, &r); err != nil {
			return "", depth, err
		}
		p := r.RequestPayload
		var s string
		if len(p) > 0 && p[0] == '"' { // Function Compute: the event as a JSON string
			if err := json.Unmarshal(p, &s); err != nil {
				return "", depth, err
			}
			p = json.RawMessage(s)
		}
		switch {
		case isRunTask(p):
			var e map[string]RunTaskEvent
			if err := decodeEvent(p, &e); err != nil {
				return "", depth, err
			}
			id := e[runTaskField].TaskID
			if !validTaskID(id) {
				return "", depth, errors.New("the run-task event's taskId is not a task id")
			}
			return id, depth, nil
		case isTaskFailed(p) && depth < maxRecordDepth:
			data = p
		case isTaskFailed(p):
			return "", depth, fmt.Errorf("more than %d records wrapped in one another", maxRecordDepth)
		default:
			return "", depth, errors.New("its requestPayload is not a chpass run-task event")
		}
	}
}

// TaskFailedResult is the response to a task-failed event.
type TaskFailedResult struct {
	TaskID string `json:"taskId,omitempty"`
	// Dropped says why a record was dropped rather than refused: a record nested deeper than
	// chpass unwraps, whose failure would only be recorded again.
	Dropped string `json:"dropped,omitempty"`
}

// TaskFailed is the kind of the platform's failure record of a run-task invocation: the
// on-failure destination of the function's asynchronous invocation is the function itself
// (Lambda EventInvokeConfig DestinationConfig.OnFailure, Function Compute asyncInvokeConfig
// destinationConfig.onFailure), which Lambda and Function Compute call with the record once the
// retries are exhausted or the event is too old. fn ends the task (batch.Engine.Abandon) with the
// invocation's context, which carries gateway.Info; it must be idempotent and leave a task that a
// live run holds alone with an error, so that the platform delivers the record again. Only the
// platform delivers it, as RunTask. A record of a failed record delivery is unwrapped to the
// run-task event at its bottom.
func TaskFailed(fn func(ctx context.Context, id string) error) Kind {
	return Kind{
		Name: kindTaskFailed, On: []string{gateway.Lambda, gateway.FC}, Match: isTaskFailed,
		Handle: func(ctx context.Context, on string, data []byte) (any, error) {
			id, depth, err := taskOfRecord(data)
			if err != nil && depth >= maxRecordDepth {
				return TaskFailedResult{Dropped: err.Error()}, nil
			}
			if err != nil {
				return nil, fmt.Errorf("malformed %s event: %w", kindTaskFailed, err)
			}
			if err := fn(gateway.With(ctx, invocationInfo(ctx, on)), id); err != nil {
				return nil, err
			}
			return TaskFailedResult{TaskID: id}, nil
		},
	}
}
