package ldap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"

	"chpass/shared/password"
)

func TestEscapeRDNValue(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"alice":         "alice",
		"":              "",
		"a,b":           `a\,b`,
		"a+b":           `a\+b`,
		`a"b`:           `a\"b`,
		`a\b`:           `a\\b`,
		"a<b>c":         `a\<b\>c`,
		"a;b":           `a\;b`,
		"a=b":           `a\=b`,
		"#alice":        `\#alice`,
		"al#ice":        "al#ice",
		" alice":        `\ alice`,
		"alice ":        `alice\ `,
		" ":             `\ `,
		"a b":           "a b",
		"alice\x00":     `alice\00`,
		"\x00":          `\00`,
		"*":             "*",
		"alice)(uid=*":  `alice)(uid\=*`,
		"Pässwörd-中文":   "Pässwörd-中文",
		`uid=x,dc=evil`: `uid\=x\,dc\=evil`,
	}
	for in, want := range tests {
		t.Run(fmt.Sprintf("%q", in), func(t *testing.T) {
			t.Parallel()
			if got := escapeRDNValue(in); got != want {
				t.Fatalf("escapeRDNValue(%q) = %q, want %q", in, got, want)
			}
		})
	}
}

// TestEscapeRDNValueRoundTrip parses the escaped value back with go-ldap's DN
// parser: whatever the name, the DN has one RDN in front whose value is the name.
func TestEscapeRDNValueRoundTrip(t *testing.T) {
	t.Parallel()
	names := []string{"alice", "a,b", "a+b", `a"b`, `a\b`, "#a", " a", "a ", " ", "a=b", "a;b", "<a>",
		"alice)(uid=*", "*", `\2a`, "Pässwörd-中文", "uid=x,dc=evil", "a\\,b", "##", "a  b", "a\x00b", "+,;=<>#\"\\"}
	for _, name := range names {
		dn := "uid=" + escapeRDNValue(name) + ",ou=people,dc=example,dc=test"
		parsed, err := goldap.ParseDN(dn)
		if err != nil {
			t.Errorf("ParseDN(%q): %v", dn, err)
			continue
		}
		if len(parsed.RDNs) != 4 || len(parsed.RDNs[0].Attributes) != 1 {
			t.Errorf("%q became %d RDNs, the first with %d attributes", name, len(parsed.RDNs), len(parsed.RDNs[0].Attributes))
			continue
		}
		if a := parsed.RDNs[0].Attributes[0]; a.Type != "uid" || a.Value != name {
			t.Errorf("%q came back as %s=%q", name, a.Type, a.Value)
		}
	}
}

func TestEscapeFilterValue(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"alice", "alice"},
		{"*", `\2a`},
		{"alice)(uid=*", `alice\29\28uid=\2a`},
		{`\61lice`, `\5c61lice`},
		{"a\x00", `a\00`},
		{"(", `\28`},
	}
	for _, tt := range tests {
		got := escapeFilterValue(tt.in)
		if got != tt.want {
			t.Errorf("escapeFilterValue(%q) = %q, want %q", tt.in, got, tt.want)
		}
		// The filter compiles, and to one equality match on the whole name.
		f := expand("(&(objectClass=inetOrgPerson)(uid=%s))", got)
		pkt, err := goldap.CompileFilter(f)
		if err != nil {
			t.Errorf("CompileFilter(%q): %v", f, err)
			continue
		}
		back, err := goldap.DecompileFilter(pkt)
		if err != nil || strings.Count(back, "(") != 3 {
			t.Errorf("filter for %q decompiles to %q (%v)", tt.in, back, err)
		}
		eq := pkt.Children[1]
		if eq.Tag != goldap.FilterEqualityMatch || eq.Children[1].Data.String() != tt.in {
			t.Errorf("filter for %q does not test equality with it: %s", tt.in, back)
		}
	}
}

