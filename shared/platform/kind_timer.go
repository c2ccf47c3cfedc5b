package platform

import (
	"context"
	"errors"
	"fmt"

	"github.com/aliyun/fc-runtime-go-sdk/events"

	"chpass/shared/gateway"
)

// kindTimer names the event a Function Compute timer trigger sends.
const kindTimer = "FC timer"

func init() { registerDetector(Detector{Name: kindTimer, Match: isTimer}) }

// isTimer reports whether data is a Function Compute timer event: {"triggerTime", "triggerName", "payload"}.
func isTimer(data []byte) bool { return hasFields(data, "triggerTime", "triggerName") }

// FCTimer is the kind of a function that a Function Compute timer trigger runs
// (https://www.alibabacloud.com/help/en/functioncompute/fc-3-0/user-guide/timer-triggers):
// the event is {"triggerTime", "triggerName", "payload"}, payload the trigger's configured
// string. fn runs with the invocation's context, which carries gateway.Info; its error is the
// invocation's failure. The response is null.
func FCTimer(fn func(ctx context.Context, e events.TimerEvent) error) Kind {
	return Kind{
		Name: kindTimer, On: []string{gateway.FC}, Match: isTimer,
		Handle: func(ctx context.Context, on string, data []byte) (any, error) {
			var e events.TimerEvent
			if err := decodeEvent(data, &e); err != nil {
				return nil, fmt.Errorf("malformed %s event: %w", kindTimer, err)
			}
			if e.TriggerTime == nil || e.TriggerName == nil {
				return nil, errors.New("malformed " + kindTimer + " event: triggerTime and triggerName are required")
			}
			return nil, fn(gateway.With(ctx, invocationInfo(ctx, on)), e)
		},
	}
}
