package e2e

import (
	"archive/zip"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"chpass/shared/ehpcapi"
	"chpass/shared/iamapi"
)

// TestEvents runs every sample event of both functions through the packaged binary
// of its platform: each in a fresh process on a fresh store, fed through the runtime
// API, the signed ones signed again for the real clock with the vendor's signer.
// Each must succeed, answered in its platform's response shape.
func TestEvents(t *testing.T) {
	dist := distDir(t)
	var total, exercised, skipped atomic.Int32
	t.Cleanup(func() {
		if n := exercised.Load() + skipped.Load(); n != total.Load() && !t.Failed() {
			t.Errorf("%d of %d sample events were exercised", exercised.Load(), total.Load())
		}
	})
	for _, fn := range functions {
		for _, ev := range readEvents(t, fn) {
			total.Add(1)
			t.Run(fn+"/"+ev.name, func(t *testing.T) {
				t.Parallel()
				defer func() {
					if t.Skipped() {
						skipped.Add(1)
					}
				}()
				if ev.signed(t) {
					ev.resign(t, time.Now(), nil)
				}
				if ev.page() {
					in := startFunction(t, dist, ev.p, fn, "CHPASS_CONFIG="+writeConfig(t, t.TempDir(), withPage))
					_, r := in.invoke(t, ev.payload(t))
					checkPage(t, fn, r, ev)
					in.checkRuntimeUse(t)
					exercised.Add(1)
					return
				}
				var in *instance
				if ev.forgotten() {
					if _, ok := ev.header("Authorization"); ok {
						ev.refreshToken(t, time.Now()) // the reset's token, as just signed in
					}
					in = startFunction(t, dist, ev.p, fn, "CHPASS_CONFIG="+writeConfig(t, t.TempDir(), withForgotten))
				} else {
					in = startDemo(t, dist, ev.p, fn)
				}
				_, r := in.invoke(t, ev.payload(t))
				check(t, fn, r, want{status: http.StatusOK, requestID: ev.requestID(), policy: ev.policy()})
				in.checkRuntimeUse(t)
				exercised.Add(1)
			})
		}
	}
}

// step is one invocation of TestInvocationLoop.
type step struct {
	name      string
	ev        event
	want      want
	runtimeID bool // the answer carries the runtime's request id: the event has none
}

// loopSteps returns what TestInvocationLoop feeds fn on p, in order, from its sample
// events: the policies; a signed event as it is, refused as stale on the real clock,
// which proves the binary judges time itself; the same signed again, which succeeds;
// that request again, which state kept across invocations refuses; and an event
// without a request id, answered with the runtime's.
func loopSteps(tb testing.TB, fn string, p platform) []step {
	tb.Helper()
	var steps []step
	var signed, policy *event
	for _, ev := range readEvents(tb, fn) {
		switch {
		case ev.p != p:
		case ev.policy():
			if policy == nil {
				policy = &ev
			}
			steps = append(steps, step{name: "Policy/" + ev.name, ev: ev, want: want{status: http.StatusOK, requestID: ev.requestID(), policy: true}})
		case signed == nil && ev.signed(tb):
			signed = &ev
		}
	}
	if signed == nil {
		tb.Fatalf("%s has no signed sample event for %s", fn, p.name)
	}
	stale := want{status: http.StatusUnauthorized, code: iamapi.CodeUnauthenticated}
	replayed := want{status: http.StatusUnauthorized, code: iamapi.CodeUnauthenticated} // the signature was used already
	if fn == "modify-user-passwords" {
		stale = want{status: http.StatusBadRequest, code: ehpcapi.CodeTimestampExpired}
		replayed = want{status: http.StatusBadRequest, code: ehpcapi.CodeSignatureNonceUsed}
	}
	stale.requestID, replayed.requestID = signed.requestID(), signed.requestID()
	fresh := signed.clone(tb)
	fresh.resign(tb, time.Now(), nil)
	steps = append(steps,
		step{name: "Stale/" + signed.name, ev: *signed, want: stale},
		step{name: "Resigned/" + signed.name, ev: fresh, want: want{status: http.StatusOK, requestID: signed.requestID()}},
		step{name: "Replayed/" + signed.name, ev: fresh, want: replayed},
	)
	last := step{name: "NoRequestID/", runtimeID: true}
	if policy != nil {
		last.ev = policy.clone(tb)
		last.want = want{status: http.StatusOK, policy: true}
	} else {
		last.ev = signed.clone(tb)
		last.ev.resign(tb, time.Now(), setLoopPasswords)
		last.want = want{status: http.StatusOK}
	}
	last.name += last.ev.name
	last.ev.dropRequestID()
	return append(steps, last)
}