func TestPlausibleName(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"alice": true, "a": true, "alice)(uid=*": true, "*": true, "Pässwörd": true, "a b": true,
		"": false, " alice": false, "alice ": false, "alice\x00": false, "ali\nce": false, "\talice": false,
		"\xff\xfe": false, strings.Repeat("a", 257): false, strings.Repeat("a", 256): true, "alice\u00a0": false,
	}
	for in, want := range tests {
		if got := plausibleName(in); got != want {
			t.Errorf("plausibleName(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestPasswordModifyValue decodes the encoded request value back.
func TestPasswordModifyValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name              string
		identity, old, nw string
		wantTags          []ber.Tag
	}{
		{"SelfChange", "", "Old-Pass-1", "New-Pass-1", []ber.Tag{1, 2}},
		{"AdminReset", "uid=alice,ou=people,dc=example,dc=test", "", "New-Pass-1", []ber.Tag{0, 2}},
		{"All", "uid=a\\,b,dc=x", "Pässwörd-中文-1", `with "quotes" \ and spaces`, []ber.Tag{0, 1, 2}},
		{"GeneratedPassword", "uid=a,dc=x", "", "", []ber.Tag{0}},
		{"Empty", "", "", "", nil},
		{"Long", "", strings.Repeat("o", 300), strings.Repeat("n", 70000), []ber.Tag{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw := passwordModifyValue(tt.identity, tt.old, tt.nw).Bytes()
			seq, err := ber.DecodePacketErr(raw)
			if err != nil {
				t.Fatal(err)
			}
			if seq.ClassType != ber.ClassUniversal || seq.TagType != ber.TypeConstructed || seq.Tag != ber.TagSequence {
				t.Fatalf("not a SEQUENCE: class %d type %d tag %d", seq.ClassType, seq.TagType, seq.Tag)
			}
			want := map[ber.Tag]string{0: tt.identity, 1: tt.old, 2: tt.nw}
			if len(seq.Children) != len(tt.wantTags) {
				t.Fatalf("%d fields, want %d", len(seq.Children), len(tt.wantTags))
			}
			for i, f := range seq.Children {
				if f.ClassType != ber.ClassContext || f.TagType != ber.TypePrimitive || f.Tag != tt.wantTags[i] {
					t.Fatalf("field %d: class %d type %d tag %d, want [%d] primitive", i, f.ClassType, f.TagType, f.Tag, tt.wantTags[i])
				}
				if got := f.Data.String(); got != want[f.Tag] {
					t.Fatalf("field [%d] = %q, want %q", f.Tag, got, want[f.Tag])
				}
			}
		})
	}
}

// TestPasswordModifyRequest checks the whole extended request as go-ldap puts it
// on the wire: the OID, the value wrapped once in [1], and the ppolicy control.
func TestPasswordModifyRequest(t *testing.T) {
	t.Parallel()
	req := passwordModifyRequest("", "Old-Pass-1", "New-Pass-1")
	if req.Name != oidPasswordModify {
		t.Fatalf("OID %q", req.Name)
	}
	if len(req.Controls) != 1 || req.Controls[0].GetControlType() != oidPasswordPolicy {
		t.Fatalf("controls %v, want the ppolicy request control", req.Controls)
	}
	// Encode as go-ldap does (ExtendedRequest.appendTo is unexported): through
	// a fake server that captures the request.
	got := captureRequest(t, func(c *goldap.Conn) { _, _ = c.Extended(req) })
	op := got.Children[1]
	if op.ClassType != ber.ClassApplication || op.Tag != goldap.ApplicationExtendedRequest {
		t.Fatalf("not an ExtendedRequest: %v", op.Tag)
	}
	if op.Children[0].Data.String() != oidPasswordModify {
		t.Fatalf("requestName %q", op.Children[0].Data.String())
	}
	val := op.Children[1]
	if val.ClassType != ber.ClassContext || val.Tag != 1 || val.TagType != ber.TypePrimitive {
		t.Fatalf("requestValue is not [1] OCTET STRING")
	}
	inner, err := ber.DecodePacketErr(val.Data.Bytes())
	if err != nil || inner.Tag != ber.TagSequence || len(inner.Children) != 2 ||
		inner.Children[0].Data.String() != "Old-Pass-1" || inner.Children[1].Data.String() != "New-Pass-1" {
		t.Fatalf("requestValue does not decode to the two passwords: %v", err)
	}
	ctrls := got.Children[2]
	if ctrls.ClassType != ber.ClassContext || ctrls.Tag != 0 || ctrls.Children[0].Children[0].Data.String() != oidPasswordPolicy {
		t.Fatalf("no ppolicy control on the wire")
	}
}

// captureRequest runs do against a fake server and returns the first LDAPMessage
// it receives; the server answers with a protocol error.
func captureRequest(t *testing.T, do func(c *goldap.Conn)) *ber.Packet {
	t.Helper()
	client, server := net.Pipe()
	got := make(chan *ber.Packet, 1)
	go func() {
		p, err := ber.ReadPacket(server)
		if err != nil {
			got <- nil
			return
		}
		got <- p
		resp := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		resp.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, p.Children[0].Value, ""))
		res := ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationExtendedResponse, nil, "")
		res.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, 2, ""))
		res.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
		res.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
		resp.AppendChild(res)
		_, _ = server.Write(resp.Bytes())
	}()
	c := goldap.NewConn(client, false)
	c.Start()
	c.SetTimeout(2 * time.Second)
	do(c)
	_ = c.Close()
	p := <-got
	if p == nil {
		t.Fatal("the fake server received nothing")
	}
	return p
}

