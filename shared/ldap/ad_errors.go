package ldap

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"chpass/shared/password"
)

// Active Directory answers with an LDAP result code and a diagnostic message
// whose first 8 hex digits are a Windows error code; a refused bind adds
// "data XXX", the sub-status. Windows and Samba word the rest differently, so
// only those codes are matched.
const (
	adPolicy        = "0000052D" // ERROR_PASSWORD_RESTRICTION: length, complexity, history or minimum age
	adWrongPassword = "00000056" // ERROR_INVALID_PASSWORD: the old password in the Modify is wrong
	adLockedChange  = "00000775" // ERROR_ACCOUNT_LOCKED_OUT, on a change of a locked account (Samba)
	adNoAuth        = "00002020" // an operation over an anonymous connection

	adDataWrongPassword = "52e" // bind: wrong password (or no such user)
	adDataNoSuchUser    = "525" // bind: no such user (Windows, in some configurations)
	adDataLogonHours    = "530" // bind: not permitted at this time
	adDataWorkstation   = "531" // bind: not permitted from this workstation
	adDataExpired       = "532" // bind: the password has expired (right password)
	adDataDisabled      = "533" // bind: the account is disabled (right password)
	adDataAcctExpired   = "701" // bind: the account has expired (right password)
	adDataMustChange    = "773" // bind: the password must be changed at next logon (right password)
	adDataLocked        = "775" // bind: the account is locked out
)

// Caller-safe messages of Active Directory's refusals.
const (
	msgADDisabled    = "The account is disabled; an administrator must enable it."
	msgADAcctExpired = "The account has expired; an administrator must extend it."
	msgADLogonDenied = "The account may not log on at this time or from here."
	msgADForbidden   = "The service account may not reset this user's password: it lacks Reset Password on the user's OU " +
		"(and write on pwdLastSet or lockoutTime when the reset options are on), or the user is a protected administrator."
)

// errChangeUnbound says that the user's password is right but AD will not let
// them bind until it is changed (expired, or must change at next logon).
var errChangeUnbound = errors.New("ldap: the password is right but has expired or must be changed; change it over a service connection")

var (
	adCodeRE = regexp.MustCompile(`^\s*([0-9A-Fa-f]{8})\b`)
	adDataRE = regexp.MustCompile(`\bdata ([0-9A-Fa-f]{1,8})\b`)
)

// adCode returns the leading Windows error code of err's diagnostic message,
// upper case, or "".
func adCode(err error) string {
	var le *goldap.Error
	if !errors.As(err, &le) || le.Err == nil {
		return ""
	}
	m := adCodeRE.FindStringSubmatch(le.Err.Error())
	if m == nil {
		return ""
	}
	return strings.ToUpper(m[1])
}

// adBindData returns the "data XXX" sub-status of a refused bind, lower case, or "".
func adBindData(err error) string {
	var le *goldap.Error
	if !errors.As(err, &le) || le.Err == nil {
		return ""
	}
	m := adDataRE.FindStringSubmatch(le.Err.Error())
	if m == nil {
		return ""
	}
	return strings.ToLower(strings.TrimLeft(m[1], "0"))
}

// adPolicyRule names the rule of a 0000052D refusal. Windows does not say which
// rule the password broke; Samba does, in words that have not changed since 4.0,
// and those are recognised. Otherwise the refusal names RuleDirectoryPolicy,
// whose message says honestly that it may be any of them.
func adPolicyRule(diagnostic string) string {
	d := strings.ToLower(diagnostic)
	switch {
	case strings.Contains(d, "history"), strings.Contains(d, "already used"):
		return password.RuleReusePrevention
	case strings.Contains(d, "too young"):
		return password.RuleMinAge
	case strings.Contains(d, "too short"):
		return password.RuleMinLength
	case strings.Contains(d, "too long"):
		return password.RuleMaxLength
	case strings.Contains(d, "complexity"):
		return password.RuleDirectoryQuality
	}
	return password.RuleDirectoryPolicy
}

// adChangeDisabled reports whether a 0000052D refusal is Samba's for an account
// that may not change its password (UF_PASSWD_CANT_CHANGE), or for a domain
// where changes are disabled.
func adChangeDisabled(diagnostic string) bool {
	d := strings.ToLower(diagnostic)
	return strings.Contains(d, "can't be changed") || strings.Contains(d, "changes disabled")
}

