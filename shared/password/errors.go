// Package password is the domain of chpass: the password policy, the Directory port
// that every directory adapter implements, the domain errors, and the change and
// reset services that the API surfaces call.
package password

import (
	"errors"
	"fmt"
)

// Error codes. Every error that leaves this package or a Directory carries one of
// them; each API surface translates them into its own catalog at its edge.
const (
	EINVALID      = "invalid"      // the request itself is malformed
	EPOLICY       = "policy"       // the new password breaks the policy; Violations name the rules
	EUNAUTHORIZED = "unauthorized" // wrong old password, or no such user on a self-service path
	ELOCKED       = "locked"       // the account is locked after repeated failures
	ENOTFOUND     = "not_found"    // no such user, on an administrative path
	EFORBIDDEN    = "forbidden"    // the directory does not allow this change (self-change disabled, old password required)
	EUNAVAILABLE  = "unavailable"  // the directory cannot be reached or timed out; worth retrying
	ECANCELED     = "canceled"     // the caller's deadline passed before the change was tried
	EINTERNAL     = "internal"     // anything else; the caller only learns that something failed
)

// Rule names, reported in Violation.Rule. Where a rule is a field of the IAM v5
// password policy it carries that field's name, so a portal can match a refusal
// to the rule it showed the user.
const (
	RuleMinLength        = "minimum_password_length"
	RuleMaxLength        = "maximum_password_length"
	RuleCharCombination  = "password_char_combination"
	RuleNotUsername      = "password_not_username_or_invert"
	RuleConsecutiveChars = "maximum_consecutive_identical_chars"
	RuleReusePrevention  = "password_reuse_prevention"
	RuleMinAge           = "minimum_password_age"
	RuleCommonPassword   = "common_password"
	RuleControlChars     = "no_control_characters"
	RuleInvalidUTF8      = "valid_utf8"
	RuleSameAsOld        = "new_password_differs_from_old"
	RuleDirectoryQuality = "directory_quality" // the directory refused the password for its own quality rules
	// RuleDirectoryPolicy: the directory refused the password without saying which
	// of its rules it broke (Active Directory's 0000052D: length, complexity,
	// history or minimum age).
	RuleDirectoryPolicy = "directory_policy"
)

// Violation is one broken rule of the password policy. Message is safe to show:
// it never contains the password.
type Violation struct {
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// Error is a domain error: a code, a message that is safe to show to the caller,
// the violated rules for EPOLICY, and the underlying cause for logs.
// Neither Message nor Err may ever contain a password.
type Error struct {
	Code       string
	Message    string
	Violations []Violation
	Err        error
}

// Error implements error. It includes the cause, so it is for logs, not callers.
func (e *Error) Error() string {
	s := e.Code + ": " + e.Message
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an Error with the given code and a formatted, caller-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an Error with the given code and message whose cause is err.
func Wrap(code string, err error, message string) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// PolicyError returns an EPOLICY error listing every violation.
func PolicyError(vs []Violation) *Error {
	msg := "The new password does not meet the password policy."
	if len(vs) == 1 {
		msg = vs[0].Message
	}
	return &Error{Code: EPOLICY, Message: msg, Violations: vs}
}

// ErrorCode returns the code of err: its own when it is an *Error, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of err. Errors that are not *Error
// report "Internal error." so that no detail of a dependency leaks to the caller.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// ErrorViolations returns the violated rules of an EPOLICY error, or nil.
func ErrorViolations(err error) []Violation {
	var e *Error
	if errors.As(err, &e) {
		return e.Violations
	}
	return nil
}