// ldapError builds the *ldap.Error that go-ldap returns for a response with the
// given result, diagnostic and ppolicy error (pp < 0: no control).
func ldapError(code uint16, diagnostic string, pp int) error {
	msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAPMessage")
	msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 1, "MessageID"))
	res := ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationExtendedResponse, nil, "")
	res.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, int64(code), ""))
	res.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	res.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, diagnostic, ""))
	msg.AppendChild(res)
	if pp >= 0 {
		val := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		val.AppendChild(ber.NewInteger(ber.ClassContext, ber.TypePrimitive, 1, int64(pp), "error"))
		ctrl := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Control")
		ctrl.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, oidPasswordPolicy, ""))
		ctrl.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, string(val.Bytes()), ""))
		ctrls := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "Controls")
		ctrls.AppendChild(ctrl)
		msg.AppendChild(ctrls)
	}
	// Through the wire format, as go-ldap reads it.
	return goldap.GetLDAPError(ber.DecodePacket(msg.Bytes()))
}

func TestPPolicyFromError(t *testing.T) {
	t.Parallel()
	for pp := -1; pp <= 9; pp++ {
		if got := ppolicyFromError(ldapError(19, "x", pp)); got != int8(pp) {
			t.Errorf("ppolicy %d decoded as %d", pp, got)
		}
	}
	if got := ppolicyFromError(errors.New("plain")); got != ppNone {
		t.Errorf("plain error: %d", got)
	}
}

