package ehpcapi

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"chpass/shared/password"
)

// Limits of a request.
const (
	MaxBodyBytes  = 256 << 10 // a POST body
	MaxParams     = 512       // parameters in all
	MaxKeyBytes   = 128       // a parameter's name
	MaxValueBytes = 1024      // a parameter's value; a password is far shorter
	MaxUsers      = 100       // User.N: N from 1 to 100
)

// safeName returns key when the API itself defines it (apiParams, and
// User.N.Name and User.N.Password for N from 1 to 100), so that a message names
// it; any other key is request content, which no message echoes.
func safeName(key string) string {
	if apiParams[key] {
		return key
	}
	if rest, ok := strings.CutPrefix(key, "User."); ok {
		num, field, _ := strings.Cut(rest, ".")
		n, err := strconv.Atoi(num)
		if err == nil && n >= 1 && n <= MaxUsers && num == strconv.Itoa(n) && (field == "Name" || field == "Password") {
			return key
		}
	}
	return "(parameter name)"
}

// apiParams are the parameters the API defines: the RPC gateway's common ones
// and those of ModifyUserPasswords, ListUsers and ListTasks.
var apiParams = map[string]bool{
	"Action": true, "Version": true, "Format": true, "RegionId": true, "AccessKeyId": true, "Signature": true,
	"SignatureMethod": true, "SignatureVersion": true, "SignatureNonce": true, "SignatureType": true, "Timestamp": true,
	"SecurityToken": true, "ClusterId": true, "Async": true, "PageNumber": true, "PageSize": true, "TaskId": true,
	"Archived": true,
}

// token returns s when it is 1 to MaxKeyBytes printable ASCII characters
// without spaces, else placeholder.
func token(s, placeholder string) string {
	if s == "" || len(s) > MaxKeyBytes {
		return placeholder
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return placeholder
		}
	}
	return s
}

// readParams returns the request's parameters: the query string's, and for a
// form POST the body's too. A name that appears twice, in either or across
// both, is InvalidParams naming it; so are a bad escape, invalid UTF-8 after
// decoding, and values beyond the limits.
func readParams(r *http.Request, w http.ResponseWriter) (map[string]string, *apiError) {
	params := make(map[string]string)
	if err := parseInto(params, r.URL.RawQuery); err != nil {
		return nil, err
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost:
		if r.Body == nil {
			break
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return nil, &apiError{Code: CodeInvalidParams, Name: "(request body)", Recommend: "The body may hold at most 256 KiB."}
			}
			return nil, &apiError{Code: CodeInvalidParams, Name: "(request body)"}
		}
		if len(body) == 0 {
			break
		}
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt != "application/x-www-form-urlencoded" {
			return nil, &apiError{Code: CodeInvalidParams, Name: "Content-Type", Recommend: "POST the parameters as application/x-www-form-urlencoded."}
		}
		if err := parseInto(params, string(body)); err != nil {
			return nil, err
		}
	default:
		return nil, errf(CodeUnsupportedHTTPMethod, "")
	}
	return params, nil
}

// parseInto adds the parameters of an application/x-www-form-urlencoded
// string to params.
func parseInto(params map[string]string, s string) *apiError {
	for s != "" {
		var kv string
		kv, s, _ = strings.Cut(s, "&")
		if kv == "" {
			continue
		}
		rk, rv, _ := strings.Cut(kv, "=")
		key, err := url.QueryUnescape(rk)
		if err != nil || !utf8.ValidString(key) {
			return errf(CodeInvalidParams, "(parameter name)")
		}
		if len(key) > MaxKeyBytes {
			return errf(CodeInvalidParams, "(parameter name)")
		}
		value, err := url.QueryUnescape(rv)
		if err != nil {
			return &apiError{Code: CodeInvalidParams, Name: safeName(key), Recommend: "The value is not properly percent-encoded."}
		}
		if !utf8.ValidString(value) {
			return &apiError{Code: CodeInvalidParams, Name: safeName(key), Recommend: "The value is not valid UTF-8."}
		}
		if len(value) > MaxValueBytes {
			return &apiError{Code: CodeInvalidParams, Name: safeName(key), Recommend: "The value is longer than 1024 bytes."}
		}
		if _, dup := params[key]; dup {
			return &apiError{Code: CodeInvalidParams, Name: safeName(key), Recommend: "The parameter is repeated; give it once."}
		}
		if len(params) >= MaxParams {
			return &apiError{Code: CodeInvalidParams, Name: "(parameters)", Recommend: "The request has more than 512 parameters."}
		}
		params[key] = value
	}
	return nil
}

