// Package config loads chpass's one YAML configuration file, validates it with
// validator/v10 and resolves the secrets it references, once, at start.
package config

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-playground/validator/v10"
	"go.yaml.in/yaml/v3"

	"chpass/shared/password"
)

// Embedded names the embedded store wherever a directory is named.
const Embedded = "embedded"

// Config is the whole configuration. Its YAML keys are documented in the README.
type Config struct {
	LogLevel    string          `yaml:"log_level" validate:"omitempty,oneof=debug info warn error"`
	Store       Store           `yaml:"store"`
	Policy      password.Policy `yaml:"policy"`
	SelfService SelfService     `yaml:"self_service"`
	Users       []User          `yaml:"users" validate:"dive"`
	AccessKeys  []AccessKey     `yaml:"access_keys" validate:"dive"`
	// AccessKeysFrom is a ${REF} to one secret whose value is a YAML or JSON list
	// of access keys, with the fields of access_keys; Parse appends them to
	// AccessKeys. Deployments keep every key in the cloud's secret service this way.
	AccessKeysFrom Secret               `yaml:"access_keys_from"`
	Tokens         Tokens               `yaml:"tokens"`
	Gateway        Gateway              `yaml:"gateway"`
	CORS           CORS                 `yaml:"cors"`
	Events         Events               `yaml:"events"`
	Page           Page                 `yaml:"page"`
	Forgotten      Forgotten            `yaml:"forgotten"`
	Directories    map[string]Directory `yaml:"directories" validate:"dive"`
	Clusters       map[string]Cluster   `yaml:"clusters" validate:"dive"`
	Batch          Batch                `yaml:"batch"`
	Tasks          Tasks                `yaml:"tasks"`
	Rotation       Rotation             `yaml:"rotation"`
	Redis          Redis                `yaml:"redis"`
}

// Rotation configures the rotate-password function.
type Rotation struct {
	// Backend is the secret service: "secretsmanager", "kms" or "embedded"; empty means the
	// platform's (Lambda: secretsmanager, Function Compute: kms, local: embedded).
	Backend string `yaml:"backend" validate:"omitempty,oneof=secretsmanager kms embedded"`
	// Secrets names the secrets a timer rotates when its payload names none.
	Secrets []string `yaml:"secrets"`
	// Key is the base64 of the 32-byte AES-GCM key that seals the embedded backend's values.
	Key Secret `yaml:"key"`
	// Seed creates these secrets in the embedded backend when they are missing (local use).
	Seed map[string]Secret `yaml:"seed"`
	// Schedule is a five-field cron expression (minute hour day month weekday, UTC) on which
	// functions/local rotates Secrets; empty means no local schedule.
	Schedule string `yaml:"schedule"`
}

// Store configures the embedded store: one bbolt file.
type Store struct {
	Path        string        `yaml:"path" validate:"required"`
	MaxFailures int           `yaml:"max_failures" validate:"min=1,max=100"`
	Lockout     time.Duration `yaml:"lockout" validate:"min=0"`
	Argon2      Argon2        `yaml:"argon2"`
}

// Argon2 sets the cost of the embedded store's argon2id hashes; zero keeps the default.
type Argon2 struct {
	Time      uint32 `yaml:"time" validate:"max=16"`
	MemoryKiB uint32 `yaml:"memory_kib" validate:"omitempty,min=8,max=1048576"`
	Threads   uint8  `yaml:"threads" validate:"max=16"`
}

// SelfService says where self-service changes go.
type SelfService struct {
	// Directory is "embedded" or the name of an entry of directories.
	Directory string `yaml:"directory" validate:"required"`
}

// User is an account the embedded store is seeded with when it is missing.
// An existing account's password is never overwritten.
type User struct {
	Name     string `yaml:"name" validate:"required,max=64"`
	Password Secret `yaml:"password" validate:"secret"`
}

