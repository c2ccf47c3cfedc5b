package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"time"

	"chpass/functions/internal/setup"
)

// removeStore deletes the embedded store's file at path, so that the demo starts
// over, unless another process holds it (bbolt locks its file while it is open).
func removeStore(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("-fresh: %w", err)
	}
	defer f.Close()
	if held, err := lockedByOther(f); err != nil {
		return fmt.Errorf("-fresh: %s: %w", path, err)
	} else if held {
		return fmt.Errorf("-fresh: another chpass process (a `make run` or `make invoke` still running?) holds the demo store %s: "+
			"stop it first, or keep the store as it is with KEEP=1", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("-fresh: %w", err)
	}
	return nil
}

// pinger is a directory that can tell at start whether it can be reached.
type pinger interface {
	// Ping connects and binds as the service account; EUNAVAILABLE when it cannot.
	Ping(ctx context.Context) error
}

// checkDirectories tries each configured directory once, and warns on w, naming
// it, about each one that cannot be reached: the server starts anyway, and the
// requests that need that directory answer 503 until it can be reached.
func checkDirectories(ctx context.Context, app *setup.App, w io.Writer) {
	names := make([]string, 0, len(app.Config.Directories))
	for name := range app.Config.Directories {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		d, err := app.Directory(ctx, name)
		if err != nil {
			fmt.Fprintf(w, "local: warning: directory %q: %v\n", name, err)
			continue
		}
		p, ok := d.(pinger)
		if !ok {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = p.Ping(pctx)
		cancel()
		if err != nil {
			url := ""
			if l := app.Config.Directories[name].LDAP; l != nil {
				url = " (" + l.URL + ")"
			}
			fmt.Fprintf(w, "local: warning: directory %q%s cannot be reached: %v; serving anyway, and the requests that need it "+
				"answer 503 until it can be reached\n", name, url, err)
		}
	}
}
