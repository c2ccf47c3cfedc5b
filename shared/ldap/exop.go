package ldap

import (
	"errors"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"
)

// OIDs of the operations and controls the OpenLDAP dialect uses.
const (
	oidPasswordModify = "1.3.6.1.4.1.4203.1.11.1"   // RFC 3062
	oidWhoAmI         = "1.3.6.1.4.1.4203.1.11.3"   // RFC 4532
	oidPasswordPolicy = "1.3.6.1.4.1.42.2.27.8.5.1" // draft-behera-ldap-password-policy
)

// ppolicy error codes of draft-behera-ldap-password-policy, section 6.2.
const (
	ppNone                int8 = -1
	ppPasswordExpired     int8 = 0
	ppAccountLocked       int8 = 1
	ppChangeAfterReset    int8 = 2
	ppModNotAllowed       int8 = 3
	ppMustSupplyOld       int8 = 4
	ppInsufficientQuality int8 = 5
	ppPasswordTooShort    int8 = 6
	ppPasswordTooYoung    int8 = 7
	ppPasswordInHistory   int8 = 8
	ppPasswordTooLong     int8 = 9 // OpenLDAP's extension of the draft
)

// passwordModifyValue encodes the requestValue of the Password Modify extended
// operation (RFC 3062, section 2):
//
//	PasswdModifyRequestValue ::= SEQUENCE {
//	    userIdentity [0] OCTET STRING OPTIONAL
//	    oldPasswd    [1] OCTET STRING OPTIONAL
//	    newPasswd    [2] OCTET STRING OPTIONAL }
//
// Empty fields are left out. The packet is the bare SEQUENCE; go-ldap wraps it
// into the [1] requestValue OCTET STRING.
func passwordModifyValue(userIdentity, oldPassword, newPassword string) *ber.Packet {
	seq := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "PasswdModifyRequestValue")
	if userIdentity != "" {
		seq.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, userIdentity, "userIdentity"))
	}
	if oldPassword != "" {
		seq.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 1, oldPassword, "oldPasswd"))
	}
	if newPassword != "" {
		seq.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 2, newPassword, "newPasswd"))
	}
	return seq
}

// passwordModifyRequest returns the Password Modify extended request with the
// password policy request control, which go-ldap's PasswordModifyRequest cannot carry.
func passwordModifyRequest(userIdentity, oldPassword, newPassword string) *goldap.ExtendedRequest {
	req := goldap.NewExtendedRequest(oidPasswordModify, passwordModifyValue(userIdentity, oldPassword, newPassword))
	req.Controls = []goldap.Control{ppolicyRequest()}
	return req
}

// ppolicyRequest returns the password policy request control (no value, not critical).
func ppolicyRequest() goldap.Control { return goldap.NewControlBeheraPasswordPolicy() }

// ppolicyFromControls returns the error of the password policy response control
// among controls, or ppNone.
func ppolicyFromControls(controls []goldap.Control) int8 {
	for _, c := range controls {
		if pp, ok := c.(*goldap.ControlBeheraPasswordPolicy); ok {
			return pp.Error
		}
	}
	return ppNone
}

// ppolicyFromError returns the error of the password policy response control in
// the response that err carries, or ppNone. go-ldap's Extended and Modify return
// only the error on failure; the whole LDAPMessage is in (*ldap.Error).Packet,
// whose third child, when present, is the [0] Controls sequence. The control is
// decoded here rather than with ldap.DecodeControl, which refuses OpenLDAP's
// error 9 (passwordTooLong), an extension of the draft.
func ppolicyFromError(err error) int8 {
	var le *goldap.Error
	if !errors.As(err, &le) || le.Packet == nil || len(le.Packet.Children) < 3 {
		return ppNone
	}
	return ppolicyFromControlsPacket(le.Packet.Children[2])
}

// ppolicyFromControlsPacket reads the ppolicy error from a Controls sequence:
//
//	Control ::= SEQUENCE { controlType LDAPOID, criticality BOOLEAN DEFAULT FALSE, controlValue OCTET STRING OPTIONAL }
//	PasswordPolicyResponseValue ::= SEQUENCE {
//	    warning [0] CHOICE { timeBeforeExpiration [0] INTEGER, graceAuthNsRemaining [1] INTEGER } OPTIONAL,
//	    error   [1] ENUMERATED OPTIONAL }
func ppolicyFromControlsPacket(controls *ber.Packet) int8 {
	for _, c := range controls.Children {
		if len(c.Children) < 2 || c.Children[0].Data.String() != oidPasswordPolicy {
			continue
		}
		val := c.Children[len(c.Children)-1]
		if val.Tag != ber.TagOctetString {
			return ppNone
		}
		seq, err := ber.DecodePacketErr(val.Data.Bytes())
		if err != nil {
			return ppNone
		}
		for _, f := range seq.Children {
			if f.ClassType == ber.ClassContext && f.Tag == 1 {
				b := f.Data.Bytes()
				if len(b) == 1 && b[0] <= 127 {
					return int8(b[0])
				}
			}
		}
		return ppNone
	}
	return ppNone
}