func TestDomainError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		path path
		err  error
		pp   int8 // from a bind result's controls
		code string
		rule string
	}{
		{"InHistory", selfService, ldapError(19, "Password is in history of old passwords", 8), ppNone, password.EPOLICY, password.RuleReusePrevention},
		{"Unchanged", admin, ldapError(19, "Password is not being changed from existing value", 8), ppNone, password.EPOLICY, password.RuleReusePrevention},
		{"TooShort", selfService, ldapError(19, "Password fails quality checking policy", 6), ppNone, password.EPOLICY, password.RuleMinLength},
		{"Quality", admin, ldapError(19, "module says no", 5), ppNone, password.EPOLICY, password.RuleDirectoryQuality},
		{"TooLong", admin, ldapError(19, "module says no", 9), ppNone, password.EPOLICY, password.RuleMaxLength},
		{"TooYoung", selfService, ldapError(19, "Password is too young to change", 7), ppNone, password.EPOLICY, password.RuleMinAge},
		{"HistoryWithoutControl", selfService, ldapError(19, "Password is in history of old passwords", -1), ppNone, password.EPOLICY, password.RuleReusePrevention},
		{"TooYoungWithoutControl", selfService, ldapError(19, "Password is too young to change", -1), ppNone, password.EPOLICY, password.RuleMinAge},
		{"ConstraintWithoutControl", admin, ldapError(19, "something", -1), ppNone, password.EPOLICY, password.RuleDirectoryQuality},
		{"WrongOldInExop", selfService, ldapError(53, "unwilling to verify old password", -1), ppNone, password.EUNAUTHORIZED, ""},
		{"WrongOldInModify", selfService, ldapError(53, "Must supply correct old password to change to new one", 4), ppNone, password.EUNAUTHORIZED, ""},
		{"UnwillingOnReset", admin, ldapError(53, "read only", -1), ppNone, password.EINTERNAL, ""},
		{"WrongPasswordBind", selfService, ldapError(49, "", -1), ppNone, password.EUNAUTHORIZED, ""},
		{"LockedBind", selfService, ldapError(49, "", -1), ppAccountLocked, password.ELOCKED, ""},
		{"ExpiredBind", selfService, ldapError(49, "", -1), ppPasswordExpired, password.EFORBIDDEN, ""},
		{"LockedBindInPacket", selfService, ldapError(49, "", 1), ppNone, password.ELOCKED, ""},
		{"ServiceAccountRefused", admin, ldapError(49, "", -1), ppNone, password.EINTERNAL, ""},
		{"OldRequired", selfService, ldapError(50, "Must supply old password to be changed as well as new one", 4), ppNone, password.EFORBIDDEN, ""},
		{"OldRequiredOnReset", admin, ldapError(50, "Must supply old password to be changed as well as new one", 4), ppNone, password.EFORBIDDEN, ""},
		{"ChangeNotAllowed", selfService, ldapError(50, "User alteration of password is not allowed", 3), ppNone, password.EFORBIDDEN, ""},
		{"NoAccess", admin, ldapError(50, "", -1), ppNone, password.EFORBIDDEN, ""},
		{"NoSuchUserSelf", selfService, errNoSuchUser, ppNone, password.EUNAUTHORIZED, ""},
		{"NoSuchUserReset", admin, ldapError(32, "", -1), ppNone, password.ENOTFOUND, ""},
		{"NoSuchUserLookup", lookup, errNoSuchUser, ppNone, password.ENOTFOUND, ""},
		{"InvalidDNReset", admin, ldapError(34, "invalid DN", -1), ppNone, password.ENOTFOUND, ""},
		{"Busy", admin, ldapError(51, "", -1), ppNone, password.EUNAVAILABLE, ""},
		{"Unavailable", admin, ldapError(52, "", -1), ppNone, password.EUNAVAILABLE, ""},
		{"Network", selfService, goldap.NewError(goldap.ErrorNetwork, errors.New("ldap: connection timed out")), ppNone, password.EUNAVAILABLE, ""},
		{"Refused", admin, goldap.NewError(goldap.LDAPResultConnectError, &net.OpError{Op: "dial", Err: errors.New("connection refused")}), ppNone, password.EUNAVAILABLE, ""},
		{"PoolClosed", admin, errPoolClosed, ppNone, password.EUNAVAILABLE, ""},
		{"Canceled", admin, context.Canceled, ppNone, password.ECANCELED, ""},
		{"ReaderLost", selfService, errors.New("unable to read LDAP response packet: read tcp 127.0.0.1:1->127.0.0.1:2: i/o timeout"), ppNone, password.EUNAVAILABLE, ""},
		{"TLS", admin, goldap.NewError(goldap.ErrorNetwork, errors.New("TLS handshake failed (tls: failed to verify certificate: x509: certificate signed by unknown authority)")), ppNone, password.EINTERNAL, ""},
		{"Other", admin, ldapError(80, "other", -1), ppNone, password.EINTERNAL, ""},
		{"NotLDAP", admin, errors.New("boom"), ppNone, password.EINTERNAL, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := domainError("ldap.Test", tt.path, tt.err, tt.pp)
			if got := password.ErrorCode(err); got != tt.code {
				t.Fatalf("code %q (%v), want %q", got, err, tt.code)
			}
			vs := password.ErrorViolations(err)
			if tt.rule != "" && (len(vs) != 1 || vs[0].Rule != tt.rule) {
				t.Fatalf("violations %+v, want %q", vs, tt.rule)
			}
			if !strings.Contains(err.Error(), "ldap.Test") {
				t.Errorf("%q does not name the operation", err)
			}
			if password.ErrorMessage(err) == "" {
				t.Errorf("no caller-safe message")
			}
		})
	}
	if domainError("x", admin, nil, ppNone) != nil {
		t.Error("nil became an error")
	}
}

// TestSanitize: a quality module's text, which may quote the password, never
// reaches the error.
// TestDialTimeoutIsUnavailable: a dial that times out is an outage, although
// its error also matches context.DeadlineExceeded.
func TestDialTimeoutIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, derr := (&net.Dialer{}).DialContext(ctx, "tcp", "127.0.0.1:1")
	if derr == nil {
		t.Skip("dial succeeded")
	}
	err := domainError("ldap.Test", admin, goldap.NewError(goldap.LDAPResultConnectError, derr), ppNone)
	if got := password.ErrorCode(err); got != password.EUNAVAILABLE {
		t.Fatalf("dial timeout (%v): %q, want %q", derr, got, password.EUNAVAILABLE)
	}
	if got := password.ErrorCode(domainError("ldap.Test", admin, context.DeadlineExceeded, ppNone)); got != password.ECANCELED {
		t.Fatalf("the caller's deadline: %q, want %q", got, password.ECANCELED)
	}
}