// TestInvocationLoop feeds one process of each function on each platform several
// events in a row, proving the invocation loop: each answered in turn, with state
// (the store, the nonces seen) kept from one to the next.
func TestInvocationLoop(t *testing.T) {
	dist := distDir(t)
	for _, p := range platforms {
		for _, fn := range functions {
			t.Run(p.name+"/"+fn, func(t *testing.T) {
				t.Parallel()
				steps := loopSteps(t, fn, p)
				in := startDemo(t, dist, p, fn)
				for _, s := range steps {
					inv, r := in.invoke(t, s.ev.payload(t))
					w := s.want
					if s.runtimeID {
						w.requestID = inv.id
					}
					t.Run(s.name, func(t *testing.T) { check(t, fn, r, w) })
				}
				in.checkRuntimeUse(t)
				if n := len(in.rt.pollAgents()); n < len(steps) {
					t.Errorf("%d polls for %d invocations", n, len(steps))
				}
			})
		}
	}
}

// brokenYAML returns the demo configuration with a syntax error on the line of a
// secret.
func brokenYAML(tb testing.TB, dir string) []byte {
	tb.Helper()
	b := demoYAML(tb, dir, nil)
	secret := secretOf(tb, "HWAKDEMOALICE")
	broken := bytes.Replace(b, []byte("secret: "+secret), []byte("secret: ["+secret), 1)
	if bytes.Equal(broken, b) {
		tb.Fatal("no secret line to break")
	}
	return broken
}

// TestConcurrentInvocations hands one Function Compute process several invocations
// at once, as an instance whose concurrency is above one is fed: fc-runtime-go-sdk
// serves each in its own goroutine, and each must get its own answer. (The Lambda
// Go runtime serves one invocation at a time.)
func TestConcurrentInvocations(t *testing.T) {
	dist := distDir(t)
	for _, fn := range functions {
		t.Run(fc.name+"/"+fn, func(t *testing.T) {
			t.Parallel()
			exe := unpack(t, dist, fc, fn, filepath.Join(t.TempDir(), "code"))
			rt := newRuntimeAPI(t, fc, fn)
			rt.handOutConcurrently()
			sent := map[string]event{} // by invocation id
			var secrets []string
			for i := range demo(t).Users {
				ev := firstEvent(t, fc, fn).clone(t)
				object(ev.m, "requestContext")["requestId"] = fmt.Sprintf("e2e-concurrent-%d", i)
				if ev.signed(t) {
					// One user each: the embedded store refuses, as unavailable for
					// now, a change that keeps losing races for the same account.
					user, newPassword := demo(t).Users[i].Name, fmt.Sprintf("E2e-Conc-Pass%d#", i)
					secrets = append(secrets, newPassword)
					ev.resign(t, time.Now(), func(params map[string]string) {
						for k := range params {
							if strings.HasPrefix(k, "User.") {
								delete(params, k)
							}
						}
						params["User.1.Name"], params["User.1.Password"] = user, newPassword
					})
				}
				sent[rt.enqueue(ev.payload(t)).id] = ev
			}
			pr := launch(t, fc, fn, exe, rt, "CHPASS_CONFIG="+writeConfig(t, t.TempDir(), nil))
			pr.secrets = secrets
			in := &instance{p: fc, fn: fn, rt: rt, proc: pr}
			for range len(sent) {
				po := rt.await(t, pr)
				ev, ok := sent[po.id]
				if po.kind != "response" || !ok {
					t.Fatalf("posted %s for %q: %s", po.kind, po.id, po.body)
				}
				delete(sent, po.id)
				check(t, fn, decodeReply(t, po.body), want{status: http.StatusOK, requestID: ev.requestID(), policy: ev.policy()})
			}
			if n := rt.mostInFlight(); n != len(demo(t).Users) {
				t.Errorf("at most %d invocations in flight at once, want all %d", n, len(demo(t).Users))
			}
			in.checkRuntimeUse(t)
		})
	}
}