// AccessKey is an AK/SK pair. A key with User proves that user's identity for
// self-service; a key with Actions and Clusters may call those admin actions.
type AccessKey struct {
	ID       string   `yaml:"id" validate:"required,min=3,max=128,printascii,excludesall=&=%"`
	Secret   Secret   `yaml:"secret" validate:"secret"`
	User     string   `yaml:"user" validate:"max=64"`
	Actions  []string `yaml:"actions" validate:"dive,required"`
	Clusters []string `yaml:"clusters" validate:"dive,required"`
}

// Tokens configures the verification of bearer JWTs: with offline keys
// (hs256_secret, public_key_files, jwks_file) when any is set, else, with issuer
// alone, with the keys an OpenID Connect provider publishes (discovery).
type Tokens struct {
	Issuer          string        `yaml:"issuer" validate:"omitempty,url"`
	Audience        string        `yaml:"audience"`
	AuthorizedParty string        `yaml:"authorized_party"`
	UserClaim       string        `yaml:"user_claim"`
	HS256Secret     Secret        `yaml:"hs256_secret"`
	PublicKeyFiles  []string      `yaml:"public_key_files" validate:"dive,file"`
	JWKSFile        string        `yaml:"jwks_file" validate:"omitempty,file"`
	Leeway          time.Duration `yaml:"leeway" validate:"min=0,max=10m"`
	FetchTimeout    time.Duration `yaml:"fetch_timeout" validate:"min=0,max=10s"`
	RefetchInterval time.Duration `yaml:"refetch_interval" validate:"min=0,max=1h"`
}

// Enabled reports whether tokens are accepted: a key or an issuer to discover.
func (t Tokens) Enabled() bool {
	return !t.HS256Secret.IsZero() || len(t.PublicKeyFiles) > 0 || t.JWKSFile != "" || t.Issuer != ""
}

// Discovery reports whether the keys are found by OpenID Connect discovery.
func (t Tokens) Discovery() bool {
	return t.Issuer != "" && t.HS256Secret.IsZero() && len(t.PublicKeyFiles) == 0 && t.JWKSFile == ""
}

// CORS lists the browser origins that may call caller-password (never the
// E-HPC API). "*" stands alone and never with allow_credentials.
type CORS struct {
	AllowedOrigins   []string      `yaml:"allowed_origins" validate:"dive,required"`
	AllowCredentials bool          `yaml:"allow_credentials"`
	MaxAge           time.Duration `yaml:"max_age" validate:"min=0,max=24h"`
}

// Page turns on caller-password's self-service page at Path (off when empty).
// Issuer defaults to tokens.issuer.
type Page struct {
	Path           string   `yaml:"path"`
	Issuer         string   `yaml:"issuer" validate:"omitempty,url"`
	ClientID       string   `yaml:"client_id" validate:"required_with=Path"`
	Scope          string   `yaml:"scope"`
	Token          string   `yaml:"token" validate:"omitempty,oneof=id_token access_token"`
	ConnectOrigins []string `yaml:"connect_origins" validate:"dive,url"`
}

// Forgotten configures resets of forgotten or expired passwords; each path is
// off unless configured.
type Forgotten struct {
	// IdP: a person who has just signed in at the identity provider with a
	// strong method sets a new password without the old one (POST
	// /v5/caller-password/reset, an admin reset of that one account).
	IdP *ForgottenIdP `yaml:"idp"`
	// OldPassword: user name, old and new password with no sign-in (POST
	// /v5/caller-password/old-password), for expired passwords. Allowed in front
	// of the embedded store (it locks out after store.max_failures) and of an LDAP
	// directory only with directory_locks_out, the operator's word that ppolicy's
	// pwdLockout (or AD's lockout threshold) is on.
	OldPassword *ForgottenOldPassword `yaml:"old_password"`
}

// ForgottenOldPassword configures the old-password path.
type ForgottenOldPassword struct {
	DirectoryLocksOut bool `yaml:"directory_locks_out"`
	PerUserPerHour    int  `yaml:"per_user_per_hour" validate:"min=0,max=50"`
	PerSourcePerHour  int  `yaml:"per_source_per_hour" validate:"min=0,max=1000"`
}

