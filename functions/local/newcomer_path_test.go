package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBareMakeIsHarmless checks with make's dry run that a bare `make` builds and
// checks but installs nothing and runs no test, that `make test` still does both,
// that `make run` says it is compiling before its first build, and that `make
// invoke` runs functions/local's -invoke with a fresh demo store of its own.
func TestBareMakeIsHarmless(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("make is missing")
		}
		t.Skip("make is not installed")
	}
	dry := func(t *testing.T, args ...string) string {
		t.Helper()
		cmd := exec.Command("make", append([]string{"-n", "-C", repoRoot(t)}, args...)...)
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "CHPASS_CONFIG=") && !strings.HasPrefix(kv, "KEEP=") {
				cmd.Env = append(cmd.Env, kv) // the Makefile's own defaults
			}
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make -n %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	bare := dry(t)
	for _, bad := range []string{"apt-get", "install-deps.sh", "install-qemu.sh", "go test", "slapd.sh"} {
		if strings.Contains(bare, bad) {
			t.Errorf("a bare make runs %q:\n%s", bad, bare)
		}
	}
	if !strings.Contains(bare, "go build") || !strings.Contains(bare, "go vet") {
		t.Errorf("a bare make does not build and vet:\n%s", bare)
	}
	if test := dry(t, "test"); !strings.Contains(test, "go test") || !strings.Contains(test, "install-deps.sh") {
		t.Errorf("make test no longer installs and tests:\n%s", test)
	}
	run := dry(t, "run")
	if i, j := strings.Index(run, "compiling functions/local"), strings.Index(run, "go build"); i < 0 || j < i {
		t.Errorf("make run does not say it is compiling before it builds:\n%s", run)
	}
	if !regexp.MustCompile(`bin/local\s+-fresh`).MatchString(run) {
		t.Errorf("make run does not start the demo over:\n%s", run)
	}
	if kept := dry(t, "run", "KEEP=1"); strings.Contains(kept, "-fresh") {
		t.Errorf("make run KEEP=1 starts over:\n%s", kept)
	}
	if other := dry(t, "run", "CHPASS_CONFIG=mine.yaml"); strings.Contains(other, "-fresh") {
		t.Errorf("make run with another configuration deletes its store:\n%s", other)
	}
	inv := dry(t, "invoke", "FUNCTION=modify-user-passwords", "EVENT=events/modify-user-passwords/fc-http.json")
	for _, want := range []string{"-invoke modify-user-passwords", "-event events/modify-user-passwords/fc-http.json", "-store .cache/chpass-invoke.db", "-fresh"} {
		if !strings.Contains(inv, want) {
			t.Errorf("make invoke lacks %q:\n%s", want, inv)
		}
	}
}

// TestReadmeNewcomerFacts checks what the README must tell a newcomer: the Go
// version go.mod needs, and how to make a tasks.key and secrets.
func TestReadmeNewcomerFacts(t *testing.T) {
	root := repoRoot(t)
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"with Go " + string(m[1]) + " or later",
		"`openssl rand -base64 32` prints a fresh `tasks.key`",
		"make demo-reset", "KEEP=1", "A bare `make`",
	} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("the README does not say %q", want)
		}
	}
}

// TestInterruptStopsCleanly builds the local server, starts it as `make run`
// does, interrupts it as Ctrl-C does, and checks the shutdown line and exit 0.
func TestInterruptStopsCleanly(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "local")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cfg, _ := cheapConfig(t, nil)
	cmd := exec.Command(bin, "-config", cfg, "-addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "chpass is serving") {
		_ = cmd.Process.Kill()
		t.Fatalf("the server did not start: %q\nstderr: %s", lines.Text(), stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for lines.Scan() {
		rest = append(rest, lines.Text())
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after Ctrl-C: %v; stderr: %s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the server did not stop after Ctrl-C")
	}
	if len(rest) == 0 || !strings.HasPrefix(rest[len(rest)-1], "chpass stopped") {
		t.Fatalf("no shutdown line after Ctrl-C; stdout after the banner: %q", rest)
	}
}
