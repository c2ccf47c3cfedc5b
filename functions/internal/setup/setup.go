// Package setup is chpass's composition root: it loads the configuration and
// builds what every function shares from it (directories, secret resolvers,
// change events, the Redis store) and runs a function on its platform (Main).
// Each API surface is built by its own subpackage (iam, ehpc, rotate), which only
// the binaries that serve it import, so that each binary links only what it
// serves; the mains in functions/ only call them.
package setup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"chpass/shared/config"
	"chpass/shared/embedded"
	"chpass/shared/password"
	"chpass/shared/redis"
)

// App holds a loaded configuration and the directories built from it. It opens
// each directory once, on first use, and closes them all in Close.
type App struct {
	Config *config.Config
	Logger zerolog.Logger
	// Now is the clock the API surfaces judge signature dates by; nil is time.Now.
	// Tests set it to replay signed sample events.
	Now func() time.Time

	mu      sync.Mutex
	store   *embedded.Store
	shared  *redis.Store
	dirs    map[string]password.Directory
	closers []io.Closer
}

// NewLogger returns the JSON logger every function writes to w.
func NewLogger(w io.Writer, function, level string) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Str("function", function).Logger()
}

// New returns an App for cfg.
func New(cfg *config.Config, logger zerolog.Logger) *App {
	return &App{Config: cfg, Logger: logger, dirs: map[string]password.Directory{}}
}

// Load reads the configuration at path, resolving its secrets with resolvers, and
// returns an App that logs to logs.
func Load(ctx context.Context, path, function string, logs io.Writer, resolvers ...config.Resolver) (*App, error) {
	cfg, err := config.Load(ctx, path, resolvers...)
	if err != nil {
		return nil, err
	}
	return New(cfg, NewLogger(logs, function, cfg.LogLevel)), nil
}

// ConfigYAMLEnv names the environment variable that holds the whole configuration
// when no file is named: template.yaml and s.yaml set it, with every secret a
// ${REFERENCE} to the cloud's secret service, never a value.
const ConfigYAMLEnv = "CHPASS_CONFIG_YAML"

// LoadYAML is Load on the text of a configuration, such as $CHPASS_CONFIG_YAML.
func LoadYAML(ctx context.Context, yml, function string, logs io.Writer, resolvers ...config.Resolver) (*App, error) {
	cfg, err := config.Parse(ctx, strings.NewReader(yml), resolvers...)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", ConfigYAMLEnv, err)
	}
	return New(cfg, NewLogger(logs, function, cfg.LogLevel)), nil
}

// Close closes every directory the App opened.
func (a *App) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i].Close())
	}
	a.closers, a.store, a.shared, a.dirs = nil, nil, nil, map[string]password.Directory{}
	return errors.Join(errs...)
}

// Store opens the embedded store once and seeds the configured users that are
// missing from it.
func (a *App) Store(ctx context.Context) (*embedded.Store, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.storeLocked(ctx)
}

func (a *App) storeLocked(ctx context.Context) (*embedded.Store, error) {
	if a.store != nil {
		return a.store, nil
	}
	c := a.Config
	if dir := filepath.Dir(c.Store.Path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("store.path: %w", err)
		}
	}
	s, err := embedded.Open(embedded.Options{
		Path:        c.Store.Path,
		History:     c.Policy.PasswordReusePrevention,
		MinAge:      time.Duration(c.Policy.MinimumPasswordAge) * time.Minute,
		Remember:    a.remember(),
		MaxFailures: c.Store.MaxFailures,
		Lockout:     c.Store.Lockout,
		Argon2:      embedded.Argon2Params{Time: c.Store.Argon2.Time, MemoryKiB: c.Store.Argon2.MemoryKiB, Threads: c.Store.Argon2.Threads},
	})
	if err != nil {
		return nil, fmt.Errorf("store.path %s: %w", c.Store.Path, err)
	}
	for _, u := range c.Users {
		created, err := s.EnsureUser(ctx, u.Name, u.Password.Reveal())
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("users: seeding %s: %w", u.Name, err)
		}
		if created {
			a.Logger.Info().Str("event", "user_seeded").Str("user", u.Name).Msg("seeded a user into the embedded store")
		}
	}
	a.store = s
	a.closers = append(a.closers, s)
	return s, nil
}

// remember is how many passwords the embedded store keeps: the deepest
// password_reuse_prevention of the policies that use it, so that each cluster's
// view finds as many earlier passwords as its policy names.
func (a *App) remember() int {
	n := a.Config.Policy.PasswordReusePrevention
	for id, cl := range a.Config.Clusters {
		if cl.Directory == config.Embedded {
			n = max(n, a.Config.ClusterPolicy(id).PasswordReusePrevention)
		}
	}
	return n
}

// ClusterDirectory returns the directory of cluster id. The embedded store is
// seen through the cluster's policy, so that its history and minimum age hold
// for the cluster's resets as they would in a directory that enforces them
// itself; other directories apply their own (ppolicy's) rules on top of the
// policy password.Service checks.
func (a *App) ClusterDirectory(ctx context.Context, id string) (password.Directory, error) {
	name := a.Config.Clusters[id].Directory
	d, err := a.Directory(ctx, name)
	if err != nil || name != config.Embedded {
		return d, err
	}
	p := a.Config.ClusterPolicy(id)
	return d.(*embedded.Store).WithPolicy(p.PasswordReusePrevention, time.Duration(p.MinimumPasswordAge)*time.Minute), nil
}

// Directory returns the directory called name: "embedded" or an entry of directories.
func (a *App) Directory(ctx context.Context, name string) (password.Directory, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if d, ok := a.dirs[name]; ok {
		return d, nil
	}
	var d password.Directory
	switch {
	case name == config.Embedded:
		s, err := a.storeLocked(ctx)
		if err != nil {
			return nil, err
		}
		d = s
	default:
		dc, ok := a.Config.Directories[name]
		if !ok {
			return nil, fmt.Errorf("directory %q is not configured", name)
		}
		var err error
		if d, err = a.openDirectory(name, dc); err != nil {
			return nil, err
		}
	}
	a.dirs[name] = d
	return d, nil
}
