package config

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// readConfig reads what io.ReadAll of a 4 MiB LimitReader reads, whatever the
// reader tells of its size, and passes a read error on.
func TestReadConfigReadsWhatReadAllReads(t *testing.T) {
	for _, n := range []int{0, 1, 511, 512, 513, 4096, maxConfigBytes, maxConfigBytes + 10} {
		text := strings.Repeat("k: v\n", n/5+1)[:n]
		want, _ := io.ReadAll(io.LimitReader(strings.NewReader(text), maxConfigBytes))
		path := filepath.Join(t.TempDir(), "chpass.yaml")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		readers := map[string]io.Reader{
			"strings.Reader": strings.NewReader(text),
			"file":           f,
			"sizeless":       iotest.HalfReader(bytes.NewBufferString(text)), // no Len: HalfReader hides it
		}
		for name, r := range readers {
			got, err := readConfig(r)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%d bytes from a %s: read %d bytes, %v; want %d bytes", n, name, len(got), err, len(want))
			}
		}
		f.Close()
	}
	boom := errors.New("boom")
	if _, err := readConfig(iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Errorf("a failing reader: %v, want %v", err, boom)
	}
}