// parseBool reads an optional boolean parameter: "true" or "false", any case.
func parseBool(params map[string]string, key string) (bool, *apiError) {
	v, ok := params[key]
	if !ok {
		return false, nil
	}
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, &apiError{Code: CodeInvalidParams, Name: key, Recommend: key + " must be true or false."}
}

// parseInt reads an optional integer parameter within [lo, hi], def when absent.
func parseInt(params map[string]string, key string, def, lo, hi int) (int, *apiError) {
	v, ok := params[key]
	if !ok || v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, &apiError{Code: CodeInvalidParams, Name: key, Recommend: key + " must be an integer from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi) + "."}
	}
	return n, nil
}

// parseUsers reads User.N.Name and User.N.Password: N a decimal from 1 to 100
// without leading zeros, contiguous from 1, each with both fields non-empty,
// no other field. It checks form only; the names and the policy come later.
func parseUsers(params map[string]string) ([]password.ResetRequest, *apiError) {
	var names, passwords [MaxUsers + 1]string
	var hasName, hasPassword [MaxUsers + 1]bool
	maxN := 0
	for key, value := range params {
		rest, ok := strings.CutPrefix(key, "User.")
		if !ok {
			if key == "User" {
				return nil, &apiError{Code: CodeInvalidParams, Name: "User", Recommend: "Give users as User.N.Name and User.N.Password, N from 1 to 100."}
			}
			continue
		}
		num, field, ok := strings.Cut(rest, ".")
		if !ok {
			return nil, &apiError{Code: CodeInvalidParams, Name: "User", Recommend: "Give users as User.N.Name and User.N.Password, N from 1 to 100."}
		}
		n, err := strconv.Atoi(num)
		if err != nil || num == "" || num[0] < '1' || num[0] > '9' || strings.ContainsAny(num, "+-") {
			return nil, &apiError{Code: CodeInvalidParams, Name: "User", Recommend: "N must be a number from 1 to 100."}
		}
		if n > MaxUsers {
			return nil, &apiError{Code: CodeInvalidParams, Name: "User", Recommend: "At most 100 users per request (N from 1 to 100)."}
		}
		switch field {
		case "Name":
			if value == "" {
				return nil, errf(CodeInvalidParams, key)
			}
			names[n], hasName[n] = value, true
		case "Password":
			if value == "" {
				return nil, errf(CodeInvalidParams, key)
			}
			passwords[n], hasPassword[n] = value, true
		default:
			return nil, &apiError{Code: CodeInvalidParams, Name: "User", Recommend: "A user has only Name and Password."}
		}
		maxN = max(maxN, n)
	}
	if maxN == 0 {
		return nil, errf(CodeMissingParameter, "User.1.Name")
	}
	users := make([]password.ResetRequest, maxN)
	for n := 1; n <= maxN; n++ {
		if !hasName[n] {
			return nil, &apiError{Code: CodeInvalidParams, Name: "User." + strconv.Itoa(n) + ".Name", Recommend: "Number users contiguously from 1, each with Name and Password."}
		}
		if !hasPassword[n] {
			return nil, &apiError{Code: CodeInvalidParams, Name: "User." + strconv.Itoa(n) + ".Password", Recommend: "Number users contiguously from 1, each with Name and Password."}
		}
		users[n-1] = password.ResetRequest{Name: names[n], Password: passwords[n]}
	}
	return users, nil
}