// TestBrokenConfig starts each binary on a configuration it cannot use. setup.Main
// reads the configuration before it hands over to the platform, so the process
// answers no invocation and exits 1 with the reason on stderr, naming no secret; on
// Lambda it reports the reason to /runtime/init/error first.
func TestBrokenConfig(t *testing.T) {
	dist := distDir(t)
	const badKey = "e2e-not-a-task-key-canary-0123456789"
	tests := []struct {
		name   string
		env    func(tb testing.TB, dir string) string // the configuration's variable
		reason string                                 // what stderr must say
	}{
		{
			name:   "MissingFile",
			env:    func(_ testing.TB, dir string) string { return "CHPASS_CONFIG=" + filepath.Join(dir, "missing.yaml") },
			reason: "no such file or directory",
		},
		{
			name: "SyntaxErrorOnASecretsLine",
			env: func(tb testing.TB, dir string) string {
				path := filepath.Join(dir, "chpass.yaml")
				if err := os.WriteFile(path, brokenYAML(tb, dir), 0o600); err != nil {
					tb.Fatal(err)
				}
				return "CHPASS_CONFIG=" + path
			},
			reason: "yaml: line",
		},
		{
			name: "InlineSyntaxErrorOnASecretsLine",
			env: func(tb testing.TB, dir string) string {
				return "CHPASS_CONFIG_YAML=" + string(brokenYAML(tb, dir))
			},
			reason: "CHPASS_CONFIG_YAML: yaml: line",
		},
		{
			name: "InvalidTaskKey",
			env: func(tb testing.TB, dir string) string {
				return "CHPASS_CONFIG=" + writeConfig(tb, dir, func(cfg map[string]any) { cfg["tasks"] = map[string]any{"key": badKey} })
			},
			reason: "tasks.key",
		},
	}
	for _, p := range platforms {
		for _, fn := range functions {
			for _, tt := range tests {
				t.Run(p.name+"/"+fn+"/"+tt.name, func(t *testing.T) {
					t.Parallel()
					in := startFunction(t, dist, p, fn, tt.env(t, t.TempDir()))
					in.proc.secrets = append(in.proc.secrets, badKey)
					in.checkRefusedToStart(t, tt.reason)
				})
			}
		}
	}
}

// TestInlineConfig starts each binary with its whole configuration in
// CHPASS_CONFIG_YAML, as template.yaml and s.yaml deploy it, and no file: it serves,
// and the secrets in its environment stay out of its output.
func TestInlineConfig(t *testing.T) {
	dist := distDir(t)
	for _, p := range platforms {
		for _, fn := range functions {
			t.Run(p.name+"/"+fn, func(t *testing.T) {
				t.Parallel()
				ev := firstEvent(t, p, fn).fresh(t)
				in := startFunction(t, dist, p, fn, "CHPASS_CONFIG_YAML="+string(demoYAML(t, t.TempDir(), nil)))
				_, r := in.invoke(t, ev.payload(t))
				check(t, fn, r, want{status: http.StatusOK, requestID: ev.requestID(), policy: ev.policy()})
				in.checkRuntimeUse(t)
			})
		}
	}
}

