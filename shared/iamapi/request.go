package iamapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/go-playground/validator/v10"
)

// MaxBodyBytes is the largest request body accepted (64 KiB).
const MaxBodyBytes = 64 << 10

// MaxPasswordLength is the most characters either password field may hold.
const MaxPasswordLength = 1024

// changeRequest is the body of POST /v5/caller-password. Its fields never reach a
// log, an error message or a response.
type changeRequest struct {
	OldPassword string `json:"old_password" validate:"required,max=1024"`
	NewPassword string `json:"new_password" validate:"required,max=1024"`
}

// requestValidator is the process's one validator of changeRequest, built by the
// first change request rather than by New: a start, and requests that change no
// password, never pay for it.
var requestValidator = sync.OnceValue(newRequestValidator)

// newRequestValidator returns the validator of changeRequest, reporting fields by
// their JSON names.
func newRequestValidator() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		return name
	})
	return v
}

// readBody reads at most MaxBodyBytes of r's body; a longer body is IAM.0002.
func readBody(r *http.Request) ([]byte, *apiError) {
	if r.Body == nil {
		return nil, nil
	}
	if r.ContentLength > MaxBodyBytes {
		return nil, newError(CodeBodyTooLarge, "")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		e := newError(CodeMalformedBody, "The request body could not be read.")
		e.cause = err
		return nil, e
	}
	if len(body) > MaxBodyBytes {
		return nil, newError(CodeBodyTooLarge, "")
	}
	return body, nil
}

// checkContentType accepts application/json with any parameters (charset utf-8 only).
func checkContentType(r *http.Request) *apiError {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return newError(CodeUnsupportedMedia, "The Content-Type header is missing; it must be application/json.")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return newError(CodeUnsupportedMedia, "")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return newError(CodeUnsupportedMedia, "The Content-Type charset must be utf-8.")
	}
	return nil
}

// decodeChange parses and validates body strictly: one JSON object, only the two
// known fields, each once and a string, valid UTF-8 in the raw bytes and in every
// \u escape, no control characters, no trailing data; then the validator tags.
// Messages name the field, never its value.
func decodeChange(v *validator.Validate, body []byte) (changeRequest, *apiError) {
	var req changeRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return req, syntaxError(err, len(body) == 0)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return req, newError(CodeMalformedBody, "The request body must be a JSON object.")
	}
	var raws [2]json.RawMessage
	var seen [2]bool
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return req, syntaxError(err, false)
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return req, syntaxError(err, false)
		}
		i := -1
		switch key {
		case "old_password":
			i = 0
		case "new_password":
			i = 1
		default:
			// The field's name is the caller's text: never echoed.
			return req, newError(CodeMalformedBody, "The request body has an unknown field; only old_password and new_password are allowed.")
		}
		if seen[i] {
			return req, newError(CodeMalformedBody, fmt.Sprintf("The request body repeats the field %s.", key))
		}
		seen[i], raws[i] = true, raw
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return req, syntaxError(err, false)
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, newError(CodeMalformedBody, "The request body has data after the JSON object.")
	}
	names := [2]string{"old_password", "new_password"}
	dst := [2]*string{&req.OldPassword, &req.NewPassword}
	for i, raw := range raws {
		if raw == nil || string(raw) == "null" {
			continue // the validator reports it as missing
		}
		if raw[0] != '"' {
			return req, newError(CodeInvalidParameter, fmt.Sprintf("The request parameter %s must be a string.", names[i]))
		}
		s, err := unquoteStrict(raw)
		if err != nil {
			return req, newError(CodeInvalidParameter, fmt.Sprintf("The request parameter %s must be valid UTF-8 text.", names[i]))
		}
		*dst[i] = s
	}
	if err := v.Struct(req); err != nil {
		var ves validator.ValidationErrors
		if errors.As(err, &ves) && len(ves) > 0 {
			fe := ves[0]
			if fe.Tag() == "required" {
				return req, newError(CodeMissingParameter, fmt.Sprintf("Mandatory parameters are not specified: %s is required and must not be empty.", fe.Field()))
			}
			return req, newError(CodeInvalidParameter, fmt.Sprintf("The request parameter %s must be at most %d characters.", fe.Field(), MaxPasswordLength))
		}
		return req, newError(CodeMalformedBody, "")
	}
	for i, s := range [2]string{req.OldPassword, req.NewPassword} {
		if strings.IndexFunc(s, unicode.IsControl) >= 0 {
			return req, newError(CodeInvalidParameter, fmt.Sprintf("The request parameter %s must not contain control characters.", names[i]))
		}
	}
	return req, nil
}

// syntaxError describes a JSON decoding error by offset only, never by content.
func syntaxError(err error, empty bool) *apiError {
	if empty {
		return newError(CodeMalformedBody, "The request body is empty; it must be a JSON object with old_password and new_password.")
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return newError(CodeMalformedBody, fmt.Sprintf("The request body is not valid JSON (at byte %d).", se.Offset))
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return newError(CodeMalformedBody, "The request body is not valid JSON (it ends too early).")
	}
	return newError(CodeMalformedBody, "The request body is not valid JSON.")
}

var errBadString = errors.New("invalid JSON string")

// unquoteStrict decodes a JSON string literal that json.Decoder has already found
// well formed, refusing what encoding/json would silently turn into U+FFFD:
// invalid UTF-8 bytes and \u escapes of unpaired surrogates.
func unquoteStrict(raw []byte) (string, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", errBadString
	}
	s := raw[1 : len(raw)-1]
	if !utf8.Valid(s) {
		return "", errBadString
	}
	if bytes.IndexByte(s, '\\') < 0 {
		return string(s), nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(s) {
			return "", errBadString
		}
		switch s[i+1] {
		case '"', '\\', '/':
			b.WriteByte(s[i+1])
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r1, ok := hex4(s[i+2:])
			if !ok {
				return "", errBadString
			}
			i += 6
			switch {
			case utf16.IsSurrogate(r1):
				if i+6 > len(s) || s[i] != '\\' || s[i+1] != 'u' {
					return "", errBadString
				}
				r2, ok := hex4(s[i+2:])
				if !ok {
					return "", errBadString
				}
				r := utf16.DecodeRune(r1, r2)
				if r == utf8.RuneError {
					return "", errBadString
				}
				b.WriteRune(r)
				i += 6
			default:
				b.WriteRune(r1)
			}
			continue
		default:
			return "", errBadString
		}
		i += 2
	}
	return b.String(), nil
}

func hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s[:4] {
		r <<= 4
		switch {
		case '0' <= c && c <= '9':
			r |= rune(c - '0')
		case 'a' <= c && c <= 'f':
			r |= rune(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}
