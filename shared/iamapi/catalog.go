package iamapi

import (
	"net/http"

	"chpass/shared/password"
)

// Error codes of the IAM v5 surface. Every error response carries exactly one of
// them in error_code; catalog gives each its HTTP status and default message.
//
// Codes keep the vendor's own code where the meaning matches: APIG.* for what the
// vendor's API gateway answers (routing, authentication, throttling), and the IAM
// v3 numbers 1100, 1103, 1108 and 1118 for the password errors the vendor already
// names. The vendor publishes no v5 list; the other IAM.* codes are ours.
//
//	code       status  meaning
//	APIG.0101  404     no such API (unknown path)
//	APIG.0301  401     authentication failed: no, bad or expired signature, unknown
//	                   access key, bad or expired token, temporary keys, no user
//	APIG.0308  429     throttled: the access key is locked for 5 minutes after 5
//	                   consecutive bad signatures
//	IAM.0001   400     the body is not one JSON object of known fields, or has
//	                   trailing data
//	IAM.0002   400     the body is larger than 64 KiB
//	IAM.0003   415     the Content-Type is not application/json
//	IAM.0004   405     the method is not allowed on this path
//	IAM.0007   400     a field is invalid: not a string, longer than 1024
//	                   characters, invalid UTF-8, control characters
//	IAM.1100   400     a mandatory field is missing or empty
//	IAM.1103   400     the old password is wrong (or the user is unknown)
//	IAM.1108   400     the new password equals the old one; violations lists it
//	IAM.1118   400     the new password breaks the policy; violations lists every
//	                   broken rule
//	IAM.0010   403     the account is locked
//	IAM.0011   403     the user may not change the password
//	IAM.0503   503     the directory is unavailable or timed out; retry later
//	IAM.0504   503     the identity provider (OpenID Connect discovery or its
//	                   key set) cannot be reached; retry later
//	IAM.0500   500     internal error
//
// A wrong old password answers 400, as the vendor's v3 code 1103 does: the caller
// is authenticated and the request content is wrong; 403 stays for refusals that
// no retyping can fix (locked, not allowed), which carry encoded_authorization_message.
const (
	CodeNotFound         = "APIG.0101"
	CodeUnauthenticated  = "APIG.0301"
	CodeThrottled        = "APIG.0308"
	CodeMalformedBody    = "IAM.0001"
	CodeBodyTooLarge     = "IAM.0002"
	CodeUnsupportedMedia = "IAM.0003"
	CodeMethodNotAllowed = "IAM.0004"
	CodeInvalidParameter = "IAM.0007"
	CodeMissingParameter = "IAM.1100"
	CodeWrongPassword    = "IAM.1103"
	CodeSameAsOld        = "IAM.1108"
	CodeWeakPassword     = "IAM.1118"
	CodeAccountLocked    = "IAM.0010"
	CodeChangeForbidden  = "IAM.0011"
	CodeUnavailable      = "IAM.0503"
	CodeInternal         = "IAM.0500"
	// CodeProviderUnavailable: the OpenID Connect provider cannot be reached.
	CodeProviderUnavailable = "IAM.0504"
)

// Entry is one row of the catalog.
type Entry struct {
	Status  int
	Message string // the default error_msg
}

// catalog is the one table of error codes: code → HTTP status and default message.
var catalog = map[string]Entry{
	CodeNotFound:            {http.StatusNotFound, "The API does not exist or has not been published in the environment."},
	CodeUnauthenticated:     {http.StatusUnauthorized, "Incorrect IAM authentication information: the request carries no credentials."},
	CodeThrottled:           {http.StatusTooManyRequests, "The throttling threshold has been reached: the access key is locked after repeated failed signatures; retry in 5 minutes."},
	CodeMalformedBody:       {http.StatusBadRequest, "The request body must be one JSON object with old_password and new_password."},
	CodeBodyTooLarge:        {http.StatusBadRequest, "The request body is larger than 65536 bytes."},
	CodeUnsupportedMedia:    {http.StatusUnsupportedMediaType, "The Content-Type must be application/json."},
	CodeMethodNotAllowed:    {http.StatusMethodNotAllowed, "The method is not allowed on this API."},
	CodeInvalidParameter:    {http.StatusBadRequest, "A request parameter is invalid."},
	CodeMissingParameter:    {http.StatusBadRequest, "Mandatory parameters are not specified."},
	CodeWrongPassword:       {http.StatusBadRequest, "Incorrect password: the old password is wrong."},
	CodeSameAsOld:           {http.StatusBadRequest, "The new password must be different from the old password."},
	CodeWeakPassword:        {http.StatusBadRequest, "The new password does not meet the password policy."},
	CodeAccountLocked:       {http.StatusForbidden, "The account is locked after repeated failures; try again later or ask an administrator."},
	CodeChangeForbidden:     {http.StatusForbidden, "Users may not change their own passwords."},
	CodeUnavailable:         {http.StatusServiceUnavailable, "The directory is unavailable; try again later."},
	CodeInternal:            {http.StatusInternalServerError, "Internal error."},
	CodeProviderUnavailable: {http.StatusServiceUnavailable, "The identity provider cannot be reached to verify the token; try again later."},
}

// Catalog returns a copy of the error catalog, code → status and default message.
func Catalog() map[string]Entry {
	c := make(map[string]Entry, len(catalog))
	for k, v := range catalog {
		c[k] = v
	}
	return c
}

// apiError is an error as the surface answers it. msg is caller-safe.
type apiError struct {
	code       string
	msg        string
	violations []password.Violation
	cause      error // for logs only; never sent
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func (e *apiError) status() int {
	if c, ok := catalog[e.code]; ok {
		return c.Status
	}
	return http.StatusInternalServerError
}

// newError returns the catalog error code with msg, or its default message when msg is "".
func newError(code, msg string) *apiError {
	if msg == "" {
		msg = catalog[code].Message
	}
	return &apiError{code: code, msg: msg}
}

// authError returns APIG.0301 with the vendor's message prefix and reason.
func authError(reason string) *apiError {
	return &apiError{code: CodeUnauthenticated, msg: "Incorrect IAM authentication information: " + reason}
}

// fromDomain translates an error of password.Service into the catalog. It is the
// one place where domain codes meet this surface's codes.
func fromDomain(err error) *apiError {
	if err == nil {
		return nil
	}
	var e *apiError
	switch password.ErrorCode(err) {
	case password.EPOLICY:
		vs := password.ErrorViolations(err)
		code := CodeWeakPassword
		if len(vs) == 1 && vs[0].Rule == password.RuleSameAsOld {
			code = CodeSameAsOld
		}
		e = newError(code, password.ErrorMessage(err))
		e.violations = vs
	case password.EUNAUTHORIZED, password.ENOTFOUND:
		// An unknown user and a wrong old password read the same.
		e = newError(CodeWrongPassword, "")
	case password.ELOCKED:
		e = newError(CodeAccountLocked, "")
	case password.EFORBIDDEN:
		e = newError(CodeChangeForbidden, password.ErrorMessage(err))
	case password.EINVALID:
		e = newError(CodeInvalidParameter, password.ErrorMessage(err))
	case password.EUNAVAILABLE, password.ECANCELED:
		e = newError(CodeUnavailable, "")
	default:
		e = newError(CodeInternal, "")
	}
	e.cause = err
	return e
}
