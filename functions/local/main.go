// Command local serves every chpass function on one loopback port, for `make run`,
// portals in development, and tests. With no configuration it uses the demo file
// functions/local/demo.yaml.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

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
	addr := fs.String("addr", envOr("CHPASS_ADDR", "127.0.0.1:8080"), "the loopback address to serve on")
	demoToken := fs.String("demo-token", "", "print a one-hour bearer token for this user, signed with the configured HS256 key, and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *configPath == "" {
		*configPath = demoConfig
	}
	app, err := setup.Load(ctx, *configPath, "local", stderr, setup.Resolvers(ctx)...)
	if err != nil {
		fmt.Fprintf(stderr, "local: %v\n", err)
		return 1
	}
	defer app.Close()
	if *demoToken != "" {
		tok, err := app.DemoToken(*demoToken)
		if err != nil {
			fmt.Fprintf(stderr, "local: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, tok)
		return 0
	}
	h, err := app.Local(ctx)
	if err != nil {
		app.Logger.Error().Err(err).Msg("cannot build the functions")
		return 1
	}
	if err := startSchedule(ctx, app); err != nil {
		app.Logger.Error().Err(err).Msg("cannot start the rotation schedule")
		return 1
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "local: %v\n", err)
		return 1
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, `chpass is serving every function on %[1]s (configuration: %[2]s)
  caller-password        POST %[1]s/v5/caller-password   GET %[1]s/v5/password-policy
  modify-user-passwords  GET|POST %[1]s/?Action=ModifyUserPasswords|ListUsers|ListTasks (signature v1)
Try:  curl -s %[1]s/v5/password-policy
The README's "Try it" section shows a change with a bearer token, AK/SK and the vendors' SDKs. Ctrl-C stops.
`, base, *configPath)
	if err := platform.Serve(ctx, h, ln); err != nil {
		app.Logger.Error().Err(err).Msg("server stopped")
		return 1
	}
	return 0
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
