// Command gencommon writes common-passwords.txt.gz: the "passwords" frequency list
// of zxcvbn (github.com/trustelem/zxcvbn, Dropbox's lists), most common first, one
// a line. `go generate ./shared/password` runs it; a test checks the file against
// the package, so the list is the package's and is never edited by hand.
package main

import (
	"bytes"
	"compress/gzip"
	"log"
	"os"
	"strings"

	"github.com/trustelem/zxcvbn/frequency"
)

func main() {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		log.Fatal(err)
	}
	zw.Write([]byte(strings.Join(frequency.FrequencyLists["passwords"], "\n") + "\n"))
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("common-passwords.txt.gz", buf.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}