func TestSanitize(t *testing.T) {
	t.Parallel()
	const secret = "Secret-Pass-1"
	err := domainError("ldap.ChangePassword", selfService, ldapError(19, "password "+secret+" is too similar to the user name", 5), ppNone)
	if strings.Contains(err.Error(), secret) || strings.Contains(fmt.Sprintf("%+v", err), secret) {
		t.Fatalf("the diagnostic leaked: %v", err)
	}
	var le *goldap.Error
	if !errors.As(err, &le) || le.Packet != nil {
		t.Fatalf("the cause is not a packet-free *ldap.Error: %#v", le)
	}
}

func TestTransient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err                  error
		transient, performed bool
	}{
		{ldapError(51, "", -1), true, false},
		{ldapError(52, "", -1), true, false},
		{goldap.NewError(goldap.ErrorNetwork, errors.New("ldap: connection timed out")), true, true},
		{goldap.NewError(goldap.LDAPResultConnectError, errors.New("refused")), true, true},
		{goldap.NewError(goldap.ErrorNetwork, errors.New("ldap: connection closed")), true, false},
		{goldap.NewError(goldap.ErrorNetwork, errors.New("ldap: response channel closed")), true, true},
		{ldapError(19, "", 8), false, true},
		{ldapError(49, "", -1), false, true},
		{ldapError(53, "", -1), false, true},
		{goldap.NewError(goldap.ErrorNetwork, errors.New("x509: certificate signed by unknown authority")), false, true},
		{errors.New("other"), false, true},
	}
	for _, tt := range tests {
		if transient(tt.err) != tt.transient || performed(tt.err) != tt.performed {
			t.Errorf("%v: transient %v performed %v, want %v %v", tt.err, transient(tt.err), performed(tt.err), tt.transient, tt.performed)
		}
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	ok := Config{URL: "ldaps://ldap.example.test", BindDN: "cn=svc,dc=x", BindPassword: "pw", UserDNTemplate: "uid=%s,ou=people,dc=x"}
	if _, err := New(ok); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	bad := map[string]func(c *Config){
		"NoURL":             func(c *Config) { c.URL = "" },
		"HTTPURL":           func(c *Config) { c.URL = "http://x" },
		"PlainNotAllowed":   func(c *Config) { c.URL = "ldap://x" },
		"StartTLSOnLDAPS":   func(c *Config) { c.StartTLS = true },
		"NoBindDN":          func(c *Config) { c.BindDN = "" },
		"NoBindPassword":    func(c *Config) { c.BindPassword = "" },
		"NoUserLocation":    func(c *Config) { c.UserDNTemplate = "" },
		"BothUserLocations": func(c *Config) { c.UserSearch = &UserSearch{Base: "dc=x", Filter: "(uid=%s)"} },
		"TemplateNoVerb":    func(c *Config) { c.UserDNTemplate = "uid=alice,dc=x" },
		"TemplateOtherAttr": func(c *Config) { c.UserDNTemplate = "cn=%s,dc=x" },
		"FilterNoVerb": func(c *Config) {
			c.UserDNTemplate = ""
			c.UserSearch = &UserSearch{Base: "dc=x", Filter: "(uid=alice)"}
		},
		"BadScope": func(c *Config) {
			c.UserDNTemplate = ""
			c.UserSearch = &UserSearch{Base: "dc=x", Filter: "(uid=%s)", Scope: "base"}
		},
		"ADNotYet":   func(c *Config) { c.Dialect = "ad" },
		"MissingCA":  func(c *Config) { c.CAFile = "/nonexistent/ca.pem" },
		"NegRetries": func(c *Config) { c.Retries = -1 },
	}
	for name, mutate := range bad {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := ok
			mutate(&c)
			if _, err := New(c); err == nil {
				t.Fatalf("accepted %+v", c)
			} else if strings.Contains(err.Error(), "pw") && name != "NoBindPassword" {
				t.Fatalf("the error shows the bind password: %v", err)
			}
		})
	}
	plain := ok
	plain.URL, plain.InsecurePlain = "ldap://127.0.0.1:389", true
	if _, err := New(plain); err != nil {
		t.Fatalf("insecure_plain refused: %v", err)
	}
}

