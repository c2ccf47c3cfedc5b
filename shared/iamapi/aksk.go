package iamapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"chpass/shared/guard"
)

// AK/SK signature constants, as the Huawei Cloud SDKs sign (SDK-HMAC-SHA256).
const (
	SignAlgorithm   = "SDK-HMAC-SHA256"
	DateHeader      = "X-Sdk-Date"
	DateFormat      = "20060102T150405Z"
	MaxClockSkew    = 15 * time.Minute
	LockoutFailures = 5               // consecutive bad signatures that lock an access key
	LockoutDuration = 5 * time.Minute // how long it stays locked
)

// signedRequest is what the Authorization header of an AK/SK request says.
type signedRequest struct {
	accessKey     string
	signedHeaders []string
	signature     string
}

// parseSignature parses "SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex".
func parseSignature(h string) (signedRequest, string) {
	var s signedRequest
	rest, ok := strings.CutPrefix(h, SignAlgorithm+" ")
	if !ok {
		return s, "the Authorization header is not SDK-HMAC-SHA256"
	}
	var hasSH bool
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return s, "the Authorization header is malformed"
		}
		switch k {
		case "Access":
			s.accessKey = v
		case "SignedHeaders":
			hasSH = true
			if v != "" {
				s.signedHeaders = strings.Split(v, ";")
			}
		case "Signature":
			s.signature = v
		default:
			return s, "the Authorization header is malformed"
		}
	}
	if s.accessKey == "" || !hasSH || s.signature == "" {
		return s, "the Authorization header lacks Access, SignedHeaders or Signature"
	}
	for i, h := range s.signedHeaders {
		if h == "" || h != strings.ToLower(h) || (i > 0 && s.signedHeaders[i-1] >= h) {
			return s, "SignedHeaders must be lower-case, sorted and unique"
		}
	}
	if !slices.Contains(s.signedHeaders, strings.ToLower(DateHeader)) {
		return s, "x-sdk-date must be a signed header"
	}
	return s, ""
}

// stringToSign returns the SDK-HMAC-SHA256 string to sign for r with body, over
// the headers named in signed (lower-case, sorted), and the request's date header.
func stringToSign(r *http.Request, body []byte, signed []string, date string) string {
	var b strings.Builder
	b.Grow(512)
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(canonicalURI(r.URL.Path))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.Query()))
	b.WriteByte('\n')
	for _, name := range signed {
		var values []string
		if name == "host" {
			values = []string{r.Host}
		} else {
			values = slices.Clone(r.Header.Values(name))
			slices.Sort(values)
		}
		for _, v := range values {
			b.WriteString(name)
			b.WriteByte(':')
			b.WriteString(strings.TrimSpace(v))
			b.WriteByte('\n')
		}
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signed, ";"))
	b.WriteByte('\n')
	bodyHash := sha256.Sum256(body)
	b.WriteString(hex.EncodeToString(bodyHash[:]))
	crHash := sha256.Sum256([]byte(b.String()))
	return SignAlgorithm + "\n" + date + "\n" + hex.EncodeToString(crHash[:])
}

// sign returns hex(HMAC-SHA256(secret, stringToSign)).
func sign(secret, sts string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(sts))
	return hex.EncodeToString(m.Sum(nil))
}

// canonicalURI escapes each segment of path and ends it with "/", as the SDK
// does: /v5/caller-password and /v5/caller-password/ sign alike.
func canonicalURI(path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = escape(s)
	}
	p := strings.Join(segs, "/")
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// canonicalQuery sorts the query by key, then values, escaping both.
func canonicalQuery(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		vs := slices.Clone(q[k])
		slices.Sort(vs)
		for _, v := range vs {
			parts = append(parts, escape(k)+"="+escape(v))
		}
	}
	return strings.Join(parts, "&")
}