// ForgottenIdP says how recent and how strong the sign-in must be.
type ForgottenIdP struct {
	MaxAge         time.Duration `yaml:"max_age" validate:"required,min=1m,max=1h"`
	AMR            []string      `yaml:"amr"`
	ACR            []string      `yaml:"acr"`
	PerUserPerHour int           `yaml:"per_user_per_hour" validate:"min=0,max=20"`
}

// Events says where change events go: none, or any of an EventBridge bus and a
// signed webhook.
type Events struct {
	// Timeout is the most publishing may add to a change; default 2s.
	Timeout     time.Duration      `yaml:"timeout" validate:"min=0,max=10s"`
	EventBridge *EventBridgeEvents `yaml:"eventbridge"`
	Webhook     *WebhookEvents     `yaml:"webhook"`
}

// EventBridgeEvents puts events on an Amazon EventBridge bus (AWS builds only).
type EventBridgeEvents struct {
	Bus    string `yaml:"bus" validate:"required"`
	Region string `yaml:"region"`
}

// WebhookEvents posts events, HMAC-SHA256 signed, to an HTTPS URL (also Alibaba
// Cloud EventBridge's HTTPS event source).
type WebhookEvents struct {
	URL         string `yaml:"url" validate:"required,url"`
	Secret      Secret `yaml:"secret" validate:"secret"`
	MaxAttempts int    `yaml:"max_attempts" validate:"min=0,max=10"`
}

// Gateway says whether an API gateway's authorizer, as the platform event reports
// it, proves the caller.
type Gateway struct {
	Trust     bool   `yaml:"trust"`
	UserClaim string `yaml:"user_claim"`
}

// Directory is a directory other than the embedded store.
type Directory struct {
	Type string `yaml:"type" validate:"oneof=ldap"`
	// LDAP holds the settings of an OpenLDAP or Active Directory directory
	// (dialect says which); its bind_password may be a ${REF}.
	LDAP *LDAP `yaml:"ldap" validate:"required_if=Type ldap"`
	// BindPasswordRef is the reference bind_password was written as ("" for a literal), kept so
	// that an instance can re-read the secret when it is rotated.
	BindPasswordRef string `yaml:"-"`
}

// Cluster is an E-HPC cluster: the directory its users live in, its policy and
// its status.
type Cluster struct {
	Directory string           `yaml:"directory"`
	Status    string           `yaml:"status" validate:"required,oneof=running stopped exception installing uninstalling upgrading"`
	Policy    *password.Policy `yaml:"policy"`
	// Reset says what an admin reset does besides setting the password, on an
	// Active Directory directory.
	Reset ClusterReset `yaml:"reset"`
}

// ClusterReset are a cluster's reset options; both off by default. They need a
// directory of dialect active_directory.
type ClusterReset struct {
	// MustChange makes the user change the password at the next logon (pwdLastSet=0).
	MustChange bool `yaml:"must_change"`
	// Unlock unlocks a locked-out account (lockoutTime=0).
	Unlock bool `yaml:"unlock"`
}

// Batch configures the admin batch.
type Batch struct {
	Concurrency int `yaml:"concurrency" validate:"min=1,max=64"`
}

// Tasks configures asynchronous batches.
type Tasks struct {
	// Key is the base64 of the 32-byte AES-GCM key that seals the passwords of waiting tasks.
	Key Secret `yaml:"key"`
	// Lease is how long a run's claim on a task lasts unless renewed: after an
	// instance dies, another takes its task over once the lease has run out.
	// Default one minute.
	Lease time.Duration `yaml:"lease" validate:"min=0,max=1h"`
}