// fakeConn is a conn whose operations fail as told.
type fakeConn struct {
	closed  atomic.Bool
	ext     func() error
	timeout time.Duration
}

func (f *fakeConn) SimpleBind(*goldap.SimpleBindRequest) (*goldap.SimpleBindResult, error) {
	return &goldap.SimpleBindResult{}, nil
}

// Search finds the entry a DN template names, holding the name of its RDN.
func (f *fakeConn) Search(r *goldap.SearchRequest) (*goldap.SearchResult, error) {
	name := strings.TrimPrefix(strings.Split(r.BaseDN, ",")[0], "uid=")
	return &goldap.SearchResult{Entries: []*goldap.Entry{goldap.NewEntry(r.BaseDN, map[string][]string{"uid": {name}})}}, nil
}
func (f *fakeConn) SearchWithPaging(r *goldap.SearchRequest, _ uint32) (*goldap.SearchResult, error) {
	return f.Search(r)
}
func (f *fakeConn) Modify(*goldap.ModifyRequest) error { return nil }
func (f *fakeConn) Extended(*goldap.ExtendedRequest) (*goldap.ExtendedResponse, error) {
	if f.ext != nil {
		if err := f.ext(); err != nil {
			return nil, err
		}
	}
	return &goldap.ExtendedResponse{}, nil
}
func (f *fakeConn) SetTimeout(d time.Duration) { f.timeout = d }
func (f *fakeConn) IsClosing() bool            { return f.closed.Load() }
func (f *fakeConn) Close() error               { f.closed.Store(true); return nil }
func (f *fakeConn) Unbind() error              { return f.Close() }

