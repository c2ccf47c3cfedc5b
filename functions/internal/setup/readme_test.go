package setup

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"chpass/shared/iamapi"
)

// TestReadmeDocumentsEveryCode keeps the README's error catalogs complete: every
// code the IAM surface can answer, and every code of the E-HPC catalog (whose
// CATALOG.md its own test keeps equal to the code), appears in the README.
func TestReadmeDocumentsEveryCode(t *testing.T) {
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	ehpc, err := os.ReadFile("../../../shared/ehpcapi/CATALOG.md")
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for code := range iamapi.Catalog() {
		codes = append(codes, code)
	}
	for _, m := range regexp.MustCompile("(?m)^\\| \\d{3} \\| `([^`]+)` \\|").FindAllSubmatch(ehpc, -1) {
		codes = append(codes, string(m[1]))
	}
	if len(codes) < 40 {
		t.Fatalf("found only %d codes; the catalogs' format changed", len(codes))
	}
	for _, c := range codes {
		if !strings.Contains(string(readme), "`"+c+"`") {
			t.Errorf("README does not document %s", c)
		}
	}
}
