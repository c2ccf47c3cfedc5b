package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"chpass/shared/password"
)

// path says on whose behalf an operation ran; the same LDAP result means
// different things on each.
type path int

const (
	selfService path = iota // the user, proving the old password
	admin                   // the service account, resetting
	lookup                  // the service account, reading
)

// Caller-safe messages.
const (
	msgUnauthorized = "The user name or the password is wrong."
	msgLocked       = "The account is locked after too many failed attempts."
	msgNotFound     = "No such user."
	msgUnavailable  = "The directory cannot be reached; try again later."
	msgForbidden    = "The directory does not allow this password change."
	msgInternal     = "Internal error."
	msgCanceled     = "The deadline passed before the password was changed."
	msgExpired      = "The password has expired; an administrator must reset it."
)

// violation returns the Violation of rule as a refusal by the directory. The
// directory does not tell its limits, so the messages do not state them.
func violation(rule string) password.Violation {
	switch rule {
	case password.RuleMinLength:
		return password.Violation{Rule: rule, Message: "The directory refused the password as too short."}
	case password.RuleMaxLength:
		return password.Violation{Rule: rule, Message: "The directory refused the password as too long."}
	default:
		return password.Policy{}.Violation(rule)
	}
}

// ppolicyRules maps ppolicy errors that refuse a new password to policy rules.
var ppolicyRules = map[int8]string{
	ppInsufficientQuality: password.RuleDirectoryQuality,
	ppPasswordTooShort:    password.RuleMinLength,
	ppPasswordTooYoung:    password.RuleMinAge,
	ppPasswordInHistory:   password.RuleReusePrevention,
	ppPasswordTooLong:     password.RuleMaxLength,
}

// constraintRule guesses the rule of a constraint violation that came without a
// ppolicy response control, from OpenLDAP's diagnostic texts.
func constraintRule(diagnostic string) string {
	d := strings.ToLower(diagnostic)
	switch {
	case strings.Contains(d, "history"), strings.Contains(d, "not being changed"):
		return password.RuleReusePrevention
	case strings.Contains(d, "too young"):
		return password.RuleMinAge
	case strings.Contains(d, "too short"):
		return password.RuleMinLength
	case strings.Contains(d, "too long"):
		return password.RuleMaxLength
	default:
		return password.RuleDirectoryQuality
	}
}

// domainError translates err, returned by operation op on path p, into a domain
// error. pp is the ppolicy error of the response (ppNone when there is none, or
// when it must be read from err's packet). The cause is kept for logs with its
// diagnostic text withheld where a quality module might have echoed the password.
func domainError(op string, p path, err error, pp int8) error {
	if err == nil {
		return nil
	}
	var de *password.Error
	if errors.As(err, &de) {
		return err
	}
	if pp == ppNone {
		pp = ppolicyFromError(err)
	}
	cause := sanitize(err, pp)
	wrap := func(code, msg string) error { return password.Wrap(code, fmt.Errorf("%s: %w", op, cause), msg) }
	policy := func(rule string) error {
		e := password.PolicyError([]password.Violation{violation(rule)})
		e.Err = fmt.Errorf("%s: %w", op, cause)
		return e
	}

	// A network timeout (DialTimeout, OpTimeout) also "is" DeadlineExceeded:
	// only a bare context error means that the caller's own deadline passed.
	// (context.DeadlineExceeded is itself a net.Error: skip it.)
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
	code := le.ResultCode

	// A wrong old password in the operation itself: 53 "unwilling to verify old
	// password" from the exop, or 53 "Must supply correct old password" (with
	// ppolicy error 4) from a Modify that deletes the old value.
	if p == selfService && code == goldap.LDAPResultUnwillingToPerform && pp != ppAccountLocked {
		return wrap(password.EUNAUTHORIZED, msgUnauthorized)
	}
	switch pp {
	case ppAccountLocked:
		return wrap(password.ELOCKED, msgLocked)
	case ppPasswordExpired:
		// Sent only with the right password: it expired, and no grace logins
		// remain, so the user cannot bind to change it.
		if code == goldap.LDAPResultInvalidCredentials {
			return wrap(password.EFORBIDDEN, msgExpired)
		}
	case ppModNotAllowed, ppMustSupplyOld:
		return wrap(password.EFORBIDDEN, msgForbidden)
	}
	if rule, ok := ppolicyRules[pp]; ok {
		return policy(rule)
	}

	switch code {
	case goldap.LDAPResultInvalidCredentials:
		if p == selfService {
			return wrap(password.EUNAUTHORIZED, msgUnauthorized)
		}
		return wrap(password.EINTERNAL, msgInternal) // the service account was refused
	case goldap.LDAPResultNoSuchObject, goldap.LDAPResultInvalidDNSyntax:
		// A DN made from a name that cannot exist is as absent as a missing entry.
		if p == selfService {
			return wrap(password.EUNAUTHORIZED, msgUnauthorized)
		}
		return wrap(password.ENOTFOUND, msgNotFound)
	case goldap.LDAPResultInsufficientAccessRights:
		return wrap(password.EFORBIDDEN, msgForbidden)
	case goldap.LDAPResultConstraintViolation:
		return policy(constraintRule(errString(le.Err)))
	case goldap.LDAPResultBusy, goldap.LDAPResultUnavailable, goldap.LDAPResultTimeLimitExceeded,
		goldap.LDAPResultServerDown, goldap.LDAPResultTimeout, goldap.LDAPResultConnectError,
		goldap.ErrorNetwork:
		return wrap(password.EUNAVAILABLE, msgUnavailable)
	}
	return wrap(password.EINTERNAL, msgInternal)
}

