package main

import (
	"context"
	"encoding/json"
	"time"

	"github.com/rs/zerolog"

	"chpass/functions/internal/setup"
	"chpass/functions/internal/setup/rotate"
	"chpass/shared/platform"
	"chpass/shared/rotation"
)

// wait sleeps for d or until ctx ends, reporting whether the time came; a variable so that tests
// need not wait for the minute.
var wait = func(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// now is the scheduler's clock; a variable for tests.
var now = time.Now

// startSchedule runs rotation.schedule, when configured: at each minute the cron expression
// names, the rotation function gets a timer event for that minute, as a Function Compute timer
// trigger would send it, and rotates rotation.secrets on the embedded backend.
func startSchedule(ctx context.Context, app *setup.App) error {
	spec := app.Config.Rotation.Schedule
	if spec == "" {
		return nil
	}
	c, err := rotation.ParseCron(spec)
	if err != nil {
		return err
	}
	fn, err := rotate.Build(ctx, app)
	if err != nil {
		return err
	}
	go runSchedule(ctx, c, fn, app.Logger)
	return nil
}

func runSchedule(ctx context.Context, c rotation.Cron, fn platform.Function, log zerolog.Logger) {
	for {
		at := c.Next(now())
		if !wait(ctx, at.Sub(now())) {
			return
		}
		ev, _ := json.Marshal(map[string]string{"triggerTime": at.Format(time.RFC3339), "triggerName": "local-schedule", "payload": ""})
		if _, err := platform.InvokeKinds(ctx, ev, fn.Kinds...); err != nil {
			log.Error().Err(err).Str("event", "rotation_schedule").Msg("a scheduled rotation failed; the next slot retries")
		}
	}
}
