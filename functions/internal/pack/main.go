// Command pack writes a deployment zip holding one executable, byte for byte the
// same for the same executable: fixed modification time, mode 0755, no extra
// fields. make package runs it for each function and cloud:
//
//	go run ./functions/internal/pack -o dist/aws/caller-password.zip -name bootstrap bin/aws/caller-password/bootstrap
package main

import (
	"archive/zip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// epoch is the modification time of every entry: the zip format cannot say
// anything earlier than 1980, and a fixed time keeps the bytes reproducible.
var epoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

func main() {
	out := flag.String("o", "", "the zip to write")
	name := flag.String("name", "", "the entry's name in the zip (default: the executable's base name)")
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: pack -o OUT.zip [-name NAME] EXECUTABLE")
		os.Exit(2)
	}
	entry := *name
	if entry == "" {
		entry = filepath.Base(flag.Arg(0))
	}
	if err := pack(*out, entry, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "pack:", err)
		os.Exit(1)
	}
}

// pack writes out with the one entry name holding the file at src, executable.
// It writes a temporary file first so a failure never leaves a partial zip.
func pack(out, name, src string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".pack-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	zw := zip.NewWriter(tmp)
	h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: epoch}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, in); err != nil {
		return err
	}
	if err := errors.Join(zw.Close(), tmp.Chmod(0o644), tmp.Sync(), tmp.Close()); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}
