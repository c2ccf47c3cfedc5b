package e2e

import (
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"
	"time"
)

// rotateFunction is the scheduled function, measured beside the HTTP ones.
const rotateFunction = "rotate-password"

// coldTarget is a binary BenchmarkColdStart starts: a packaged function or the
// platform's hello-world, or the floor (hello-world and the design card's start work).
type coldTarget struct {
	p     platform
	fn    string // the function's name, "hello" or "floor"
	exe   string
	event func(tb testing.TB) []byte   // the first event
	env   func(tb testing.TB) []string // the environment beyond the platform's, for a fresh process
}

// coldRow is what BenchmarkColdStart measured of one target.
type coldRow struct {
	p     platform
	fn    string
	start time.Duration // mean, from starting the process to its first response
	init  time.Duration // mean, from starting the process to its first poll for an invocation
	size  int64         // bytes of the executable
}

// BenchmarkColdStart measures, for each function on each platform, the time from
// starting its packaged binary to the first response it posts through the runtime
// API (the policy for caller-password, an event an API gateway authorized, or on
// Function Compute a signed one, for modify-user-passwords), beside a hello-world
// built as the Makefile builds the platform's binaries (testdata/hello-*), and the
// floor: hello-world plus the start work the design card fixes for every function,
// a YAML configuration checked with validator/v10 and a zerolog logger
// (testdata/floor-*), so that what is chpass's own shows apart from what the fixed
// packages cost (x floor). Code,
// configuration, store and event are prepared outside the timing. It reports the
// mean ms/start; ms/init, the part before the first poll for an invocation, which
// leaves out the first request's own work; the binary's size; and each as a ratio
// to hello-world's. The targets, not asserted, are 1.2x the time and 2x the size.
// Under qemu (the arm64 Lambda binaries on another machine) the times measure the
// emulator as much as the binary. It prints a table of the figures.
func BenchmarkColdStart(b *testing.B) {
	dist := distDir(b)
	var rows []coldRow
	for _, p := range platforms {
		b.Run(p.name, func(b *testing.B) {
			emulator(b, p)
			targets := []coldTarget{helloTarget(b, p, "hello"), helloTarget(b, p, "floor")}
			for _, fn := range append(functions, rotateFunction) {
				targets = append(targets, functionTarget(b, dist, p, fn))
			}
			var hello, floor coldRow
			for _, t := range targets {
				b.Run(t.fn, func(b *testing.B) {
					row := coldRow{p: p, fn: t.fn, size: fileSize(b, t.exe)}
					row.start, row.init = meanColdStart(b, t)
					switch t.fn {
					case "hello":
						hello = row
					case "floor":
						floor = row
					}
					b.ReportMetric(ms(row.start), "ms/start")
					b.ReportMetric(ms(row.init), "ms/init")
					b.ReportMetric(mb(row.size), "MB")
					if hello.start > 0 {
						b.ReportMetric(float64(row.start)/float64(hello.start), "time-x-hello")
						b.ReportMetric(float64(row.init)/float64(hello.init), "init-x-hello")
						b.ReportMetric(float64(row.size)/float64(hello.size), "size-x-hello")
					}
					if floor.start > 0 {
						b.ReportMetric(float64(row.start)/float64(floor.start), "time-x-floor")
						b.ReportMetric(float64(row.init)/float64(floor.init), "init-x-floor")
					}
					rows = upsert(rows, row)
				})
			}
		})
	}
	fmt.Print(coldTable(rows)) // b.Log of a benchmark with sub-benchmarks shows only on failure
}

// meanColdStart starts t b.N times, each a fresh process on a fresh store, and
// returns the mean times from starting it to its first response and to its first
// poll for an invocation.
func meanColdStart(b *testing.B, t coldTarget) (start, init time.Duration) {
	b.StopTimer()
	for range b.N {
		env, payload := t.env(b), t.event(b)
		rt := newRuntimeAPI(b, t.p, t.fn)
		rt.enqueue(payload)
		b.StartTimer()
		pr := launch(b, t.p, t.fn, t.exe, rt, env...)
		po := rt.await(b, pr)
		b.StopTimer()
		start += po.at.Sub(pr.started)
		init += rt.polledAt().Sub(pr.started)
		if po.kind != "response" {
			b.Fatalf("%s posted %s: %s", pr.name, po.kind, po.body)
		}
		if t.fn == rotateFunction {
			if strings.TrimSpace(string(po.body)) != "null" {
				b.Fatalf("%s answered %s", pr.name, po.body)
			}
		} else if r := decodeReply(b, po.body); r.StatusCode != http.StatusOK {
			b.Fatalf("%s answered %d: %s", pr.name, r.StatusCode, r.Body)
		}
		pr.stop(b)
		rt.close()
	}
	return start / time.Duration(b.N), init / time.Duration(b.N)
}

// helloTarget builds p's hello-world, or with name "floor" its floor, into a
// temporary directory.
func helloTarget(b *testing.B, p platform, name string) coldTarget {
	b.Helper()
	ev := firstEvent(b, p, "caller-password") // a policy request
	return coldTarget{
		p: p, fn: name, exe: buildHello(b, p, name, b.TempDir()),
		event: ev.payload,
		env:   func(testing.TB) []string { return nil },
	}
}

