package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chpass/shared/embedded"
	"chpass/shared/logtest"
)

// cheapConfig writes the demo configuration with cheap hashes and its store in a
// temporary directory, with edit applied, and returns its path and the store's.
func cheapConfig(tb testing.TB, edit func(string) string) (cfgPath, store string) {
	tb.Helper()
	demo, err := os.ReadFile(filepath.Join(repoRoot(tb), demoConfig))
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	store = filepath.Join(dir, "chpass.db")
	cfg := strings.Replace(string(demo), "path: .cache/chpass-demo.db", "path: "+store+"\n  argon2: {time: 1, memory_kib: 64, threads: 1}", 1)
	if edit != nil {
		cfg = edit(cfg)
	}
	cfgPath = filepath.Join(dir, "chpass.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	return cfgPath, store
}

// rootDir is the repository's root, found before any test changes directory.
var rootDir, rootErr = filepath.Abs("../..")

// repoRoot is the repository's root.
func repoRoot(tb testing.TB) string {
	tb.Helper()
	if rootErr != nil {
		tb.Fatal(rootErr)
	}
	return rootDir
}

// runLocal runs main's run with args and returns its exit code and output.
func runLocal(tb testing.TB, args ...string) (code int, stdout, stderr string) {
	tb.Helper()
	var out, errs bytes.Buffer
	code = run(context.Background(), args, &out, &errs)
	return code, out.String(), errs.String()
}

// TestInvokeEverySample runs `make invoke` on every sample event, without NOW:
// each answers 200, because the signed ones are signed again with the demo keys;
// the status goes to stderr and only the body, indented, to stdout.
func TestInvokeEverySample(t *testing.T) {
	root := repoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "events", "*", "*.json"))
	if err != nil || len(files) < 12 {
		t.Fatalf("found %d sample events (%v)", len(files), err)
	}
	// The page and both forgotten paths are off in the demo; their samples
	// (page-*, reset-*, old-password-*) ask for them, so the configuration here
	// turns them on, as a deployment that serves them would.
	cfg, _ := cheapConfig(t, func(s string) string {
		return s + "\npage: {path: /portal/, client_id: chpass-demo-page}\n" +
			"forgotten: {idp: {max_age: 10m, amr: [mfa]}, old_password: {}}\n"
	})
	for _, f := range files {
		fn := filepath.Base(filepath.Dir(f))
		if fn == "rotate-password" {
			continue // a rotation's steps build on each other: run in order below
		}
		t.Run(fn+"/"+filepath.Base(f), func(t *testing.T) {
			store := filepath.Join(t.TempDir(), "invoke.db")
			code, stdout, stderr := runLocal(t, "-config", cfg, "-store", store, "-invoke", fn, "-event", f)
			want := fn + " answered HTTP 200 OK"
			if strings.HasPrefix(filepath.Base(f), "page-redirect-") {
				want = fn + " answered HTTP 301 Moved Permanently" // /portal, to the page at /portal/
			}
			if code != 0 || !strings.Contains(stderr, want) {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			// Nothing invoke prints holds a password of the sample or a secret it signs with.
			for _, secret := range []string{"Alice-Old-Pass1!", "Alice-New-Pass2@", "User1-New-Pass2@", "User2-New-Pass2@", "User1-New-Pass2%40",
				"demo-secret-alice-0123456789", "exampleSecret0123456789", "demo-secret-gateway-0123456789", "demo-jwt-secret-not-for-production"} {
				if strings.Contains(stdout+stderr, secret) {
					t.Errorf("the output holds %q", secret)
				}
			}
			if strings.Contains(stdout, `"level"`) || strings.Contains(stdout, "statusCode") {
				t.Fatalf("stdout holds more than the response's body:\n%s", stdout)
			}
			if strings.TrimSpace(stdout) != "" && !strings.HasPrefix(filepath.Base(f), "page-") { // the page's files are HTML, script and style
				var v any
				if err := json.Unmarshal([]byte(stdout), &v); err != nil {
					t.Fatalf("stdout is not the decoded JSON body: %v\n%s", err, stdout)
				}
				if !strings.Contains(stdout, "\n  \"") {
					t.Fatalf("the body is not indented:\n%s", stdout)
				}
			}
		})
	}
	// rotate-password's samples are the steps of one rotation, as Secrets Manager
	// calls them, then an FC timer: run in that order on one store, each finishes
	// and prints no password.
	t.Run("rotate-password/InOrder", func(t *testing.T) {
		store := filepath.Join(t.TempDir(), "invoke.db")
		for _, name := range []string{"rotation-createSecret.json", "rotation-setSecret.json", "rotation-testSecret.json", "rotation-finishSecret.json", "fc-timer.json"} {
			f := filepath.Join(root, "events", "rotate-password", name)
			code, stdout, stderr := runLocal(t, "-config", cfg, "-store", store, "-invoke", "rotate-password", "-event", f)
			if code != 0 || !strings.Contains(stderr, "rotate-password finished") {
				t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", name, code, stdout, stderr)
			}
			if strings.Contains(stdout, `"level"`) {
				t.Fatalf("%s: stdout holds log lines:\n%s", name, stdout)
			}
		}
	})
	t.Run("StaleSignatureIsExplained", func(t *testing.T) {
		ev := filepath.Join(root, "events/caller-password/apigw-http-v2.json")
		store := filepath.Join(t.TempDir(), "invoke.db")
		code, stdout, stderr := runLocal(t, "-config", cfg, "-store", store, "-invoke", "caller-password", "-event", ev, "-now", "2027-01-01T00:00:00Z")
		if code != 0 || !strings.Contains(stderr, "answered HTTP 401") || !strings.Contains(stderr, "NOW=<the time it was signed> replays it") {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
		}
	})
	t.Run("NowReplaysAsRecorded", func(t *testing.T) {
		ev := filepath.Join(root, "events/modify-user-passwords/apigw-http-v2.json")
		store := filepath.Join(t.TempDir(), "invoke.db")
		code, stdout, stderr := runLocal(t, "-config", cfg, "-store", store, "-invoke", "modify-user-passwords", "-event", ev, "-now", "2026-11-24T04:10:00Z")
		if code != 0 || !strings.Contains(stderr, "answered HTTP 200") || strings.Contains(stderr, "signed the sample again") {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
		}
	})
}

