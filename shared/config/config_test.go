package config

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"chpass/shared/password"
)

func parse(tb testing.TB, yml string, rs ...Resolver) (*Config, error) {
	tb.Helper()
	return Parse(context.Background(), strings.NewReader(yml), rs...)
}

func TestParseDefaults(t *testing.T) {
	cfg, err := parse(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Policy != password.DefaultPolicy() {
		t.Errorf("policy = %+v, want the default", cfg.Policy)
	}
	if cfg.Store.MaxFailures != 5 || cfg.Store.Lockout != 15*time.Minute || cfg.Batch.Concurrency != 8 {
		t.Errorf("store/batch defaults not applied: %+v %+v", cfg.Store, cfg.Batch)
	}
	if cfg.SelfService.Directory != Embedded {
		t.Errorf("self_service.directory = %q", cfg.SelfService.Directory)
	}
}

func TestParseOverlaysAndResolves(t *testing.T) {
	t.Setenv("CHPASS_TEST_ALICE", "Alice-Old-Pass1!")
	t.Setenv("CHPASS_TEST_KEY", base64.StdEncoding.EncodeToString(make([]byte, 32)))
	cfg, err := parse(t, `
policy:
  minimum_password_length: 12
users:
  - name: alice
    password: ${CHPASS_TEST_ALICE}
access_keys:
  - id: AKALICE
    secret: literal-secret
    user: alice
  - id: AKADMIN
    secret: ${vault:admin}
    actions: [ModifyUserPasswords]
    clusters: ["*"]
clusters:
  ehpc-a:
    status: running
    directory: embedded
    policy:
      password_char_combination: 4
  ehpc-b:
    status: stopped
tasks:
  key: ${CHPASS_TEST_KEY}
`, ResolverFunc(func(_ context.Context, ref string) (string, bool, error) {
		if ref == "vault:admin" {
			return "from-vault", true, nil
		}
		return "", false, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Policy.MinimumPasswordLength != 12 || cfg.Policy.MaximumPasswordLength != 30 {
		t.Errorf("policy overlay wrong: %+v", cfg.Policy)
	}
	if got := cfg.Users[0].Password.Reveal(); got != "Alice-Old-Pass1!" {
		t.Errorf("env secret not resolved")
	}
	if cfg.AccessKeys[0].Secret.Reveal() != "literal-secret" || cfg.AccessKeys[1].Secret.Reveal() != "from-vault" {
		t.Errorf("access key secrets not resolved")
	}
	if p := cfg.ClusterPolicy("ehpc-a"); p.PasswordCharCombination != 4 || p.MinimumPasswordLength != 8 {
		t.Errorf("cluster policy should lay over the default policy: %+v", p)
	}
	if p := cfg.ClusterPolicy("ehpc-b"); p.MinimumPasswordLength != 12 {
		t.Errorf("cluster without policy should use the global one: %+v", p)
	}
	if k, err := cfg.TaskKey(); err != nil || len(k) != 32 {
		t.Errorf("task key: %v", err)
	}
}

func TestParseErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name, yml, want string
	}{
		{"UnknownKey", "polcy: {}\n", "polcy (line 1): unknown key; did you mean policy?"},
		{"UnknownNestedKey", "log_level: info\nstore:\n  pth: /tmp/x.db\n", "store.pth (line 3): unknown key; did you mean store.path?"},
		{"UnknownKeyFarFromAny", "store:\n  colour: blue\n", "store.colour (line 2): unknown key; the keys here are path, max_failures, lockout, argon2"},
		{"UnknownLDAPKey", "directories:\n  corp:\n    type: ldap\n    ldap: {url: 'ldaps://x', bind_dn: 'cn=a', bind_password: p, user_dn_templte: 'uid=%s,o=x'}\n",
			"directories[corp].ldap.user_dn_templte (line 4): unknown key; did you mean directories[corp].ldap.user_dn_template?"},
		{"UnknownKeysAll", "polcy: {}\nbatch:\n  concurency: 2\n", "polcy (line 1): unknown key; did you mean policy?; batch.concurency (line 3): unknown key; did you mean batch.concurrency?"},
		{"KeyOfAnotherMapping", "store:\n  path: /tmp/x.db\nlockout: 5m\n", "lockout (line 3): unknown key; it is a key of store: indent it under that"},
		{"BadDuration", "store:\n  lockout: a while\n", "store.lockout (line 2): must be a duration, such as 30s, 15m or 1h30m"},
		{"BadLDAPDuration", "directories:\n  corp:\n    type: ldap\n    ldap:\n      dial_timeout: 5\n", "directories[corp].ldap.dial_timeout (line 5): must be a duration"},
		{"BadNumber", "batch:\n  concurrency: many\n", "batch.concurrency (line 2): must be a whole number"},
		{"BadBool", "gateway:\n  trust: sure\n", "gateway.trust (line 2): must be true or false"},
		{"OverIndented", "store:\n  path: /tmp/x.db\n   max_failures: 5\nlog_level: info\n", "yaml: line 3: indented under a key that already has a value"},
		{"UnderIndented", "policy:\n  minimum_password_length: 8\n maximum_password_length: 30\nlog_level: info\n", "yaml: line 3: indented to a column where no key above it is"},
		{"UnderIndentedInList", "users:\n  - {name: a, password: b}\n  - name: c\n   password: d\nlog_level: info\n", "yaml: line 4: indented to a column"},
		{"Tab", "store:\n\tpath: x\n", "yaml: line 2: "},
		{"PolicyRange", "policy:\n  minimum_password_length: 4\n", "policy.minimum_password_length: must be at least 8"},
		{"MaxBelowMin", "policy:\n  minimum_password_length: 20\n  maximum_password_length: 10\n", "policy.maximum_password_length: must be at least minimum_password_length"},
		{"MissingSecret", "access_keys:\n  - id: AK1\n    user: alice\n", "access_keys[0].secret: is required"},
		{"KeyWithoutPurpose", "access_keys:\n  - id: AK1\n    secret: s\n", "access_keys[0]: needs user"},
		{"FullwidthKeyUser", "access_keys:\n  - {id: AK1, secret: s, user: \"\uff41lice\"}\n", "access_keys[0].user: is not a prepared user name"},
		{"DuplicateKey", "access_keys:\n  - {id: AK1, secret: s, user: a}\n  - {id: AK1, secret: t, user: b}\n", "access_keys[1].id: repeats"},
		{"BadStatus", "clusters:\n  c1:\n    status: melting\n", "clusters[c1].status: must be one of"},
		{"UnknownDirectory", "clusters:\n  c1:\n    status: running\n    directory: corp\n", "clusters[c1].directory: \"corp\" is neither"},
		{"BadUserName", "users:\n  - {name: 'a)(uid=*', password: x}\n", "users[0].name:"},
		{"UnsetEnv", "users:\n  - {name: alice, password: '${CHPASS_SURELY_UNSET_VAR}'}\n", "users[0].password: cannot resolve ${CHPASS_SURELY_UNSET_VAR}"},
		{"NoResolver", "tokens:\n  hs256_secret: ${arn:aws:secretsmanager:x}\n", "tokens.hs256_secret: no resolver serves this reference"},
		{"BracesUnsetEnv", "tokens:\n  hs256_secret: '{{CHPASS_SURELY_UNSET_VAR}}'\n", "tokens.hs256_secret: cannot resolve {{CHPASS_SURELY_UNSET_VAR}}"},
		{"BracesNoResolver", "access_keys_from: '{{kms:chpass/keys}}'\n", "access_keys_from: no resolver serves this reference"},
		{"SecondDocument", "log_level: info\n---\nstore: {path: /tmp/x.db}\n", "yaml: more than one document"},
		{"BadTaskKey", "tasks:\n  key: c2hvcnQ=\n", "tasks.key: must be the base64 of 32 bytes"},
		{"BadLogLevel", "log_level: loud\n", "log_level: must be one of"},
		{"LDAPWithoutSettings", "directories:\n  corp: {type: ldap}\n", "directories[corp].ldap: is required"},
		{"LDAPBadURL", "directories:\n  corp:\n    type: ldap\n    ldap: {url: 'http://x', bind_dn: 'cn=a', bind_password: p}\n", "directories[corp].ldap.url:"},
		{"LDAPUnsetSecret", "directories:\n  corp:\n    type: ldap\n    ldap: {url: 'ldaps://x', bind_dn: 'cn=a', bind_password: '${CHPASS_UNSET_BIND}', user_dn_template: 'uid=%s,dc=x'}\n", "directories[corp].ldap.bind_password: cannot resolve"},
		{"LDAPNoUserLocation", "directories:\n  corp:\n    type: ldap\n    ldap: {url: 'ldaps://x', bind_dn: 'cn=a', bind_password: p}\n", "directories[corp].ldap.user_search: set exactly one of user_search and user_dn_template"},
		{"ADPlain", adDir("url: 'ldap://dc1', insecure_plain: true"), "directories[ad].ldap.insecure_plain: Active Directory refuses password changes over a plain connection"},
		{"ADNoStartTLS", adDir("url: 'ldap://dc1'"), "directories[ad].ldap.url: Active Directory changes passwords only over an encrypted connection"},
		{"ADNameAttribute", adDir("url: 'ldaps://dc1', name_attribute: uid"), "directories[ad].ldap.name_attribute: must be sAMAccountName or userPrincipalName"},
		{"ADNoBase", "directories:\n  ad:\n    type: ldap\n    ldap: {dialect: active_directory, url: 'ldaps://dc1', bind_dn: 'cn=a', bind_password: p}\n", "directories[ad].ldap.user_search.base: is required on Active Directory"},
		{"ADTemplate", adDir("url: 'ldaps://dc1', user_dn_template: 'cn=%s,dc=x'"), "directories[ad].ldap.user_dn_template: Active Directory names entries by cn"},
		{"ADExop", adDir("url: 'ldaps://dc1', use_exop: true"), "directories[ad].ldap.use_exop: Active Directory has no Password Modify operation"},
		{"ADShadow", adDir("url: 'ldaps://dc1', shadow_last_change: true"), "directories[ad].ldap.shadow_last_change: applies to OpenLDAP"},
		{"ADBadDialect", "directories:\n  ad:\n    type: ldap\n    ldap: {dialect: ad, url: 'ldaps://dc1', bind_dn: 'cn=a', bind_password: p, user_search: {base: 'dc=x'}}\n", "directories[ad].ldap.dialect: must be one of openldap, active_directory"},
		{"ADPageSize", adDir("url: 'ldaps://dc1', page_size: -1"), "directories[ad].ldap.page_size: must be at least 0"},
		{"ListGroupOnOpenLDAP", "directories:\n  corp:\n    type: ldap\n    ldap: {url: 'ldaps://x', bind_dn: 'cn=a', bind_password: p, user_dn_template: 'uid=%s,dc=x', list_group: 'cn=g,dc=x'}\n", "directories[corp].ldap.list_group: applies to Active Directory only"},
		{"ResetMustChangeOnOpenLDAP", "directories:\n  corp:\n    type: ldap\n    ldap: {url: 'ldaps://x', bind_dn: 'cn=a', bind_password: p, user_dn_template: 'uid=%s,dc=x'}\nclusters:\n  c1: {directory: corp, status: running, reset: {must_change: true}}\n", "clusters[c1].reset.must_change: needs a directory of dialect active_directory"},
		{"ResetUnlockOnEmbedded", "clusters:\n  c1: {directory: embedded, status: running, reset: {unlock: true}}\n", "clusters[c1].reset.unlock: needs a directory of dialect active_directory"},
		{"ResetUnknownKey", adDir("url: 'ldaps://dc1'") + "clusters:\n  c1: {directory: ad, status: running, reset: {expire: true}}\n", "clusters[c1].reset.expire (line 6): unknown key; the keys here are must_change, unlock"},
		{"MissingTokenFile", "tokens:\n  jwks_file: /nonexistent/jwks.json\n", "tokens.jwks_file: no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.yml)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseLDAPDirectory(t *testing.T) {
	t.Setenv("CHPASS_TEST_BIND", "bind-secret")
	cfg, err := parse(t, `
self_service: {directory: corp}
directories:
  corp:
    type: ldap
    ldap:
      url: ldaps://ldap.example.test
      bind_dn: cn=pwadmin,dc=example,dc=test
      bind_password: ${CHPASS_TEST_BIND}
      user_dn_template: uid=%s,ou=people,dc=example,dc=test
clusters:
  c1: {directory: corp, status: running}
`)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Directories["corp"].LDAP.BindPassword; got != "bind-secret" {
		t.Fatalf("bind_password not resolved")
	}
}

func TestSecretNeverPrints(t *testing.T) {
	t.Setenv("CHPASS_TEST_CANARY", "canary-Secret-7731!")
	cfg, err := parse(t, "users:\n  - {name: alice, password: '${CHPASS_TEST_CANARY}'}\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		cfg.Users[0].Password.String(),
		strings.Join([]string{cfg.Users[0].Password.GoString()}, ""),
		fmt.Sprintf("%v %+v %#v %s", cfg.Users[0], cfg.Users[0], cfg.Users[0], cfg.Users[0].Password),
	} {
		if strings.Contains(s, "canary-Secret-7731!") {
			t.Fatalf("secret printed in clear: %s", s)
		}
	}
	// An unresolvable reference must not echo a resolved value either.
	_, err = parse(t, "users:\n  - {name: alice, password: '${CHPASS_TEST_MISSING}'}\n", ResolverFunc(func(context.Context, string) (string, bool, error) {
		return "", true, errors.New("boom")
	}))
	if err == nil || strings.Contains(err.Error(), "canary") {
		t.Fatalf("err = %v", err)
	}
}

// TestAccessKeysFrom loads access keys from one secret holding their list, as the
// deployment templates do, and checks that a malformed or invalid list is refused
// without quoting the secret.
func TestAccessKeysFrom(t *testing.T) {
	const canary = "CANARY-sk-0123456789"
	secrets := map[string]string{
		"keys-json": `[{"id":"AKALICE","secret":"` + canary + `","user":"alice"},{"id":"AKADMIN","secret":"` + canary + `2","actions":["ModifyUserPasswords"],"clusters":["*"]}]`,
		"keys-yaml": "- {id: AKALICE, secret: " + canary + ", user: alice}\n",
		"not-list":  "id: AKALICE secret " + canary,
		"unknown":   `[{"id":"AKALICE","secret":"` + canary + `","user":"alice","sekret":"` + canary + `"}]`,
		"empty-sk":  `[{"id":"AKALICE","secret":"","user":"alice"}]`,
		"no-use":    `[{"id":"AKALICE","secret":"` + canary + `"}]`,
		"repeat":    `[{"id":"AKFILE","secret":"` + canary + `","user":"bob"}]`,
		"reference": `[{"id":"AKREF","secret":"${SELF_SK}","user":"bob"}]`,
		"two-docs":  "- {id: AKALICE, secret: " + canary + ", user: alice}\n---\n- {id: AKB, secret: x, user: b}\n",
		"empty":     `[]`,
	}
	vault := ResolverFunc(func(_ context.Context, ref string) (string, bool, error) {
		name, ok := strings.CutPrefix(ref, "vault:")
		if !ok {
			return "", false, nil
		}
		return secrets[name], true, nil
	})
	fileKey := "access_keys:\n  - {id: AKFILE, secret: file-secret, user: bob}\n"
	tests := []struct {
		name    string
		yml     string
		wantIDs []string
		wantErr string
	}{
		{"JSON", "access_keys_from: ${vault:keys-json}\n", []string{"AKALICE", "AKADMIN"}, ""},
		{"YAMLAfterFileKeys", fileKey + "access_keys_from: ${vault:keys-yaml}\n", []string{"AKFILE", "AKALICE"}, ""},
		{"NotAList", "access_keys_from: ${vault:not-list}\n", nil, "access_keys_from: the secret is not a YAML or JSON list of access keys"},
		{"UnknownField", "access_keys_from: ${vault:unknown}\n", nil, "access_keys_from: the secret is not a YAML or JSON list"},
		{"EmptyList", "access_keys_from: ${vault:empty}\n", nil, "access_keys_from: the secret is not a YAML or JSON list"},
		{"EmptySecret", "access_keys_from: ${vault:empty-sk}\n", nil, "access_keys_from[0].secret: is required"},
		{"NoUse", "access_keys_from: ${vault:no-use}\n", nil, "access_keys_from[0]: needs user (self-service) or actions (admin)"},
		{"RepeatsFileKey", fileKey + "access_keys_from: ${vault:repeat}\n", nil, "access_keys_from[0].id: repeats an earlier key"},
		{"ReferenceInside", "access_keys_from: ${vault:reference}\n", nil, "access_keys_from[0].secret: references are not resolved inside access_keys_from"},
		{"TwoDocuments", "access_keys_from: ${vault:two-docs}\n", nil, "access_keys_from: the secret is not a YAML or JSON list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parse(t, tt.yml, vault)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), canary) {
					t.Fatalf("the error quotes the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, k := range cfg.AccessKeys {
				ids = append(ids, k.ID)
				if k.Secret.IsZero() {
					t.Errorf("%s: empty secret", k.ID)
				}
			}
			if fmt.Sprint(ids) != fmt.Sprint(tt.wantIDs) {
				t.Fatalf("keys = %v, want %v", ids, tt.wantIDs)
			}
			if got := fmt.Sprintf("%v %+v", cfg, cfg); strings.Contains(got, canary) {
				t.Fatal("the configuration prints a secret")
			}
		})
	}
}

// TestReferenceForms resolves the two spellings of a reference alike, and leaves
// values that only look like one literal.
func TestReferenceForms(t *testing.T) {
	t.Setenv("CHPASS_TEST_REF", "from-env")
	tests := []struct{ name, value, want string }{
		{"Dollar", "${CHPASS_TEST_REF}", "from-env"},
		{"Braces", "{{CHPASS_TEST_REF}}", "from-env"},
		{"Literal", "plain-secret", "plain-secret"},
		{"Embedded", "x${CHPASS_TEST_REF}", "x${CHPASS_TEST_REF}"},
		{"Mixed", "${CHPASS_TEST_REF}}", "${CHPASS_TEST_REF}}"},
		{"HalfBraces", "{CHPASS_TEST_REF}", "{CHPASS_TEST_REF}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parse(t, "tokens:\n  hs256_secret: '"+tt.value+"'\n")
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Tokens.HS256Secret.Reveal(); got != tt.want {
				t.Fatalf("resolved to %q, want %q", got, tt.want)
			}
		})
	}
}

// TestErrorsDoNotQuoteValues feeds values in the wrong place, and references no
// resolver serves: the errors name the key and line, never the value.
func TestErrorsDoNotQuoteValues(t *testing.T) {
	const canary = "Hunter2-CANARY-secret"
	tests := []struct{ name, yml, want string }{
		{"ScalarForMapping", "tokens: " + canary + "\n", "tokens (line 1): must be a mapping of keys (issuer, audience,"},
		{"ScalarForList", "users: " + canary + "\n", "users (line 1): must be a list"},
		{"WrongKindDeep", "store:\n  lockout: " + canary + "\n", "store.lockout (line 2): must be a duration"},
		{"SyntaxError", "tokens: [" + canary + "\n", "yaml: line "},
		{"LiteralThatLooksLikeAReference", "tokens:\n  hs256_secret: '{{" + canary + "}}'\n", "tokens.hs256_secret: no resolver serves this reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.yml)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "Hunter") {
				t.Fatalf("the error quotes the value: %v", err)
			}
		})
	}
}