// escape percent-encodes every byte but A-Z a-z 0-9 - _ . ~, upper-case hex.
func escape(s string) string {
	const hexdig = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(s); i++ {
		if shouldEscape(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	t := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if shouldEscape(c) {
			t = append(t, '%', hexdig[c>>4], hexdig[c&15])
		} else {
			t = append(t, c)
		}
	}
	return string(t)
}

func shouldEscape(c byte) bool {
	return !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~')
}

// Guard is the state that signed requests share across instances: the
// signatures already used (each is a nonce) and the count of bad signatures
// per access key and source address. guard.Memory keeps it for one process;
// package redis for every instance. See guard.Store for the contract.
type Guard interface {
	Admit(ctx context.Context, k guard.Key, nonce string, ttl time.Duration) (guard.Verdict, error)
	Fail(ctx context.Context, k guard.Key) (guard.Verdict, error)
}

// sourceOf returns the caller's address as the platform reported it (the
// gateway's sourceIp, or the TCP peer locally), or "".
func sourceOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	return host
}

// guardError translates a failure of the shared state: nothing was changed.
func guardError(err error) *apiError {
	if errors.Is(err, guard.ErrFull) {
		e := newError(CodeThrottled, "The throttling threshold has been reached: too many signed requests within 15 minutes; retry later.")
		e.cause = err
		return e
	}
	e := newError(CodeUnavailable, "The service's shared state is unavailable; nothing was changed; try again later.")
	e.cause = err
	return e
}

// verifySignature authenticates r as an AK/SK request and returns the key's user.
func (h *Handler) verifySignature(r *http.Request, body []byte, authz string) (string, *apiError) {
	sr, reason := parseSignature(authz)
	if reason != "" {
		return "", authError(reason)
	}
	if r.Header.Get("X-Security-Token") != "" {
		return "", authError("temporary security credentials (X-Security-Token) are not supported; use a permanent access key")
	}
	key, ok := h.keys[sr.accessKey]
	if !ok {
		return "", authError("the access key does not exist")
	}
	now := h.now()
	date := r.Header.Get(DateHeader)
	t, err := time.Parse(DateFormat, date)
	if err != nil {
		return "", authError("the X-Sdk-Date header is missing or not in the form 20060102T150405Z")
	}
	ctx := r.Context()
	gk := guard.Key{Scope: "iam:" + key.ID, Source: sourceOf(r)}
	want := sign(key.Secret, stringToSign(r, body, sr.signedHeaders, date))
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(sr.signature))) != 1 {
		v, err := h.guard.Fail(ctx, gk)
		switch {
		case err != nil:
			return "", guardError(err)
		case v == guard.Locked:
			return "", newError(CodeThrottled, "")
		case v == guard.JustLocked:
			// The failure that reaches the limit still answers 401; the lock
			// shows from the next request on.
			h.withFunction(h.log.Warn()).Str("event", "access_key_locked").Str("access_key", key.ID).
				Str("source", gk.Source).Str("user", key.User).Dur("for", LockoutDuration).
				Msg("access key locked after repeated bad signatures")
		}
		return "", authError("verify aksk signature fail")
	}
	d := now.Sub(t)
	if d > MaxClockSkew || d < -MaxClockSkew {
		// A correctly signed but stale request proves only that someone once
		// held it: it leaves the count alone, or one captured request would
		// keep the key from ever locking.
		return "", authError("the request date is more than 15 minutes from the server's time")
	}
	// The signature is the request's nonce: it is refused again until its date
	// leaves the window. Admitting it clears the key's count: only a request
	// that passed every check does.
	v, err := h.guard.Admit(ctx, gk, "iam:"+key.ID+":"+want, MaxClockSkew-d+time.Second)
	switch {
	case err != nil:
		return "", guardError(err)
	case v == guard.Locked:
		return "", newError(CodeThrottled, "")
	case v == guard.Replayed:
		return "", authError("the request was already used (a replay)")
	}
	return key.User, nil
}