// sanitize returns err with nothing that could hold a password: an *ldap.Error
// loses its packet, and the diagnostic text of a constraint violation (where a
// quality module may quote the password) is replaced by the ppolicy error's name.
func sanitize(err error, pp int8) error {
	var le *goldap.Error
	if !errors.As(err, &le) {
		return err
	}
	inner := le.Err
	if le.ResultCode == goldap.LDAPResultConstraintViolation || pp == ppInsufficientQuality || pp == ppPasswordTooLong {
		name := goldap.BeheraPasswordPolicyErrorMap[pp]
		if name == "" {
			name = constraintRule(errString(le.Err))
		}
		inner = errors.New("diagnostic withheld: " + name)
	}
	if inner == nil {
		inner = errors.New("no diagnostic")
	}
	return &goldap.Error{ResultCode: le.ResultCode, MatchedDN: le.MatchedDN, Err: inner}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// isTLSVerification reports whether err is a refusal of the server's certificate,
// which is a configuration error rather than an outage.
func isTLSVerification(err error) bool {
	var (
		cv *tls.CertificateVerificationError
		ua x509.UnknownAuthorityError
		hn x509.HostnameError
		ci x509.CertificateInvalidError
	)
	if errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) {
		return true
	}
	// go-ldap's StartTLS flattens the handshake error into text.
	s := errString(err)
	return strings.Contains(s, "x509:") || strings.Contains(s, "tls: failed to verify")
}

// networkFailure reports whether err is a failure of the connection rather than
// an answer: a net.Error (other than the bare context.DeadlineExceeded, which is
// one too), or the text error go-ldap returns when its reader lost the connection.
func networkFailure(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne != context.DeadlineExceeded {
		return true
	}
	return strings.Contains(errString(err), "unable to read LDAP response packet")
}

// transient reports whether err is worth retrying: the server is busy or
// unavailable, or the network failed. Refusals never are.
func transient(err error) bool {
	var le *goldap.Error
	if errors.As(err, &le) {
		switch le.ResultCode {
		case goldap.LDAPResultBusy, goldap.LDAPResultUnavailable, goldap.LDAPResultServerDown,
			goldap.LDAPResultConnectError, goldap.LDAPResultTimeout:
			return true
		case goldap.ErrorNetwork:
			return !isTLSVerification(err)
		}
		return false
	}
	return networkFailure(err) && !isTLSVerification(err)
}

// performed reports whether err may have come after the server received the
// request, so that the operation may have taken effect. Busy and unavailable
// answers say it did not, and so does go-ldap's "connection closed", which it
// returns before sending anything on a connection that has already closed.
func performed(err error) bool {
	var le *goldap.Error
	if errors.As(err, &le) {
		switch le.ResultCode {
		case goldap.LDAPResultBusy, goldap.LDAPResultUnavailable:
			return false
		case goldap.ErrorNetwork:
			return errString(le.Err) != "ldap: connection closed"
		}
	}
	return true
}
