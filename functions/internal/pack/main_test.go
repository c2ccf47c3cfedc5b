package main

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestPack checks what make package relies on: one entry under the given name,
// executable, holding the file's bytes, and the same zip for the same file
// whenever and wherever it is packed.
func TestPack(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "exe")
	content := bytes.Repeat([]byte("\x7fELF chpass "), 1000)
	if err := os.WriteFile(exe, content, 0o700); err != nil {
		t.Fatal(err)
	}
	first := filepath.Join(dir, "a", "first.zip")
	if err := pack(first, "bootstrap", exe); err != nil {
		t.Fatal(err)
	}
	// A later modification time and another mode must not change the bytes.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(exe, later, later); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(exe, 0o755); err != nil {
		t.Fatal(err)
	}
	second := filepath.Join(dir, "b", "second.zip")
	if err := pack(second, "bootstrap", exe); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(first)
	b, _ := os.ReadFile(second)
	if !bytes.Equal(a, b) {
		t.Fatal("the same executable packed twice gives different zips")
	}
	zr, err := zip.OpenReader(first)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 1 {
		t.Fatalf("%d entries, want 1", len(zr.File))
	}
	f := zr.File[0]
	if f.Name != "bootstrap" || f.Mode().Perm() != 0o755 {
		t.Fatalf("entry %s mode %v, want bootstrap 0755", f.Name, f.Mode())
	}
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, content) {
		t.Fatal("the entry does not hold the executable's bytes")
	}
	if st, _ := os.Stat(first); st.Mode().Perm() != 0o644 {
		t.Fatalf("zip mode %v, want 0644", st.Mode().Perm())
	}
}

// TestPackMissingInput leaves no zip, whole or partial, when it cannot pack.
func TestPackMissingInput(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.zip")
	if err := pack(out, "bootstrap", filepath.Join(dir, "missing")); err == nil {
		t.Fatal("packing a missing file succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Fatalf("left %v behind", entries)
	}
}