// Redis configures the state that every instance must share (used nonces,
// bad-signature lockouts); without an address each process keeps its own.
type Redis struct {
	// Address is rediss://host:port[/db] or host:port (TLS either way), or
	// redis://host:port on loopback only.
	Address    string `yaml:"address"`
	CAFile     string `yaml:"ca_file" validate:"omitempty,file"`
	ServerName string `yaml:"server_name"`
	// Username is the ACL user (empty: "default"); Password its password or
	// the AUTH token. Either may be a ${REF} (a #key picks a field of a JSON secret).
	Username  Secret `yaml:"username"`
	Password  Secret `yaml:"password"`
	KeyPrefix string `yaml:"key_prefix" validate:"max=64"`
	// UserLockout counts wrong old passwords per user in Redis (store.max_failures
	// lock for store.lockout) for self-service on a directory with no lockout
	// of its own. Leave it off for OpenLDAP with ppolicy and for Active Directory.
	UserLockout bool          `yaml:"user_lockout"`
	DialTimeout time.Duration `yaml:"dial_timeout" validate:"min=0,max=30s"`
	Timeout     time.Duration `yaml:"timeout" validate:"min=0,max=10s"`
}

// Default returns the configuration that a file's settings are laid over.
func Default() Config {
	return Config{
		LogLevel:    "info",
		Store:       Store{Path: "chpass.db", MaxFailures: 5, Lockout: 15 * time.Minute},
		Policy:      password.DefaultPolicy(),
		SelfService: SelfService{Directory: Embedded},
		Tokens:      Tokens{UserClaim: "sub", Leeway: 30 * time.Second},
		Gateway:     Gateway{UserClaim: "username"},
		Batch:       Batch{Concurrency: 8},
	}
}

// UnmarshalYAML lays a cluster's policy over the default policy, so that a cluster
// names only what differs.
func (c *Cluster) UnmarshalYAML(n *yaml.Node) error {
	type plain Cluster
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	if err := knownKeys(n, reflect.TypeFor[plain]()); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	if p.Policy != nil {
		pol := password.DefaultPolicy()
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "policy" {
				if err := n.Content[i+1].Decode(&pol); err != nil {
					return err
				}
			}
		}
		p.Policy = &pol
	}
	*c = Cluster(p)
	return nil
}

// knownKeys refuses the first key under n that no field of t takes, at any
// depth, as the file's decoder does (KnownFields): a Node's own Decode does not
// (a typo such as reset.must_chang would otherwise pass unseen). It walks the
// node, where encoding it and decoding the text again with KnownFields cost a
// start 40 KB and the YAML encoder's code per cluster. Types that decode
// themselves (yaml.Unmarshaler) check their own keys.
func knownKeys(n *yaml.Node, t reflect.Type) error {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.ShortTag() == "!!merge" {
				// << merges a mapping, or a list of them, into this one.
				merged := []*yaml.Node{v}
				if v.Kind == yaml.SequenceNode {
					merged = v.Content
				}
				for _, m := range merged {
					if err := knownKeys(m, t); err != nil {
						return err
					}
				}
				continue
			}
			f, ok := fields[k.Value]
			if !ok {
				name := t.String()
				if t.Name() == "plain" {
					name = "the mapping"
				}
				return fmt.Errorf("field %s not found in type %s", k.Value, name)
			}
			if err := knownKeys(v, f.Type); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			if err := knownKeys(n.Content[i], t.Elem()); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for _, item := range n.Content {
			if err := knownKeys(item, t.Elem()); err != nil {
				return err
			}
		}
	}
	return nil
}

// TaskKey returns the decoded tasks key, or nil when none is set.
func (c *Config) TaskKey() ([]byte, error) {
	if c.Tasks.Key.IsZero() {
		return nil, nil
	}
	k, err := base64.StdEncoding.DecodeString(c.Tasks.Key.Reveal())
	if err != nil || len(k) != 32 {
		return nil, errors.New("tasks.key: must be the base64 of 32 bytes")
	}
	return k, nil
}

