package setup

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"chpass/shared/platform"
)

// Stamp is what make sets at build time, with
// -ldflags "-X chpass/functions/internal/setup.Stamp=chpass.version(x.y.z)": the
// delimiters let make release find the version in a stripped binary (-trimpath
// keeps -ldflags out of the build information). Only the stamp spells them out.
var Stamp string

// Version is the release the binary was built as (0.0.0-dev when unstamped).
// -version prints it and the platform's start line carries it; no response ever does.
var Version = stampVersion(Stamp)

// stampVersion takes the version out of a stamp. The delimiters are counted,
// not written, so that the binary holds them only where make stamped them.
func stampVersion(stamp string) string {
	const open, closing = len("chpass.version("), len(")")
	if len(stamp) <= open+closing {
		return "0.0.0-dev"
	}
	return stamp[open : len(stamp)-closing]
}

// Builder builds one HTTP function's handler from an App.
type Builder func(ctx context.Context, a *App) (http.Handler, error)

// FunctionBuilder builds a function that declares the event kinds it accepts (see platform.Kind).
type FunctionBuilder func(ctx context.Context, a *App) (platform.Function, error)

// Main is the whole of a function's main: it reads -config (default $CHPASS_CONFIG,
// or else the configuration itself from $CHPASS_CONFIG_YAML, as the deployment
// templates set it) and -event, builds the handler, and either invokes it once on the event file,
// printing the platform's response, or hands it to the platform. It returns the
// process's exit code.
func Main(function string, build Builder) int {
	return MainFunction(function, HTTP(build))
}

// MainFunction is Main for a function that declares its own event kinds, such as a scheduled
// one: -event accepts any of its kinds, and the platform refuses every other.
func MainFunction(function string, build FunctionBuilder) int {
	return Run(context.Background(), function, build, os.Args[1:], os.Stdout, os.Stderr)
}

// HTTP makes a FunctionBuilder of an HTTP function's Builder.
func HTTP(build Builder) FunctionBuilder {
	return func(ctx context.Context, a *App) (platform.Function, error) {
		h, err := build(ctx, a)
		if err != nil {
			return platform.Function{}, err
		}
		return platform.HTTPFunction(h), nil
	}
}

// Run is MainFunction with its context, arguments and outputs given: what a
// function's main runs, for tests and the local server.
func Run(ctx context.Context, function string, build FunctionBuilder, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(function, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", os.Getenv("CHPASS_CONFIG"), "the configuration file (default $CHPASS_CONFIG)")
	event := fs.String("event", "", "invoke once with this platform event file and print the platform response")
	version := fs.Bool("version", false, "print the version and exit")
	now := fs.String("now", "", "with -event: judge signature dates as if it were this RFC 3339 time, to replay a signed sample")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *version {
		fmt.Fprintf(stdout, "%s %s\n", function, Version)
		return 0
	}
	var clock func() time.Time
	if *now != "" {
		t, err := time.Parse(time.RFC3339, *now)
		if err != nil || *event == "" {
			fmt.Fprintf(stderr, "%s: -now takes an RFC 3339 time and only goes with -event\n", function)
			return 2
		}
		clock = func() time.Time { return t }
	}
	// refuse says why the function cannot start, on stderr and, on a platform,
	// to the platform too, and returns the exit code.
	refuse := func(err error, code int) int {
		err = fmt.Errorf("%s: %w", function, err)
		fmt.Fprintln(stderr, err)
		if *event == "" {
			if rerr := platform.ReportInitError(ctx, err); rerr != nil {
				fmt.Fprintf(stderr, "%s: %v\n", function, rerr)
			}
		}
		return code
	}
	inline := os.Getenv(ConfigYAMLEnv)
	if *configPath != "" && inline != "" {
		return refuse(fmt.Errorf("both a configuration file (-config or CHPASS_CONFIG) and %s are set: set one", ConfigYAMLEnv), 2)
	}
	if *configPath == "" && inline == "" {
		fmt.Fprintf(stderr, "%s: no configuration: set CHPASS_CONFIG or pass -config FILE (functions/local/demo.yaml is a demo), or set %s\n", function, ConfigYAMLEnv)
		return 2
	}
	var app *App
	var err error
	if *configPath != "" {
		app, err = Load(ctx, *configPath, function, stderr, Resolvers(ctx)...)
	} else {
		app, err = LoadYAML(ctx, inline, function, stderr, Resolvers(ctx)...)
	}
	if err != nil {
		return refuse(err, 1)
	}
	defer app.Close()
	app.Now = clock
	fn, err := build(ctx, app)
	if err != nil {
		// A plain line, as every other refusal to start (the configuration's errors among them).
		return refuse(err, 1)
	}
	if *event != "" {
		return invoke(ctx, fn, *event, stdout, stderr)
	}
	if err := platform.RunFunction(fn, platform.Options{Logger: app.Logger.With().Str("version", Version).Logger()}); err != nil && !errors.Is(err, http.ErrServerClosed) {
		app.Logger.Error().Err(err).Msg("platform stopped")
		return 1
	}
	return 0
}

func invoke(ctx context.Context, fn platform.Function, path string, stdout, stderr io.Writer) int {
	ev, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "-event: %v\n", err)
		return 2
	}
	out, err := platform.InvokeKinds(ctx, ev, fn.Kinds...)
	if err != nil {
		fmt.Fprintf(stderr, "-event %s: %v\n", path, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", out)
	return 0
}