// adDir is a configuration with one Active Directory directory "ad", with more
// settings in its ldap block.
func adDir(more string) string {
	return "directories:\n  ad:\n    type: ldap\n    ldap: {dialect: active_directory, bind_dn: 'cn=a', bind_password: p, user_search: {base: 'OU=People,DC=x'}, " + more + "}\n"
}

// TestADClusterResetOptions: an Active Directory directory with its defaults,
// and a cluster that resets with both options.
func TestADClusterResetOptions(t *testing.T) {
	yml := adDir("url: 'ldaps://dc1', list_group: 'CN=hpc,OU=Groups,DC=x'") +
		"clusters:\n  c1: {directory: ad, status: running, reset: {must_change: true, unlock: true}}\n  c2: {directory: ad, status: running}\n"
	cfg, err := Parse(context.Background(), strings.NewReader(yml))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Clusters["c1"].Reset; !got.MustChange || !got.Unlock {
		t.Fatalf("c1 reset = %+v, want both", got)
	}
	if got := cfg.Clusters["c2"].Reset; got != (ClusterReset{}) {
		t.Fatalf("c2 reset = %+v, want both off by default", got)
	}
	if l := cfg.Directories["ad"].LDAP; l.Dialect != "active_directory" || l.ListGroup != "CN=hpc,OU=Groups,DC=x" {
		t.Fatalf("ldap = %v", l)
	}
}