// ClusterPolicy returns the policy of the named cluster: its own, or the global one.
func (c *Config) ClusterPolicy(id string) password.Policy {
	if cl, ok := c.Clusters[id]; ok && cl.Policy != nil {
		return *cl.Policy
	}
	return c.Policy
}

// Load reads the file at path, lays it over Default, validates it, and resolves its
// secrets with Env and then resolvers. Every error names the offending key.
func Load(ctx context.Context, path string, resolvers ...Resolver) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	cfg, err := Parse(ctx, f, resolvers...)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse is Load on a reader.
func Parse(ctx context.Context, r io.Reader, resolvers ...Resolver) (*Config, error) {
	data, err := readConfig(r)
	if err != nil {
		return nil, err
	}
	cfg := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, explainYAML(data, err)
	}
	if err := onlyDocument(dec); err != nil {
		return nil, err
	}
	if err := validate(&cfg); err != nil {
		return nil, err
	}
	if err := resolveAll(ctx, &cfg, append([]Resolver{Env}, resolvers...)); err != nil {
		return nil, err
	}
	if err := cfg.addAccessKeysFrom(); err != nil {
		return nil, err
	}
	if _, err := cfg.TaskKey(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// maxConfigBytes is how much of a configuration Parse reads.
const maxConfigBytes = 4 << 20

// readConfig reads at most maxConfigBytes of r, as io.ReadAll of a LimitReader
// does, but into one buffer of the right size when r tells its length (a file,
// the text of $CHPASS_CONFIG_YAML): io.ReadAll's doublings from 512 bytes each
// took a fresh page of another size class at every start.
func readConfig(r io.Reader) ([]byte, error) {
	size := 512
	switch s := r.(type) {
	case interface{ Len() int }:
		size = s.Len()
	case interface{ Stat() (os.FileInfo, error) }:
		if fi, err := s.Stat(); err == nil && fi.Mode().IsRegular() {
			size = int(min(fi.Size(), maxConfigBytes))
		}
	}
	lr := io.LimitReader(r, maxConfigBytes)
	data := make([]byte, 0, min(size, maxConfigBytes)+1) // +1: EOF is seen without growing
	for {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
		n, err := lr.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// accessKeyList is what access_keys_from holds; its tag names it in errors.
type accessKeyList struct {
	Keys []AccessKey `yaml:"access_keys_from" validate:"dive"`
}

// addAccessKeysFrom decodes the resolved access_keys_from, validates its keys as
// access_keys are, and appends them. Its errors never quote the secret's text.
func (c *Config) addAccessKeysFrom() error {
	if c.AccessKeysFrom.IsZero() {
		return nil
	}
	var from accessKeyList
	dec := yaml.NewDecoder(strings.NewReader(c.AccessKeysFrom.Reveal()))
	dec.KnownFields(true)
	if err := dec.Decode(&from.Keys); err != nil || len(from.Keys) == 0 || onlyDocument(dec) != nil {
		return errors.New("access_keys_from: the secret is not a YAML or JSON list of access keys (id, secret, user, actions, clusters)")
	}
	for i, k := range from.Keys {
		// A reference here would be taken as the secret itself: refuse it.
		if _, ok := reference(strings.TrimSpace(k.Secret.Reveal())); ok {
			return fmt.Errorf("access_keys_from[%d].secret: references are not resolved inside access_keys_from; hold the secret itself", i)
		}
	}
	var msgs []string
	if err := configValidator().Struct(&from); err != nil {
		var ves validator.ValidationErrors
		if !errors.As(err, &ves) {
			return err
		}
		for _, fe := range ves {
			msgs = append(msgs, describe(fe))
		}
	}
	inline := len(c.AccessKeys)
	c.AccessKeys = append(c.AccessKeys, from.Keys...)
	msgs = append(msgs, checkAccessKeys(c.AccessKeys, inline)...)
	if len(msgs) > 0 {
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}

func resolveAll(ctx context.Context, cfg *Config, rs []Resolver) error {
	for i := range cfg.Users {
		if err := resolve(ctx, fmt.Sprintf("users[%d].password", i), &cfg.Users[i].Password, rs); err != nil {
			return err
		}
	}
	for i := range cfg.AccessKeys {
		if err := resolve(ctx, fmt.Sprintf("access_keys[%d].secret", i), &cfg.AccessKeys[i].Secret, rs); err != nil {
			return err
		}
	}
	if err := resolve(ctx, "access_keys_from", &cfg.AccessKeysFrom, rs); err != nil {
		return err
	}
	if err := resolve(ctx, "tokens.hs256_secret", &cfg.Tokens.HS256Secret, rs); err != nil {
		return err
	}
	if w := cfg.Events.Webhook; w != nil {
		if err := resolve(ctx, "events.webhook.secret", &w.Secret, rs); err != nil {
			return err
		}
	}
	for _, name := range sortedKeys(cfg.Directories) {
		d := cfg.Directories[name]
		if d.LDAP == nil {
			continue
		}
		s := NewSecret(d.LDAP.BindPassword)
		d.BindPasswordRef = Reference(d.LDAP.BindPassword)
		if err := resolve(ctx, fmt.Sprintf("directories[%s].ldap.bind_password", name), &s, rs); err != nil {
			return err
		}
		d.LDAP.BindPassword = s.Reveal()
		cfg.Directories[name] = d
	}
	if err := resolve(ctx, "redis.username", &cfg.Redis.Username, rs); err != nil {
		return err
	}
	if err := resolve(ctx, "redis.password", &cfg.Redis.Password, rs); err != nil {
		return err
	}
	return resolve(ctx, "tasks.key", &cfg.Tasks.Key, rs)
}

// configValidator is the process's one validator for Config, built by the first
// Parse: the check of access_keys_from and a second Parse reuse it, and the
// structure of Config it learnt.
var configValidator = sync.OnceValue(newValidator)

// newValidator returns the validator for Config: errors are named by YAML keys.
func newValidator() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			return ""
		}
		if name == "" {
			return f.Name
		}
		return name
	})
	v.RegisterCustomTypeFunc(func(v reflect.Value) any { return v.Interface().(Secret).value }, Secret{})
	_ = v.RegisterValidation("secret", func(fl validator.FieldLevel) bool { return fl.Field().String() != "" })
	return v
}