// TestInvokeErrors checks that a misspelt FUNCTION lists the valid names.
func TestInvokeErrors(t *testing.T) {
	cfg, _ := cheapConfig(t, nil)
	code, _, stderr := runLocal(t, "-config", cfg, "-invoke", "caller-pasword", "-event", "x.json")
	if code != 2 || !strings.Contains(stderr, `"caller-pasword": no such function; the functions are caller-password, modify-user-passwords`) {
		t.Fatalf("exit %d, stderr: %s", code, stderr)
	}
	code, _, stderr = runLocal(t, "-config", cfg, "-invoke", "caller-password")
	if code != 2 || !strings.Contains(stderr, "-event FILE is required") {
		t.Fatalf("exit %d, stderr: %s", code, stderr)
	}
}

// TestDemoStartsOver checks that the demo can be used again and again: with
// -fresh (what `make run` and `make invoke` pass unless KEEP=1) the README's
// change works every time; without, the second answers that the old password is
// wrong; and a store another process holds is named, not blamed.
func TestDemoStartsOver(t *testing.T) {
	root := repoRoot(t)
	t.Chdir(root)
	store := filepath.Join(t.TempDir(), "demo.db")
	ev := filepath.Join(root, "events/caller-password/apigw-http-v2-jwt-authorizer.json")
	args := []string{"-config", demoConfig, "-store", store, "-invoke", "caller-password", "-event", ev}
	for i := range 2 {
		code, stdout, stderr := runLocal(t, append(args, "-fresh")...)
		if code != 0 || !strings.Contains(stderr, "answered HTTP 200") {
			t.Fatalf("fresh run %d: exit %d\nstdout: %s\nstderr: %s", i+1, code, stdout, stderr)
		}
	}
	code, stdout, stderr := runLocal(t, args...)
	if code != 0 || !strings.Contains(stdout, "IAM.1103") {
		t.Fatalf("kept store: exit %d, want IAM.1103 (the change already happened)\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}

	t.Run("HeldByAnother", func(t *testing.T) {
		s, err := embedded.Open(embedded.Options{Path: store, Argon2: embedded.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		code, _, stderr := runLocal(t, append(args, "-fresh")...)
		if code != 1 || !strings.Contains(stderr, "another chpass process") || !strings.Contains(stderr, store) {
			t.Fatalf("-fresh on a held store: exit %d, stderr: %s", code, stderr)
		}
		code, _, stderr = runLocal(t, args...)
		if code != 1 || !strings.Contains(stderr, "another process holds "+store) {
			t.Fatalf("a held store: exit %d, stderr: %s", code, stderr)
		}
	})

	t.Run("OnlyTheDemo", func(t *testing.T) {
		cfg, store := cheapConfig(t, nil)
		if err := os.WriteFile(store, []byte("not the demo"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := runLocal(t, "-config", cfg, "-fresh", "-invoke", "caller-password", "-event", ev)
		if code != 2 || !strings.Contains(stderr, "only with the demo configuration") {
			t.Fatalf("exit %d, stderr: %s", code, stderr)
		}
		if _, err := os.Stat(store); err != nil {
			t.Fatalf("the store of a configuration that is not the demo was touched: %v", err)
		}
	})
}

// TestStartErrors checks the errors a newcomer meets when the server starts.
func TestStartErrors(t *testing.T) {
	t.Run("PortInUseNamesCHPASS_ADDR", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		cfg, _ := cheapConfig(t, nil)
		code, _, stderr := runLocal(t, "-config", cfg, "-addr", ln.Addr().String())
		if code != 1 || !strings.Contains(stderr, "CHPASS_ADDR=127.0.0.1:8081 make run") || !strings.Contains(stderr, "serves that port") {
			t.Fatalf("exit %d, stderr: %s", code, stderr)
		}
	})
	t.Run("LDAPConfigErrorIsAPlainLine", func(t *testing.T) {
		cfg, _ := cheapConfig(t, func(s string) string {
			return strings.Replace(s, "clusters:\n", `directories:
  corp:
    type: ldap
    ldap: {url: "ldaps://127.0.0.1:1", bind_dn: "cn=svc", bind_password: x}
clusters:
  ehpc-corp: {directory: corp, status: running}
`, 1)
		})
		code, _, stderr := runLocal(t, "-config", cfg, "-addr", "127.0.0.1:0")
		want := "local: config " + cfg + ": directories[corp].ldap.user_search: set exactly one of user_search and user_dn_template\n"
		// One plain line, as the configuration's other errors; no JSON error line.
		if code != 1 || !strings.HasSuffix(stderr, want) || strings.Contains(stderr, `"level":"error"`) {
			t.Fatalf("exit %d\nstderr: %q\nwant it to end: %q", code, stderr, want)
		}
	})
}

// TestUnreachableDirectoryWarns checks that the local server starts when a
// configured directory cannot be reached, with a warning naming it.
func TestUnreachableDirectoryWarns(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	cfg, _ := cheapConfig(t, func(s string) string {
		return strings.Replace(s, "clusters:\n", `directories:
  corp:
    type: ldap
    ldap: {url: "ldap://`+closed+`", insecure_plain: true, bind_dn: "cn=svc", bind_password: x, user_dn_template: "uid=%s,ou=people", dial_timeout: 1s, retries: 0}
clusters:
  ehpc-corp: {directory: corp, status: running}
`, 1)
	})
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr logtest.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"-config", cfg, "-addr", "127.0.0.1:0"}, &stdout, &stderr) }()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(stdout.String(), "chpass is serving") {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the server did not start\nstdout: %s\nstderr: %s", stdout.String(), stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d; stderr: %s", code, stderr.String())
	}
	want := `local: warning: directory "corp" (ldap://` + closed + `) cannot be reached`
	if !strings.Contains(stderr.String(), want) {
		t.Fatalf("no warning naming the directory; stderr:\n%s", stderr.String())
	}
	if !strings.Contains(stdout.String(), "chpass stopped") {
		t.Fatalf("no shutdown line; stdout:\n%s", stdout.String())
	}
}
