// Package webhook publishes password change events to an HTTPS endpoint, each
// body signed with HMAC-SHA256 over the timestamp and the body. Alibaba Cloud
// EventBridge's HTTPS event source, a SIEM's collector or a chat bot can
// receive them.
//
// Each request carries:
//
//	Content-Type: application/json
//	X-Chpass-Event-Id: <the event's id>
//	X-Chpass-Timestamp: <Unix seconds>
//	X-Chpass-Signature: v1=<hex of HMAC-SHA256(secret, timestamp + "." + body)>
//
// A receiver recomputes the signature (Verify), compares in constant time and
// refuses timestamps too far from its clock, so that a captured request cannot
// be replayed later.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"chpass/shared/password"
)

// Headers of a delivery.
const (
	HeaderTimestamp = "X-Chpass-Timestamp"
	HeaderSignature = "X-Chpass-Signature"
	HeaderEventID   = "X-Chpass-Event-Id"
)

// DefaultMaxAttempts is how many times one event is sent at most.
const DefaultMaxAttempts = 3

// Options configures a Publisher.
type Options struct {
	URL         string       // https, or http on a loopback host
	Secret      []byte       // the HMAC key, at least 32 bytes
	MaxAttempts int          // default DefaultMaxAttempts
	Client      *http.Client // default a client with a 2 s timeout per attempt
	Now         func() time.Time
	// Backoff is the wait before the second attempt, doubled after each; default 200 ms.
	Backoff time.Duration
}

// Publisher posts events to one URL. It is safe for concurrent use.
type Publisher struct {
	url     string
	host    string
	secret  []byte
	max     int
	client  *http.Client
	now     func() time.Time
	backoff time.Duration
}

var _ password.Publisher = (*Publisher)(nil)

// New checks opts and returns the Publisher.
func New(opts Options) (*Publisher, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || u.Host == "" {
		return nil, errors.New("webhook: url: not an absolute URL")
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	loopback := host == "localhost" || (ip != nil && ip.IsLoopback())
	if u.Scheme != "https" && !(u.Scheme == "http" && loopback) {
		return nil, errors.New("webhook: url: must be https (plain http only on a loopback host)")
	}
	if len(opts.Secret) < 32 {
		return nil, errors.New("webhook: secret: at least 32 bytes are required")
	}
	p := &Publisher{url: opts.URL, host: u.Host, secret: opts.Secret, max: opts.MaxAttempts,
		client: opts.Client, now: opts.Now, backoff: opts.Backoff}
	if p.max <= 0 {
		p.max = DefaultMaxAttempts
	}
	if p.client == nil {
		p.client = &http.Client{Timeout: 2 * time.Second}
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.backoff <= 0 {
		p.backoff = 200 * time.Millisecond
	}
	return p, nil
}

// Sign returns the X-Chpass-Signature value of body sent at timestamp.
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a delivery as a receiver should: the signature over timestamp
// and body, compared in constant time, and the timestamp within tolerance of now.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return errors.New("webhook: bad timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return errors.New("webhook: the timestamp is outside the tolerance")
	}
	if !hmac.Equal([]byte(Sign(secret, timestamp, body)), []byte(signature)) {
		return errors.New("webhook: the signature does not match")
	}
	return nil
}

// Publish implements password.Publisher: it posts e, retrying network errors,
// 429 and 5xx answers with a doubling backoff, at most MaxAttempts times and
// never past ctx's deadline. Errors name the host and the status, never the
// URL's path or query (which may hold a token) nor the secret.
func (p *Publisher) Publish(ctx context.Context, e password.Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	wait := p.backoff
	var last error
	for attempt := 1; attempt <= p.max; attempt++ {
		retry, err := p.send(ctx, e.ID, body)
		if err == nil {
			return nil
		}
		last = err
		if !retry || attempt == p.max {
			break
		}
		if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
			break // no time left for another attempt
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("webhook %s: %w (after %d attempts)", p.host, last, attempt)
		case <-time.After(wait):
		}
		wait *= 2
	}
	return fmt.Errorf("webhook %s: %w", p.host, last)
}

// send makes one attempt and says whether a failure may be retried.
func (p *Publisher) send(ctx context.Context, id string, body []byte) (bool, error) {
	ts := strconv.FormatInt(p.now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return false, errors.New("cannot build the request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "chpass-webhook/1")
	req.Header.Set(HeaderEventID, id)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(p.secret, ts, body))
	resp, err := p.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL
		}
		return ctx.Err() == nil, fmt.Errorf("post: %s", strings.ReplaceAll(err.Error(), p.url, p.host))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return true, fmt.Errorf("answered %s", resp.Status)
	}
	return false, fmt.Errorf("answered %s", resp.Status)
}
