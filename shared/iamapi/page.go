package iamapi

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	pathpkg "path"
	"strings"
)

// PageConfig turns on the self-service page: one HTML page, its script and its
// style, embedded, served at Path. The page signs the person in at the OpenID
// Connect provider Issuer as the public client ClientID (authorization code with
// PKCE), shows the rules of GET /v5/password-policy ticked live, and sends the
// token it got (Token: "id_token" or "access_token") to POST /v5/caller-password.
// The API's token settings must accept that token (Tokens.Issuer with
// Tokens.Audience, or Tokens.AuthorizedParty for access tokens).
type PageConfig struct {
	Path      string // e.g. "/portal/"; "" serves no page
	Issuer    string
	ClientID  string
	Scope     string // default "openid profile"
	Token     string // "id_token" (default) or "access_token"
	UserClaim string // the claim the page shows as the user; default the API's
	// ConnectOrigins are more origins the page may call, when the provider's
	// token endpoint is not on the issuer's origin (Amazon Cognito's hosted UI domain).
	ConnectOrigins []string
}

//go:embed page/index.html page/app.js page/app.css
var pageFiles embed.FS

type page struct {
	path   string // ends in "/"
	config []byte
	csp    string
}

// newPage builds the page; oldPassword offers the expired-password form (POST
// OldPasswordPath, no sign-in) and reset the forgotten-password one (a fresh
// sign-in, then POST ResetPath) when those paths are on.
func newPage(c PageConfig, userClaim string, oldPassword, reset bool) (*page, error) {
	if c.Path == "" {
		return nil, nil
	}
	if !strings.HasPrefix(c.Path, "/") || strings.ContainsAny(c.Path, "?#*\\ ") || strings.Contains(c.Path, "..") ||
		strings.HasPrefix(c.Path, "/v5/") {
		return nil, fmt.Errorf("iamapi: Page.Path %q: an absolute path such as /portal/, outside /v5/", c.Path)
	}
	path := strings.TrimSuffix(c.Path, "/") + "/"
	if c.ClientID == "" {
		return nil, errors.New("iamapi: Page.ClientID is required")
	}
	if err := checkProviderURL(c.Issuer); err != nil {
		return nil, fmt.Errorf("iamapi: Page.Issuer: %w", err)
	}
	switch c.Token {
	case "":
		c.Token = "id_token"
	case "id_token", "access_token":
	default:
		return nil, fmt.Errorf("iamapi: Page.Token %q: id_token or access_token", c.Token)
	}
	if c.Scope == "" {
		c.Scope = "openid profile"
	}
	if c.UserClaim == "" {
		c.UserClaim = userClaim
	}
	connect := []string{"'self'", origin(c.Issuer)}
	for i, o := range c.ConnectOrigins {
		if err := checkProviderURL(o); err != nil {
			return nil, fmt.Errorf("iamapi: Page.ConnectOrigins[%d]: %w", i, err)
		}
		connect = append(connect, origin(o))
	}
	// The API is reached relative to the page, so that a stage or a prefix in
	// front (API Gateway, FC) needs no setting: /portal/ -> ../ -> /v5/...
	depth := strings.Count(strings.Trim(path, "/"), "/") + 1
	cfg, _ := json.Marshal(map[string]any{
		"issuer": c.Issuer, "client_id": c.ClientID, "scope": c.Scope, "token": c.Token,
		"user_claim": c.UserClaim, "api": strings.Repeat("../", depth), "old_password": oldPassword, "reset": reset,
	})
	csp := "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src " + strings.Join(connect, " ") +
		"; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
	return &page{path: path, config: cfg, csp: csp}, nil
}

func origin(raw string) string {
	u, _ := url.Parse(raw)
	return u.Scheme + "://" + u.Host
}

// servePage serves the page's files; it reports whether r was for the page.
func (h *Handler) servePage(w http.ResponseWriter, r *http.Request, x *exchange) bool {
	p := h.page
	if p == nil {
		return false
	}
	var name, ctype string
	switch r.URL.Path {
	case p.path, strings.TrimSuffix(p.path, "/"):
		if r.URL.Path != p.path {
			// Relative links need the trailing slash. The redirect is relative
			// too, so that a stage or prefix in front of the path is kept.
			w.Header().Set("Location", pathpkg.Base(p.path)+"/")
			w.WriteHeader(http.StatusMovedPermanently)
			x.route, x.code, x.status = p.path, "Redirect", http.StatusMovedPermanently
			return true
		}
		name, ctype = "page/index.html", "text/html; charset=utf-8"
	case p.path + "app.js":
		name, ctype = "page/app.js", "text/javascript; charset=utf-8"
	case p.path + "app.css":
		name, ctype = "page/app.css", "text/css; charset=utf-8"
	case p.path + "config.json":
		ctype = "application/json"
	default:
		return false
	}
	x.route = p.path
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.writeError(w, x, newError(CodeMethodNotAllowed, "The method is not allowed on this page; use GET."))
		return true
	}
	body := p.config
	if name != "" {
		body, _ = pageFiles.ReadFile(name)
	}
	hd := w.Header()
	hd.Set("Content-Type", ctype)
	hd.Set("Content-Security-Policy", p.csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
	x.code, x.status = "OK", http.StatusOK
	return true
}
