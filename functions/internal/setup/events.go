package setup

import (
	"context"
	"errors"
	"fmt"

	"chpass/shared/config"
	"chpass/shared/password"
	"chpass/shared/webhook"
)

// eventBridgePublisher builds the EventBridge publisher; only AWS builds link
// the SDK (events_aws.go), so it stays nil under the noaws tag.
var eventBridgePublisher func(config.EventBridgeEvents) (password.Publisher, error)

// publisher returns the configured change event publisher, or nil.
func (a *App) publisher() (password.Publisher, error) {
	ec := a.Config.Events
	var pubs fanOut
	if ec.EventBridge != nil {
		if eventBridgePublisher == nil {
			return nil, errors.New("events.eventbridge: this build has no AWS SDK (built with noaws); use events.webhook")
		}
		p, err := eventBridgePublisher(*ec.EventBridge)
		if err != nil {
			return nil, fmt.Errorf("events.eventbridge: %w", err)
		}
		pubs = append(pubs, p)
	}
	if w := ec.Webhook; w != nil {
		p, err := webhook.New(webhook.Options{URL: w.URL, Secret: []byte(w.Secret.Reveal()), MaxAttempts: w.MaxAttempts})
		if err != nil {
			return nil, fmt.Errorf("events.webhook: %w", err)
		}
		pubs = append(pubs, p)
	}
	switch len(pubs) {
	case 0:
		return nil, nil
	case 1:
		return pubs[0], nil
	}
	return pubs, nil
}

// WithEvents returns svc publishing the configured events for the directory
// called dir, logging each failed publish.
func (a *App) WithEvents(svc *password.Service, dir string) (*password.Service, error) {
	pub, err := a.publisher()
	if err != nil || pub == nil {
		return svc, err
	}
	log := a.Logger
	return svc.WithEvents(pub, password.EventOptions{
		Directory: dir,
		Timeout:   a.Config.Events.Timeout,
		OnError: func(e password.Event, err error) {
			// The adapters' errors name hosts, buses and codes, never a secret.
			log.Error().Str("event", "publish_failed").Str("event_id", e.ID).Str("kind", e.Kind).
				Str("user", e.User).Str("request_id", e.RequestID).Str("error", err.Error()).Msg("change event not published")
		},
	}), nil
}

// fanOut publishes to every publisher, each within the same deadline, and fails
// when any fails.
type fanOut []password.Publisher

func (f fanOut) Publish(ctx context.Context, e password.Event) error {
	errs := make([]error, len(f))
	done := make(chan struct{}, len(f))
	for i, p := range f {
		go func() { errs[i] = p.Publish(ctx, e); done <- struct{}{} }()
	}
	for range f {
		<-done
	}
	return errors.Join(errs...)
}
