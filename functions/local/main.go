// Command local serves every chpass function on one loopback port, for `make run`,
// portals in development, and tests; with -invoke it runs one function once on a
// sample platform event, for `make invoke`. With no configuration it uses the demo
// file functions/local/demo.yaml.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"chpass/functions/internal/setup"
	"chpass/shared/platform"
)

const demoConfig = "functions/local/demo.yaml"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", os.Getenv("CHPASS_CONFIG"), "the configuration file (default $CHPASS_CONFIG, else "+demoConfig+")")
	addr := fs.String("addr", envOr("CHPASS_ADDR", "127.0.0.1:8080"), "the loopback address to serve on (default $CHPASS_ADDR, else 127.0.0.1:8080)")
	demoToken := fs.String("demo-token", "", "print a one-hour bearer token for this user, signed with the configured HS256 key, and exit")
	fresh := fs.Bool("fresh", false, "with the demo configuration: start from a fresh demo store (its file is deleted first)")
	store := fs.String("store", "", "use this embedded store file instead of store.path")
	function := fs.String("invoke", "", "run this function once on -event and print the response's body: "+strings.Join(functionNames(), " or "))
	event := fs.String("event", "", "with -invoke: the platform event file")
	now := fs.String("now", "", "with -invoke: judge signature dates as if it were this RFC 3339 time, to replay a signed sample as it was recorded (else signed samples are signed again now)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *configPath == "" {
		*configPath = demoConfig
	}
	var clock func() time.Time
	if *function != "" || *event != "" {
		if _, ok := builders[*function]; !ok {
			fmt.Fprintf(stderr, "local: -invoke %q: no such function; the functions are %s\n", *function, strings.Join(functionNames(), ", "))
			return 2
		}
		if *event == "" {
			fmt.Fprintf(stderr, "local: -invoke %s: -event FILE is required (events/%s/ holds samples)\n", *function, *function)
			return 2
		}
		if *now != "" {
			t, err := time.Parse(time.RFC3339, *now)
			if err != nil {
				fmt.Fprintf(stderr, "local: -now %q: want an RFC 3339 time such as 2026-11-24T04:10:00Z\n", *now)
				return 2
			}
			clock = func() time.Time { return t }
		}
	}
	logAs := "local"
	if *function != "" {
		logAs = *function
	}
	app, err := setup.Load(ctx, *configPath, logAs, stderr, setup.Resolvers(ctx)...)
	if err != nil {
		fmt.Fprintf(stderr, "local: %v\n", err)
		return 1
	}
	defer app.Close()
	app.Now = clock
	if *store != "" {
		app.Config.Store.Path = *store
	}
	if *fresh {
		if !isDemo(*configPath) {
			fmt.Fprintf(stderr, "local: -fresh deletes the store, so it goes only with the demo configuration %s, not %s\n", demoConfig, *configPath)
			return 2
		}
		if err := removeStore(app.Config.Store.Path); err != nil {
			fmt.Fprintf(stderr, "local: %v\n", err)
			return 1
		}
	}
	if *demoToken != "" {
		tok, err := signDemoToken(app.Config.Tokens, *demoToken)
		if err != nil {
			fmt.Fprintf(stderr, "local: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, tok)
		return 0
	}
	if *function != "" {
		return invoke(ctx, app, *function, *event, clock == nil, stdout, stderr)
	}
	// The port first, so that a busy one is said before anything starts; the
	// task worker serve starts ends with ctx, before the store closes.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "local: cannot listen on %s: %v\n%s\n", *addr, err, listenHint(err))
		return 1
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h, err := serve(ctx, app)
	if err != nil {
		fmt.Fprintf(stderr, "local: config %s: %v\n", *configPath, err)
		return 1
	}
	if err := startSchedule(ctx, app); err != nil {
		app.Logger.Error().Err(err).Msg("cannot start the rotation schedule")
		return 1
	}
	checkDirectories(ctx, app, stderr)
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, `chpass is serving every function on %[1]s (configuration: %[2]s)
  caller-password        POST %[1]s/v5/caller-password   GET %[1]s/v5/password-policy
  modify-user-passwords  GET|POST %[1]s/?Action=ModifyUserPasswords|ListUsers|ListTasks|ListClusters (signature v1)
Try:  curl -s %[1]s/v5/password-policy
The README's "Try it" section shows a change with a bearer token, AK/SK and the vendors' SDKs. Ctrl-C stops.
`, base, *configPath)
	if err := platform.Serve(ctx, h, ln); err != nil {
		fmt.Fprintf(stderr, "local: the server stopped: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "chpass stopped: every request under way was answered first.")
	return 0
}

// listenHint says what to do when the address cannot be listened on.
func listenHint(err error) string {
	if errors.Is(err, syscall.EADDRINUSE) {
		return "Another process (a chpass already running?) serves that port: stop it, or pick another address, " +
			"such as CHPASS_ADDR=127.0.0.1:8081 make run."
	}
	return "Set CHPASS_ADDR to a loopback address and port, such as CHPASS_ADDR=127.0.0.1:8081 make run."
}

// isDemo reports whether path names the demo configuration.
func isDemo(path string) bool {
	a, err1 := filepath.Abs(path)
	b, err2 := filepath.Abs(demoConfig)
	return err1 == nil && err2 == nil && a == b
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