// domainError translates err, returned by operation op on path p, into a domain
// error, reading AD's codes. The cause kept for logs holds the result code and
// the Windows codes only: nothing of the diagnostic text, nor the packet.
func (a activeDirectory) domainError(op string, p path, err error) error {
	if err == nil {
		return nil
	}
	var de *password.Error
	if errors.As(err, &de) {
		return err
	}
	cause := adSanitize(err)
	wrap := func(code, msg string) error { return password.Wrap(code, fmt.Errorf("%s: %w", op, cause), msg) }

	isNet := networkFailure(err)
	if errors.Is(err, context.Canceled) || !isNet && errors.Is(err, context.DeadlineExceeded) {
		return wrap(password.ECANCELED, msgCanceled)
	}
	if isTLSVerification(err) {
		return wrap(password.EINTERNAL, msgInternal)
	}
	var le *goldap.Error
	if !errors.As(err, &le) {
		if isNet {
			return wrap(password.EUNAVAILABLE, msgUnavailable)
		}
		return wrap(password.EINTERNAL, msgInternal)
	}

	switch le.ResultCode {
	case goldap.LDAPResultInvalidCredentials:
		if p != selfService {
			return wrap(password.EINTERNAL, msgInternal) // the service account was refused: its cause says why
		}
		switch adBindData(err) {
		case adDataLocked:
			return wrap(password.ELOCKED, msgLocked)
		case adDataDisabled:
			return wrap(password.EFORBIDDEN, msgADDisabled)
		case adDataAcctExpired:
			return wrap(password.EFORBIDDEN, msgADAcctExpired)
		case adDataLogonHours, adDataWorkstation:
			return wrap(password.EFORBIDDEN, msgADLogonDenied)
		case adDataExpired, adDataMustChange:
			// Reached only if a change over a service connection was not possible.
			return wrap(password.EFORBIDDEN, msgExpired)
		}
		return wrap(password.EUNAUTHORIZED, msgUnauthorized)
	case goldap.LDAPResultConstraintViolation, goldap.LDAPResultUnwillingToPerform:
		switch adCode(err) {
		case adWrongPassword:
			if p == selfService {
				return wrap(password.EUNAUTHORIZED, msgUnauthorized)
			}
		case adLockedChange:
			return wrap(password.ELOCKED, msgLocked)
		case adPolicy:
			if adChangeDisabled(errString(le.Err)) {
				return wrap(password.EFORBIDDEN, msgForbidden)
			}
			e := password.PolicyError([]password.Violation{violation(adPolicyRule(errString(le.Err)))})
			e.Err = fmt.Errorf("%s: %w", op, cause)
			return e
		}
		return wrap(password.EINTERNAL, msgInternal)
	case goldap.LDAPResultNoSuchObject, goldap.LDAPResultInvalidDNSyntax:
		if p == selfService {
			return wrap(password.EUNAUTHORIZED, msgUnauthorized)
		}
		return wrap(password.ENOTFOUND, msgNotFound)
	case goldap.LDAPResultInsufficientAccessRights:
		if p == admin {
			return wrap(password.EFORBIDDEN, msgADForbidden)
		}
		return wrap(password.EFORBIDDEN, msgForbidden)
	case goldap.LDAPResultBusy, goldap.LDAPResultUnavailable, goldap.LDAPResultTimeLimitExceeded,
		goldap.LDAPResultServerDown, goldap.LDAPResultTimeout, goldap.LDAPResultConnectError,
		goldap.ErrorNetwork:
		return wrap(password.EUNAVAILABLE, msgUnavailable)
	}
	return wrap(password.EINTERNAL, msgInternal)
}

// adSanitize returns err without anything from the server beyond its result
// code, its Windows code, the bind's data sub-status and, for 0000052D, the
// rule recognised: AD's diagnostics do not quote passwords, but a proxy or a
// future version might.
func adSanitize(err error) error {
	var le *goldap.Error
	if !errors.As(err, &le) {
		return err
	}
	if le.ResultCode == goldap.ErrorNetwork || le.ResultCode >= goldap.LDAPResultServerDown && le.ResultCode <= goldap.LDAPResultConnectError {
		return sanitize(err, ppNone) // go-ldap's own text, not the server's
	}
	var b strings.Builder
	if code := adCode(err); code != "" {
		b.WriteString(code)
		if code == adPolicy {
			b.WriteString(" (" + adPolicyRule(errString(le.Err)) + ")")
		}
	} else {
		b.WriteString("diagnostic withheld")
	}
	if data := adBindData(err); data != "" {
		b.WriteString(", data " + data)
	}
	return &goldap.Error{ResultCode: le.ResultCode, MatchedDN: le.MatchedDN, Err: errors.New(b.String())}
}
