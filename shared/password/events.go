package password

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"
	"time"
)

// Kinds of change an Event reports.
const (
	KindSelfService = "self_service" // a user changed their own password, proving the old one
	KindAdminReset  = "admin_reset"  // an administrator (or a batch) reset it
	KindRotation    = "rotation"     // a service account's password was rotated
	KindIdPReset    = "idp_reset"    // a user proven by the identity provider set it without the old one
)

// Event is what is published after a password changed. It never holds a
// password, a hash, a token or a signature: who, what, when and how the caller
// was proven.
type Event struct {
	ID        string    `json:"id"`                   // unique per event, for deduplication
	Kind      string    `json:"kind"`                 // KindSelfService, KindAdminReset, KindRotation, KindIdPReset
	User      string    `json:"user"`                 // the account whose password changed
	Directory string    `json:"directory,omitempty"`  // the directory it lives in
	Cluster   string    `json:"cluster,omitempty"`    // the E-HPC cluster named, for admin resets
	Time      time.Time `json:"time"`                 // when the directory accepted the change
	RequestID string    `json:"request_id,omitempty"` // the API request that asked for it
	TaskID    string    `json:"task_id,omitempty"`    // the asynchronous task that performed it
	Caller    string    `json:"caller,omitempty"`     // who asked: the user, or the admin's access key
	Auth      string    `json:"auth,omitempty"`       // how the caller was proven: aksk, token, gateway:jwt, rpc-v1, …
	Platform  string    `json:"platform,omitempty"`   // aws, fc or local
}

// Publisher sends events somewhere: EventBridge, a webhook.
type Publisher interface {
	// Publish delivers e before ctx ends, retrying as it sees fit. It returns an
	// error when e was not delivered; the error never holds a secret.
	Publish(ctx context.Context, e Event) error
}

// Origin says, for the events of the changes a request makes, who asked and how
// they were proven. The API surfaces put it in the request's context.
type Origin struct {
	RequestID, TaskID, Caller, Auth, Platform, Cluster string
	Kind                                               string // overrides the kind the service infers, such as KindIdPReset
}

type originKey struct{}

// WithOrigin returns ctx carrying o for the events of the changes made under it.
func WithOrigin(ctx context.Context, o Origin) context.Context {
	return context.WithValue(ctx, originKey{}, o)
}

// OriginFrom returns the Origin that ctx carries.
func OriginFrom(ctx context.Context) (Origin, bool) {
	o, ok := ctx.Value(originKey{}).(Origin)
	return o, ok
}

// EventOptions configures how a Service publishes.
type EventOptions struct {
	Directory string        // the directory's name, as events report it
	Timeout   time.Duration // the most one publish may add to a change; default DefaultPublishTimeout
	// OnError is told of each event that could not be published (to log it); it
	// must not block.
	OnError func(Event, error)
	Now     func() time.Time
}

// DefaultPublishTimeout bounds the time a publish adds to a change.
const DefaultPublishTimeout = 2 * time.Second

// events publishes the service's events, bounded and never failing the change.
type events struct {
	pub      Publisher
	opts     EventOptions
	failures atomic.Int64
}

// WithEvents returns a copy of s that publishes an Event through pub after
// every successful change and reset (one per user of a batch).
func (s *Service) WithEvents(pub Publisher, opts EventOptions) *Service {
	c := *s
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultPublishTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c.events = &events{pub: pub, opts: opts}
	return &c
}

// WithDirectory returns a copy of s, events included, in front of dir.
func (s *Service) WithDirectory(dir Directory) *Service {
	c := *s
	c.dir = dir
	return &c
}

// PublishFailures returns how many events could not be published.
func (s *Service) PublishFailures() int64 {
	if s.events == nil {
		return 0
	}
	return s.events.failures.Load()
}

// Publish reports a change the service did not make itself (such as a rotation
// or a task run by another engine) as every other: bounded, never failing.
func (s *Service) Publish(ctx context.Context, kind, user string) {
	s.publish(ctx, kind, user)
}

// publish sends one event within the bounded timeout, detached from ctx's
// cancellation but not beyond its deadline: a frozen instance cannot send later.
func (s *Service) publish(ctx context.Context, kind, user string) {
	ev := s.events
	if ev == nil || ev.pub == nil {
		return
	}
	e := Event{ID: newEventID(), Kind: kind, User: user, Directory: ev.opts.Directory, Time: ev.opts.Now().UTC()}
	if o, ok := OriginFrom(ctx); ok {
		e.RequestID, e.TaskID, e.Caller, e.Auth, e.Platform, e.Cluster = o.RequestID, o.TaskID, o.Caller, o.Auth, o.Platform, o.Cluster
		if o.Kind != "" {
			e.Kind = o.Kind
		}
	}
	deadline := time.Now().Add(ev.opts.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	pctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	if err := ev.pub.Publish(pctx, e); err != nil {
		ev.failures.Add(1)
		if ev.opts.OnError != nil {
			ev.opts.OnError(e, err)
		}
	}
}

func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