// buildHello builds testdata/<name>-<platform> (hello or floor) into dir as the
// Makefile builds p's binaries, with its GOFLAGS, tags and LDFLAGS, and returns its path.
func buildHello(b *testing.B, p platform, name, dir string) string {
	b.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		b.Fatalf("no go command to build the hello-world with: %v", err)
	}
	out := filepath.Join(dir, p.executable(name))
	args := append([]string{"build"}, strings.Fields(makeVar(b, "GOFLAGS"))...)
	args = append(args, "-buildvcs=false", "-tags", makeVar(b, p.tagsVar), "-ldflags", makeVar(b, "LDFLAGS"),
		"-o", out, "./testdata/"+name+"-"+p.name)
	cmd := exec.Command(gobin, args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+p.goarch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%s: %v\n%s", cmd, err, msg)
	}
	return out
}

// functionTarget unpacks fn's zip for p and prepares a seeded store to copy for
// each start: the first start of a function seeds the demo users into its store,
// which a cold start on a real directory never does.
func functionTarget(b *testing.B, dist string, p platform, fn string) coldTarget {
	b.Helper()
	exe := unpack(b, dist, p, fn, filepath.Join(b.TempDir(), "code"))
	var event func(tb testing.TB) []byte
	var edit func(cfg map[string]any)
	if fn == rotateFunction {
		// Secrets Manager's first step on Lambda, a whole timer rotation on FC, on the
		// embedded secret backend.
		name := map[string]string{lambda.name: "rotation-createSecret.json", fc.name: "fc-timer.json"}[p.name]
		ev, err := os.ReadFile(filepath.Join(repoRoot(b), "events", fn, name))
		if err != nil {
			b.Fatal(err)
		}
		event = func(testing.TB) []byte { return ev }
		edit = func(cfg map[string]any) { cfg["rotation"].(map[string]any)["backend"] = "embedded" }
	} else {
		ev := firstEvent(b, p, fn)
		event = func(tb testing.TB) []byte { return ev.fresh(tb).payload(tb) }
	}

	// The seeding run answers an event that is no HTTP event with an invocation
	// error, once its store is seeded, and changes nothing.
	seedDir := b.TempDir()
	rt := newRuntimeAPI(b, p, fn)
	rt.enqueue([]byte(`{}`))
	pr := launch(b, p, fn, exe, rt, "CHPASS_CONFIG="+writeConfig(b, seedDir, edit))
	if po := rt.await(b, pr); po.kind != "error" {
		b.Fatalf("%s posted %s to a non-event: %s", pr.name, po.kind, po.body)
	}
	pr.stop(b)
	rt.close()
	seed := filepath.Join(seedDir, "chpass.db")

	return coldTarget{
		p: p, fn: fn, exe: exe, event: event,
		env: func(tb testing.TB) []string {
			dir := tb.TempDir()
			if err := copyFile(seed, filepath.Join(dir, "chpass.db")); err != nil {
				tb.Fatal(err)
			}
			return []string{"CHPASS_CONFIG=" + writeConfig(tb, dir, edit)}
		},
	}
}

func fileSize(tb testing.TB, path string) int64 {
	tb.Helper()
	st, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return st.Size()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mb(n int64) float64         { return float64(n) / 1e6 }

// upsert replaces the row of r's platform and target in rows, or appends r.
func upsert(rows []coldRow, r coldRow) []coldRow {
	for i := range rows {
		if rows[i].p.name == r.p.name && rows[i].fn == r.fn {
			rows[i] = r
			return rows
		}
	}
	return append(rows, r)
}

// coldTable renders rows with their ratios to their platform's hello-world.
func coldTable(rows []coldRow) string {
	var sb strings.Builder
	sb.WriteString("cold start (means): process start to first response (ms/start) and to first poll (ms/init); executable size\n")
	w := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "platform\tbinary\tms/start\tx hello (target 1.2)\tx floor\tms/init\tx hello\tx floor\tMB\tx hello (target 2)\t")
	for _, r := range rows {
		hello, floor := coldRow{}, coldRow{}
		for _, h := range rows {
			if h.p.name == r.p.name && h.fn == "hello" {
				hello = h
			}
			if h.p.name == r.p.name && h.fn == "floor" {
				floor = h
			}
		}
		floorTime, floorInit := math.NaN(), math.NaN()
		if floor.start > 0 {
			floorTime = float64(r.start) / float64(floor.start)
			floorInit = float64(r.init) / float64(floor.init)
		}
		timeRatio, initRatio, sizeRatio := math.NaN(), math.NaN(), math.NaN()
		if hello.start > 0 {
			timeRatio = float64(r.start) / float64(hello.start)
			initRatio = float64(r.init) / float64(hello.init)
			sizeRatio = float64(r.size) / float64(hello.size)
		}
		fmt.Fprintf(w, "%s\t%s\t%.1f\t%.2f\t%.2f\t%.1f\t%.2f\t%.2f\t%.1f\t%.2f\t\n",
			r.p.name, r.fn, ms(r.start), timeRatio, floorTime, ms(r.init), initRatio, floorInit, mb(r.size), sizeRatio)
	}
	w.Flush()
	return sb.String()
}