func fakeDirectory(t *testing.T, retries int, dial func(ctx context.Context) (conn, error)) *Directory {
	t.Helper()
	d, err := New(Config{URL: "ldaps://x", BindDN: "cn=svc", BindPassword: "pw", UserDNTemplate: "uid=%s,dc=x", Retries: retries, PoolSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	d.dialFn = dial
	return d
}

// TestRetries: transient failures to connect are retried; refusals, and
// failures after the server may have acted, are not.
func TestRetries(t *testing.T) {
	t.Parallel()
	t.Run("DialRetried", func(t *testing.T) {
		t.Parallel()
		var dials atomic.Int32
		d := fakeDirectory(t, 3, func(context.Context) (conn, error) {
			if dials.Add(1) < 3 {
				return nil, goldap.NewError(goldap.LDAPResultConnectError, errors.New("refused"))
			}
			return &fakeConn{}, nil
		})
		if err := d.ResetPassword(context.Background(), "alice", "New-Pass-1"); err != nil {
			t.Fatal(err)
		}
		if dials.Load() != 3 {
			t.Fatalf("%d dials, want 3", dials.Load())
		}
	})
	t.Run("RefusalNotRetried", func(t *testing.T) {
		t.Parallel()
		var calls atomic.Int32
		d := fakeDirectory(t, 3, func(context.Context) (conn, error) {
			return &fakeConn{ext: func() error { calls.Add(1); return ldapError(19, "", 8) }}, nil
		})
		if got := password.ErrorCode(d.ResetPassword(context.Background(), "alice", "New-Pass-1")); got != password.EPOLICY {
			t.Fatalf("code %q", got)
		}
		if calls.Load() != 1 {
			t.Fatalf("%d attempts, want 1", calls.Load())
		}
	})
	t.Run("TimeoutAfterSendNotRetried", func(t *testing.T) {
		t.Parallel()
		var calls atomic.Int32
		d := fakeDirectory(t, 3, func(context.Context) (conn, error) {
			return &fakeConn{ext: func() error {
				calls.Add(1)
				return goldap.NewError(goldap.ErrorNetwork, errors.New("ldap: connection timed out"))
			}}, nil
		})
		if got := password.ErrorCode(d.ResetPassword(context.Background(), "alice", "New-Pass-1")); got != password.EUNAVAILABLE {
			t.Fatalf("code %q", got)
		}
		if calls.Load() != 1 {
			t.Fatalf("%d attempts, want 1: the reset may have been applied", calls.Load())
		}
	})
	t.Run("BusyRetried", func(t *testing.T) {
		t.Parallel()
		var calls atomic.Int32
		d := fakeDirectory(t, 3, func(context.Context) (conn, error) {
			return &fakeConn{ext: func() error {
				if calls.Add(1) < 3 {
					return ldapError(51, "busy", -1)
				}
				return nil
			}}, nil
		})
		if err := d.ResetPassword(context.Background(), "alice", "New-Pass-1"); err != nil {
			t.Fatal(err)
		}
		if calls.Load() != 3 {
			t.Fatalf("%d attempts, want 3", calls.Load())
		}
	})
}

// TestPool: never more than PoolSize connections, broken ones are replaced,
// idle ones reused, and Close closes them.
func TestPool(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		conns []*fakeConn
		open  atomic.Int32
		peak  atomic.Int32
	)
	d := fakeDirectory(t, 0, func(context.Context) (conn, error) {
		c := &fakeConn{}
		c.ext = func() error {
			n := open.Add(1)
			defer open.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(time.Millisecond)
			return nil
		}
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		return c, nil
	})
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.ResetPassword(context.Background(), "alice", "New-Pass-1"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if peak.Load() > 2 || len(conns) > 2 {
		t.Fatalf("%d operations at once on %d connections, want at most 2", peak.Load(), len(conns))
	}
	// A connection that closed while idle is replaced.
	before := len(conns)
	for _, c := range conns {
		c.closed.Store(true)
	}
	if err := d.ResetPassword(context.Background(), "alice", "New-Pass-1"); err != nil {
		t.Fatal(err)
	}
	if len(conns) != before+1 {
		t.Fatalf("%d connections dialed, want %d", len(conns), before+1)
	}
	_ = d.Close()
	for i, c := range conns {
		if !c.closed.Load() {
			t.Errorf("connection %d still open after Close", i)
		}
	}
	if got := password.ErrorCode(d.ResetPassword(context.Background(), "alice", "New-Pass-1")); got != password.EUNAVAILABLE {
		t.Fatalf("after Close: %q", got)
	}
}

func TestGeneralizedTime(t *testing.T) {
	t.Parallel()
	want := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, s := range []string{"20260102030405Z", "20260102030405.000Z", "20260102040405+0100"} {
		if got := generalizedTime(s); !got.Equal(want) {
			t.Errorf("generalizedTime(%q) = %v", s, got)
		}
	}
	if !generalizedTime("garbage").IsZero() || !generalizedTime("").IsZero() {
		t.Error("garbage parsed")
	}
}

func TestConfigPrintsNoSecret(t *testing.T) {
	t.Parallel()
	c := Config{URL: "ldaps://x", BindDN: "cn=svc", BindPassword: "Bind-Secret-1"}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%v", &c), fmt.Sprintf("%s", c)} {
		if strings.Contains(s, "Bind-Secret-1") || !strings.Contains(s, "cn=svc") {
			t.Errorf("printed as %s", s)
		}
	}
}

// TestHungServer: a server that accepts and never answers costs OpTimeout and
// DialTimeout, not forever, and is EUNAVAILABLE.
func TestHungServer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	cfg := Config{URL: "ldap://" + ln.Addr().String(), InsecurePlain: true, BindDN: "cn=svc", BindPassword: "pw",
		UserDNTemplate: "uid=%s,dc=x", DialTimeout: 300 * time.Millisecond, OpTimeout: 300 * time.Millisecond}
	for name, stls := range map[string]bool{"plain": false, "starttls": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := cfg
			c.StartTLS = stls
			c.InsecurePlain = !stls
			d, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			start := time.Now()
			if got := password.ErrorCode(d.ResetPassword(context.Background(), "alice", "New-Pass-1")); got != password.EUNAVAILABLE {
				t.Errorf("reset: %q, want %q", got, password.EUNAVAILABLE)
			}
			if got := password.ErrorCode(d.ChangePassword(context.Background(), "alice", "Old-Pass-1", "New-Pass-1")); got != password.EUNAVAILABLE {
				t.Errorf("change: %q, want %q: %v", got, password.EUNAVAILABLE, d.ChangePassword(context.Background(), "alice", "Old-Pass-1", "New-Pass-1"))
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("took %v", took)
			}
			// The caller's shorter deadline wins.
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			start = time.Now()
			_ = d.ResetPassword(ctx, "alice", "New-Pass-1")
			if took := time.Since(start); took > 250*time.Millisecond {
				t.Errorf("with a 50ms deadline the reset took %v", took)
			}
		})
	}
}