// TestPackages checks each zip make package wrote: one executable entry named as its
// platform runs it, a static and stripped Linux binary of the platform's
// architecture, built with the Makefile's tags and flags, linking no other cloud's
// secret SDK.
func TestPackages(t *testing.T) {
	dist := distDir(t)
	machine := map[string]elf.Machine{"arm64": elf.EM_AARCH64, "amd64": elf.EM_X86_64}
	// Modules a platform's binary must not link: the other cloud's secret service SDK
	// and the test-only Huawei Cloud SDK.
	foreign := map[string][]string{
		lambda.name: {"github.com/aliyun/alibaba-cloud-sdk-go", "github.com/huaweicloud/"},
		fc.name:     {"github.com/aws/aws-sdk-go-v2", "github.com/huaweicloud/"},
	}
	for _, p := range platforms {
		for _, fn := range functions {
			t.Run(p.name+"/"+fn, func(t *testing.T) {
				t.Parallel()
				zr, err := zip.OpenReader(p.zip(dist, fn))
				if err != nil {
					t.Fatal(err)
				}
				defer zr.Close()
				if len(zr.File) != 1 || zr.File[0].Name != p.executable(fn) || zr.File[0].Mode().Perm() != 0o755 {
					for _, f := range zr.File {
						t.Logf("entry %s %v", f.Name, f.Mode())
					}
					t.Fatalf("want one entry %s, mode 0755", p.executable(fn))
				}
				exe := unpack(t, dist, p, fn, t.TempDir())

				f, err := elf.Open(exe)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if f.Machine != machine[p.goarch] || f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
					t.Errorf("ELF machine %v, OS ABI %v; want %v for Linux", f.Machine, f.OSABI, machine[p.goarch])
				}
				for _, prog := range f.Progs {
					if prog.Type == elf.PT_INTERP || prog.Type == elf.PT_DYNAMIC {
						t.Errorf("dynamically linked (%v); want a static binary (CGO_ENABLED=0)", prog.Type)
					}
				}
				if f.Section(".symtab") != nil {
					t.Error("has a symbol table; want it stripped (-ldflags -s)")
				}

				bi, err := buildinfo.ReadFile(exe)
				if err != nil {
					t.Fatal(err)
				}
				if bi.Path != "chpass/functions/"+fn {
					t.Errorf("main package %s, want chpass/functions/%s", bi.Path, fn)
				}
				settings := map[string]string{}
				for _, s := range bi.Settings {
					settings[s.Key] = s.Value
					if strings.HasPrefix(s.Key, "vcs") {
						t.Errorf("build setting %s=%s: want -buildvcs=false", s.Key, s.Value)
					}
				}
				for k, v := range map[string]string{"GOOS": "linux", "GOARCH": p.goarch, "CGO_ENABLED": "0", "-trimpath": "true", "-tags": makeVar(t, p.tagsVar)} {
					if settings[k] != v {
						t.Errorf("build setting %s=%q, want %q", k, settings[k], v)
					}
				}
				// make stamps the release version (-version prints it, the start line carries it).
				if vs := stampedVersions(t, exe); len(vs) != 1 {
					t.Errorf("stamped versions %v: want the one make stamps with -X chpass/functions/internal/setup.Stamp=chpass.version(VERSION)", vs)
				}
				for _, d := range bi.Deps {
					for _, prefix := range foreign[p.name] {
						if strings.HasPrefix(d.Path, prefix) {
							t.Errorf("links %s %s, which the %s binary must not", d.Path, d.Version, p.name)
						}
					}
				}
			})
		}
	}
}

// stampedVersions returns the versions stamped into the binary exe, as
// chpass.version(VERSION) strings (setup.Stamp).
func stampedVersions(tb testing.TB, exe string) []string {
	tb.Helper()
	b, err := os.ReadFile(exe)
	if err != nil {
		tb.Fatal(err)
	}
	var vs []string
	for _, m := range regexp.MustCompile(`chpass\.version\(([0-9A-Za-z.+-]+)\)`).FindAllSubmatch(b, -1) {
		if v := string(m[1]); !slices.Contains(vs, v) {
			vs = append(vs, v)
		}
	}
	return vs
}
