// Package platform serves one http.Handler on AWS Lambda, Alibaba Cloud Function Compute, or a local HTTP server.
package platform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fc"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/rs/zerolog"

	"chpass/shared/gateway"
)

// MaxBodyBytes is the largest request body accepted from an event or a local request (6 MiB,
// the synchronous payload limit of AWS Lambda).
const MaxBodyBytes = 6 << 20

// DefaultAddr is the local listen address when neither Options.Addr nor CHPASS_ADDR is set.
const DefaultAddr = "127.0.0.1:8080"

// Timeouts and limits of the local HTTP server.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 40 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10
	// handlerTimeout is the deadline a local request's context carries, short of
	// writeTimeout so that a handler which budgets by it can still answer.
	handlerTimeout  = 30 * time.Second
	shutdownTimeout = 10 * time.Second
)

// Options configures Run.
type Options struct {
	Logger zerolog.Logger // base logger, carrying the function's name
	Addr   string         // local listen address; default from env CHPASS_ADDR, else DefaultAddr
}

// Detect names the platform the environment selects: gateway.Lambda when AWS_LAMBDA_RUNTIME_API is
// set, gateway.FC when FC_RUNTIME_API is set, otherwise gateway.Local.
func Detect() string {
	switch {
	case os.Getenv("AWS_LAMBDA_RUNTIME_API") != "":
		return gateway.Lambda
	case os.Getenv("FC_RUNTIME_API") != "":
		return gateway.FC
	default:
		return gateway.Local
	}
}

// Run serves h on the platform the environment names: Lambda when AWS_LAMBDA_RUNTIME_API is set,
// Function Compute when FC_RUNTIME_API is set, otherwise a local HTTP server on Options.Addr.
// It returns when the local server stops (after SIGINT or SIGTERM, gracefully) and never on the clouds.
func Run(h http.Handler, opts Options) error {
	return RunFunction(HTTPFunction(h), opts)
}

// RunFunction serves fn on the platform the environment names, as Run does: on Lambda and Function
// Compute each event goes to the kind of fn.Kinds it matches among those the platform delivers,
// and any other is refused with ErrUnknownEvent; locally fn.Local is served over HTTP, and a
// function without one (a scheduled function) refuses to start, pointing at -event and
// functions/local.
func RunFunction(fn Function, opts Options) error {
	platform := Detect()
	log := opts.Logger.With().Str("platform", platform).Logger()
	switch platform {
	case gateway.Lambda:
		log.Info().Msg("starting")
		lambda.Start(Handler(gateway.Lambda, fn.Kinds...))
		return errors.New("platform.Run: lambda.Start returned")
	case gateway.FC:
		log.Info().Msg("starting")
		fc.Start(Handler(gateway.FC, fn.Kinds...))
		return errors.New("platform.Run: fc.Start returned")
	}
	if fn.Local == nil {
		return errors.New("platform.Run: this function serves no HTTP: run it once with -event FILE, or on a schedule with functions/local")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runLocal(ctx, fn.Local, opts.addr(), log)
}

func (o Options) addr() string {
	if o.Addr != "" {
		return o.Addr
	}
	if a := os.Getenv("CHPASS_ADDR"); a != "" {
		return a
	}
	return DefaultAddr
}

func runLocal(ctx context.Context, h http.Handler, addr string, log zerolog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("platform.Run: %w", err)
	}
	log.Info().Str("addr", ln.Addr().String()).Msg("starting")
	err = Serve(ctx, h, ln)
	log.Info().Err(err).Msg("stopped")
	return err
}

// Serve serves h over HTTP on ln until ctx ends, then shuts the server down gracefully, waiting up
// to ten seconds for requests in flight. Each request's context carries gateway.Info with Platform
// gateway.Local, a fresh random RequestID and never an Authorizer, whatever the request's headers
// say, and a 30-second deadline. Serve closes ln and returns nil after a graceful shutdown.
func Serve(ctx context.Context, h http.Handler, ln net.Listener) error {
	srv := &http.Server{
		Handler:           localHandler(h),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("platform.Serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		_ = srv.Close() // requests still running after the grace period lose their connections
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("platform.Serve: shutdown: %w", err)
	}
	return nil
}

// localHandler gives each local request its gateway.Info, a body limit and a deadline. The Info is
// made here and only here, so nothing a client sends can put an Authorizer in it.
func localHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				// The panic value is not logged: it may hold a request's secrets.
				http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
			}
		}()
		ctx, cancel := context.WithTimeout(r.Context(), handlerTimeout)
		defer cancel()
		ctx = gateway.With(ctx, gateway.Info{Platform: gateway.Local, RequestID: newRequestID()})
		if r.ContentLength > MaxBodyBytes {
			http.Error(w, http.StatusText(http.StatusRequestEntityTooLarge), http.StatusRequestEntityTooLarge)
			return
		}
		r = r.WithContext(ctx)
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		h.ServeHTTP(w, r)
	})
}

// newRequestID returns 16 random bytes in hex.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}
