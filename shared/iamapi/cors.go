package iamapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CORSConfig lets browsers on other origins call the API: a portal's page calls
// POST /v5/caller-password and GET /v5/password-policy directly. Empty
// AllowedOrigins adds no CORS header at all.
type CORSConfig struct {
	// AllowedOrigins are exact origins ("https://portal.example.com"), or the one
	// entry "*" for any origin, which may not go with AllowCredentials.
	AllowedOrigins []string
	// AllowCredentials lets the browser send cookies or TLS client certificates
	// (Access-Control-Allow-Credentials: true).
	AllowCredentials bool
	// MaxAge is how long a browser may cache a preflight answer; default 10 minutes.
	MaxAge time.Duration
}

// corsHeaders are the request headers a caller may send.
const corsHeaders = "Authorization, Content-Type, X-Auth-Token, X-Sdk-Date, X-Domain-Id, X-Project-Id"

type cors struct {
	any     bool
	origins []string
	creds   bool
	maxAge  string
}

// newCORS checks c: origins are scheme://host[:port] with nothing else, and "*"
// stands alone and never with credentials.
func newCORS(c CORSConfig) (*cors, error) {
	if len(c.AllowedOrigins) == 0 {
		return nil, nil
	}
	out := &cors{creds: c.AllowCredentials, maxAge: "600"}
	if c.MaxAge > 0 {
		out.maxAge = strconv.Itoa(int(c.MaxAge / time.Second))
	}
	for i, o := range c.AllowedOrigins {
		if o == "*" {
			if len(c.AllowedOrigins) > 1 {
				return nil, errors.New("iamapi: CORS.AllowedOrigins: \"*\" must be the only entry")
			}
			if c.AllowCredentials {
				return nil, errors.New("iamapi: CORS: \"*\" may not be allowed with credentials; name the origins")
			}
			out.any = true
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, fmt.Errorf("iamapi: CORS.AllowedOrigins[%d] %q: an origin is scheme://host[:port], with no path", i, o)
		}
		out.origins = append(out.origins, strings.ToLower(o))
	}
	return out, nil
}

// apply adds the CORS headers to the answer to r, and answers a preflight
// itself. It reports whether r was a preflight (then nothing else is to be done).
func (c *cors) apply(w http.ResponseWriter, r *http.Request, allow string) bool {
	if c == nil {
		return false
	}
	origin := r.Header.Get("Origin")
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	w.Header().Add("Vary", "Origin")
	if origin == "" || !(c.any || slices.Contains(c.origins, strings.ToLower(origin))) {
		if preflight {
			// Not an allowed origin: no CORS header, so the browser refuses.
			w.WriteHeader(http.StatusNoContent)
		}
		return preflight
	}
	h := w.Header()
	if c.any {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
	}
	if c.creds {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if !preflight {
		h.Set("Access-Control-Expose-Headers", "X-Request-Id")
		return false
	}
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	h.Set("Access-Control-Allow-Methods", allow)
	h.Set("Access-Control-Allow-Headers", corsHeaders)
	h.Set("Access-Control-Max-Age", c.maxAge)
	w.WriteHeader(http.StatusNoContent)
	return true
}

// preflight adds CORS headers for the API's routes and answers a preflight. It
// reports whether the request is done.
func (h *Handler) preflight(w http.ResponseWriter, r *http.Request, x *exchange) bool {
	var allow string
	switch strings.TrimSuffix(r.URL.Path, "/") {
	case ChangePath, ResetPath, OldPasswordPath:
		allow = http.MethodPost
	case PolicyPath:
		allow = http.MethodGet
	default:
		return false
	}
	if !h.cors.apply(w, r, allow) {
		return false
	}
	x.route, x.code, x.status = strings.TrimSuffix(r.URL.Path, "/"), "Preflight", http.StatusNoContent
	return true
}
