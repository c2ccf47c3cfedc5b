package ehpcapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"chpass/shared/guard"
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

// Guard is the state that signed requests share across instances: the
// SignatureNonces already used and the count of bad signatures per access key
// and source address, which locks a key. guard.Memory keeps it for one process
// (a restart forgets it; each instance has its own); package redis for every
// instance. See guard.Store for the contract.
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
