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

// coldRow is what BenchmarkColdStart measured of one target, with its ratios to
// the hello-world and floor starts measured alternately with it.
type coldRow struct {
	p               platform
	fn              string
	coldMean                 // its own starts
	hello, floor    coldMean // the reference starts alternated with its own
	size, helloSize int64    // bytes of the executable and of hello-world's
}

// coldMean sums starts and gives their means.
type coldMean struct {
	n           int
	start, init time.Duration // sums: from starting the process to its first response, and to its first poll
}

func (m *coldMean) add(o coldMean) { m.n, m.start, m.init = m.n+o.n, m.start+o.start, m.init+o.init }

// meanStart and meanInit are the means, zero without a start.
func (m coldMean) meanStart() time.Duration { return m.mean(m.start) }
func (m coldMean) meanInit() time.Duration  { return m.mean(m.init) }
func (m coldMean) mean(d time.Duration) time.Duration {
	if m.n == 0 {
		return 0
	}
	return d / time.Duration(m.n)
}

// ratio is a/b, NaN when b is zero.
func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// BenchmarkColdStart measures, for each function on each platform, the time from
// starting its packaged binary to the first response it posts through the runtime
// API (the policy for caller-password, an event an API gateway authorized, or on
// Function Compute a signed one, for modify-user-passwords; a rotation step for
// rotate-password), beside a hello-world built as the Makefile builds the
// platform's binaries (testdata/hello-*), and the floor: hello-world plus the start
// work the design card fixes for every function, a YAML configuration checked with
// validator/v10 and a zerolog logger (testdata/floor-*), so that what is chpass's
// own shows apart from what the fixed packages cost (x floor). Each start of a
// function alternates with a start of hello-world and of the floor, and its ratios
// are to those, so that a machine whose load drifts skews all three alike. Code,
// configuration, store and event are prepared outside the timing. It reports the
// mean ms/start; ms/init, the part before the first poll for an invocation, which
// leaves out the first request's own work (for modify-user-passwords and
// rotate-password on the embedded store, argon2id hashes); the binary's size; and
// each as a ratio to hello-world's. The targets, not asserted, are 1.2x the time
// and 2x the size. Under qemu (the arm64 Lambda binaries on another machine) the
// times measure the emulator as much as the binary. It prints a table of the figures.
func BenchmarkColdStart(b *testing.B) {
	dist := distDir(b)
	var rows []coldRow
	for _, p := range platforms {
		b.Run(p.name, func(b *testing.B) {
			emulator(b, p)
			hello, floor := helloTarget(b, p, "hello"), helloTarget(b, p, "floor")
			helloRow := coldRow{p: p, fn: "hello", size: fileSize(b, hello.exe)}
			floorRow := coldRow{p: p, fn: "floor", size: fileSize(b, floor.exe)}
			var fnRows []coldRow
			for _, fn := range append(functions, rotateFunction) {
				t := functionTarget(b, dist, p, fn)
				b.Run(fn, func(b *testing.B) {
					row := coldRow{p: p, fn: fn, size: fileSize(b, t.exe), helloSize: helloRow.size}
					b.StopTimer()
					for range b.N {
						row.hello.add(coldStart(b, hello, false))
						row.floor.add(coldStart(b, floor, false))
						row.coldMean.add(coldStart(b, t, true))
					}
					b.ReportMetric(ms(row.meanStart()), "ms/start")
					b.ReportMetric(ms(row.meanInit()), "ms/init")
					b.ReportMetric(mb(row.size), "MB")
					b.ReportMetric(ratio(row.meanStart(), row.hello.meanStart()), "time-x-hello")
					b.ReportMetric(ratio(row.meanInit(), row.hello.meanInit()), "init-x-hello")
					b.ReportMetric(float64(row.size)/float64(row.helloSize), "size-x-hello")
					b.ReportMetric(ratio(row.meanStart(), row.floor.meanStart()), "time-x-floor")
					b.ReportMetric(ratio(row.meanInit(), row.floor.meanInit()), "init-x-floor")
					fnRows = upsert(fnRows, row)
				})
			}
			for _, r := range fnRows {
				helloRow.coldMean.add(r.hello)
				floorRow.coldMean.add(r.floor)
				floorRow.hello.add(r.hello)
			}
			helloRow.hello, helloRow.floor, helloRow.helloSize = helloRow.coldMean, floorRow.coldMean, helloRow.size
			floorRow.floor, floorRow.helloSize = floorRow.coldMean, helloRow.size
			for _, r := range append([]coldRow{helloRow, floorRow}, fnRows...) {
				rows = upsert(rows, r)
			}
		})
	}
	fmt.Print(coldTable(rows)) // b.Log of a benchmark with sub-benchmarks shows only on failure
}

// coldStart starts t once, a fresh process on a fresh store, and returns the times
// from starting it to its first response and to its first poll for an invocation.
// With timed, the benchmark's timer runs during the start (it is stopped on entry
// and on return).
func coldStart(b *testing.B, t coldTarget, timed bool) coldMean {
	env, payload := t.env(b), t.event(b)
	rt := newRuntimeAPI(b, t.p, t.fn)
	defer rt.close()
	rt.enqueue(payload)
	if timed {
		b.StartTimer()
	}
	pr := launch(b, t.p, t.fn, t.exe, rt, env...)
	po := rt.await(b, pr)
	b.StopTimer()
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
	return coldMean{n: 1, start: po.at.Sub(pr.started), init: rt.polledAt().Sub(pr.started)}
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

// coldTable renders rows with their ratios to the hello-world and floor starts
// measured alternately with them.
func coldTable(rows []coldRow) string {
	var sb strings.Builder
	sb.WriteString("cold start (means): process start to first response (ms/start) and to first poll (ms/init); executable size;\n" +
		"ratios to the hello-world and floor starts alternated with each function's\n")
	w := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "platform\tbinary\tms/start\tx hello (target 1.2)\tx floor\tms/init\tx hello\tx floor\tMB\tx hello (target 2)\t")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%.1f\t%.2f\t%.2f\t%.1f\t%.2f\t%.2f\t%.1f\t%.2f\t\n",
			r.p.name, r.fn, ms(r.meanStart()), ratio(r.meanStart(), r.hello.meanStart()), ratio(r.meanStart(), r.floor.meanStart()),
			ms(r.meanInit()), ratio(r.meanInit(), r.hello.meanInit()), ratio(r.meanInit(), r.floor.meanInit()),
			mb(r.size), float64(r.size)/float64(r.helloSize))
	}
	w.Flush()
	return sb.String()
}