func TestRedis(t *testing.T) {
	secret := ResolverFunc(func(_ context.Context, ref string) (string, bool, error) {
		switch ref {
		case "arn:aws:secretsmanager:us-east-1:123456789012:secret:redis-AbCdEf#password":
			return "Redis-Auth-Token-1", true, nil
		case "arn:aws:secretsmanager:us-east-1:123456789012:secret:redis-AbCdEf#username":
			return "chpass", true, nil
		}
		return "", false, nil
	})
	cfg, err := parse(t, `
redis:
  address: rediss://cache.example:6379
  username: ${arn:aws:secretsmanager:us-east-1:123456789012:secret:redis-AbCdEf#username}
  password: ${arn:aws:secretsmanager:us-east-1:123456789012:secret:redis-AbCdEf#password}
  key_prefix: "prod:"
  timeout: 300ms
`, secret)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Redis
	if r.Address != "rediss://cache.example:6379" || r.Username.Reveal() != "chpass" || r.Password.Reveal() != "Redis-Auth-Token-1" ||
		r.KeyPrefix != "prod:" || r.Timeout != 300*time.Millisecond {
		t.Errorf("redis = %+v", r)
	}
	for _, tt := range []struct{ yml, want string }{
		{"redis:\n  password: x\n", "redis.address: is required"},
		{"redis:\n  address: a:1\n  timeout: 1h\n", "redis.timeout: must be at most"},
		{"redis:\n  address: a:1\n  password: ${kms:nope}\n", "redis.password: no resolver serves"},
		{"redis:\n  address: a:1\n  user_lockout: true\n", "redis.user_lockout: the embedded store has a lockout of its own"},
	} {
		if _, err := parse(t, tt.yml); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.yml, err, tt.want)
		}
	}
}