func validate(cfg *Config) error {
	var msgs []string
	if err := configValidator().Struct(cfg); err != nil {
		var ves validator.ValidationErrors
		if !errors.As(err, &ves) {
			return err
		}
		for _, fe := range ves {
			msgs = append(msgs, describe(fe))
		}
	}
	msgs = append(msgs, crossCheck(cfg)...)
	if len(msgs) > 0 {
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}

// describe turns a validation error into "key: what is wrong", without the value.
func describe(fe validator.FieldError) string {
	_, key, _ := strings.Cut(fe.Namespace(), ".")
	switch fe.Tag() {
	case "required", "required_if", "secret":
		return key + ": is required"
	case "oneof":
		return fmt.Sprintf("%s: must be one of %s", key, strings.ReplaceAll(fe.Param(), " ", ", "))
	case "min":
		return fmt.Sprintf("%s: must be at least %s", key, fe.Param())
	case "max":
		return fmt.Sprintf("%s: must be at most %s", key, fe.Param())
	case "gtefield":
		return fmt.Sprintf("%s: must be at least minimum_password_length", key)
	case "file":
		return key + ": no such file"
	case "printascii", "excludesall":
		return key + ": must be printable ASCII without '&', '=' or '%'"
	default:
		return fmt.Sprintf("%s: fails %s", key, fe.Tag())
	}
}

// checkAccessKeys checks that no key repeats and that each says what it is for.
// The keys from inline on came from access_keys_from, and are named so.
func checkAccessKeys(keys []AccessKey, inline int) []string {
	name := func(i int) string {
		if i >= inline {
			return fmt.Sprintf("access_keys_from[%d]", i-inline)
		}
		return fmt.Sprintf("access_keys[%d]", i)
	}
	var msgs []string
	seen := map[string]bool{}
	for i, k := range keys {
		if seen[k.ID] {
			msgs = append(msgs, name(i)+".id: repeats an earlier key")
		}
		seen[k.ID] = true
		if k.User == "" && len(k.Actions) == 0 {
			msgs = append(msgs, name(i)+": needs user (self-service) or actions (admin)")
		}
		if k.User != "" && !password.PreparedName(k.User) {
			// Such a name reaches no account (password.PreparedName): the key could never be used.
			msgs = append(msgs, name(i)+".user: is not a prepared user name (fullwidth or other compatibility forms, spaces, invisible characters)")
		}
	}
	return msgs
}

// onlyDocument fails when dec holds a second YAML document, which would be dropped.
func onlyDocument(dec *yaml.Decoder) error {
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("yaml: more than one document (a line ---): keep the configuration in one")
	}
	return nil
}

