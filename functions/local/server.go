package main

import (
	"context"
	"net/http"
	"strings"
	"time"

	"chpass/functions/internal/setup"
	"chpass/functions/internal/setup/ehpc"
	"chpass/functions/internal/setup/iam"
)

// serve builds every function behind one handler for the local server: the IAM
// routes under /v5/ and the E-HPC RPC endpoint everywhere else. It starts the
// worker that runs Async batches until ctx ends.
func serve(ctx context.Context, a *setup.App) (http.Handler, error) {
	self, err := iam.CallerPassword(ctx, a)
	if err != nil {
		return nil, err
	}
	rpc, err := ehpc.ModifyUserPasswords(ctx, a, ehpc.LocalAsync)
	if err != nil {
		return nil, err
	}
	go rpc.Batches().Worker(ctx, time.Second)
	return router(self, rpc, a.Config.Page.Path), nil
}

// router sends /v5 and everything under it to self and every other path to
// rpc, as they are: unlike http.ServeMux it neither cleans a path nor redirects
// (POST /v5//caller-password is the IAM API's own 404, not a 307), so every
// request is answered by one of the two APIs, in its own catalog. The
// self-service page, when page is its path, goes to self too.
func router(self, rpc http.Handler, page string) http.Handler {
	page = strings.TrimSuffix(page, "/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == "/v5" || strings.HasPrefix(p, "/v5/") || (page != "" && (p == page || strings.HasPrefix(p, page+"/"))) {
			self.ServeHTTP(w, r)
			return
		}
		rpc.ServeHTTP(w, r)
	})
}
