package ehpcapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"sort"
	"strings"
	"sync"
	"time"
)

// TimestampWindow is how far a request's Timestamp may be from the server's
// clock, either way; a SignatureNonce is remembered for as long.
const TimestampWindow = 15 * time.Minute

// percentEncode encodes s as RFC 3986 says and signature v1 requires:
// everything but A-Z a-z 0-9 - _ . ~ as %XX with upper-case hex (so a space is
// %20 and '*' is %2A).
func percentEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + len(s)/2)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// StringToSign returns the signature v1 string to sign of a request with the
// given method and decoded parameters: METHOD&%2F&encode(k1=v1&k2=v2...), the
// parameters sorted by name, Signature left out. It holds the request's
// passwords: never log or return it.
func StringToSign(method string, params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var q strings.Builder
	for i, k := range keys {
		if i > 0 {
			q.WriteByte('&')
		}
		q.WriteString(percentEncode(k))
		q.WriteByte('=')
		q.WriteString(percentEncode(params[k]))
	}
	return method + "&%2F&" + percentEncode(q.String())
}

// Sign returns the signature v1 of a request: base64(HMAC-SHA1(secret+"&",
// StringToSign(method, params))).
func Sign(method string, params map[string]string, secret string) string {
	m := hmac.New(sha1.New, []byte(secret+"&"))
	m.Write([]byte(StringToSign(method, params)))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// NonceStore remembers the SignatureNonces of accepted requests.
type NonceStore interface {
	// UseNonce records key until expires and reports whether it was unused.
	// It returns an error when it can record no more (a full store) or fails.
	UseNonce(ctx context.Context, key string, expires time.Time) (fresh bool, err error)
}

// MemoryNonces is the default NonceStore: in memory, safe for concurrent use,
// holding at most Max unexpired nonces. It guards one process only: a
// deployment with several instances should give Options.Nonces a shared store.
type MemoryNonces struct {
	Max int // default 100,000
	Now func() time.Time

	mu        sync.Mutex
	seen      map[string]time.Time
	nextSweep time.Time
}

var _ NonceStore = (*MemoryNonces)(nil)

// errNoncesFull reports a MemoryNonces full of unexpired nonces.
var errNoncesFull = &apiError{Code: CodeThrottling}

// UseNonce implements NonceStore.
func (m *MemoryNonces) UseNonce(_ context.Context, key string, expires time.Time) (bool, error) {
	now := time.Now()
	if m.Now != nil {
		now = m.Now()
	}
	max := m.Max
	if max <= 0 {
		max = 100_000
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = make(map[string]time.Time)
	}
	if now.After(m.nextSweep) || len(m.seen) >= max {
		for k, exp := range m.seen {
			if !exp.After(now) {
				delete(m.seen, k)
			}
		}
		m.nextSweep = now.Add(time.Minute)
	}
	if exp, ok := m.seen[key]; ok && exp.After(now) {
		return false, nil
	}
	if len(m.seen) >= max {
		return false, errNoncesFull
	}
	m.seen[key] = expires
	return true, nil
}

// Len reports how many nonces are held, for tests.
func (m *MemoryNonces) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.seen)
}