// yamlValue is how yaml.v3 quotes a value in its errors; compiled by the first
// error, not at every start.
var yamlValue = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile("`[^`]*`") })

// yamlMessage is a yaml.v3 error without the values it quotes, which may be
// secrets: "line 3: cannot unmarshal !!str into ...".
func yamlMessage(err error) string {
	return yamlValue().ReplaceAllString(strings.TrimPrefix(err.Error(), "yaml: "), "a value")
}

// crossCheck checks what spans several keys.
func crossCheck(cfg *Config) []string {
	var msgs []string
	knownDir := func(name string) bool {
		_, ok := cfg.Directories[name]
		return name == Embedded || ok
	}
	if cfg.SelfService.Directory != "" && !knownDir(cfg.SelfService.Directory) {
		msgs = append(msgs, fmt.Sprintf("self_service.directory: %q is neither %q nor a key of directories", cfg.SelfService.Directory, Embedded))
	}
	for _, name := range sortedKeys(cfg.Directories) {
		if l := cfg.Directories[name].LDAP; l != nil {
			if err := l.Check(); err != nil {
				for _, m := range strings.Split(err.Error(), "; ") {
					msgs = append(msgs, fmt.Sprintf("directories[%s].ldap.%s", name, m))
				}
			}
		}
	}
	for _, id := range sortedKeys(cfg.Clusters) {
		cl := cfg.Clusters[id]
		if d := cl.Directory; d != "" && !knownDir(d) {
			msgs = append(msgs, fmt.Sprintf("clusters[%s].directory: %q is neither %q nor a key of directories", id, d, Embedded))
		}
		if cl.Reset != (ClusterReset{}) {
			if l := cfg.Directories[cl.Directory].LDAP; l == nil || l.Dialect != ActiveDirectory {
				key := "must_change"
				if !cl.Reset.MustChange {
					key = "unlock"
				}
				msgs = append(msgs, fmt.Sprintf("clusters[%s].reset.%s: needs a directory of dialect %s (directories.<name>.ldap.dialect)", id, key, ActiveDirectory))
			}
		}
	}
	msgs = append(msgs, checkAccessKeys(cfg.AccessKeys, len(cfg.AccessKeys))...)
	if cfg.Redis.UserLockout && cfg.SelfService.Directory == Embedded {
		msgs = append(msgs, "redis.user_lockout: the embedded store has a lockout of its own (store.max_failures)")
	}
	if cfg.Redis.Address == "" && (cfg.Redis != Redis{}) {
		msgs = append(msgs, "redis.address: is required when redis is configured")
	}
	names := map[string]bool{}
	for i, u := range cfg.Users {
		if names[u.Name] {
			msgs = append(msgs, fmt.Sprintf("users[%d].name: repeats an earlier user", i))
		}
		names[u.Name] = true
		if err := password.CheckName(u.Name); err != nil {
			msgs = append(msgs, fmt.Sprintf("users[%d].name: %s", i, password.ErrorMessage(err)))
		}
	}
	return msgs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
