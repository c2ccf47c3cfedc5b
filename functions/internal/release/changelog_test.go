package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestChangelog holds CHANGELOG.md to the Keep a Changelog form: [Unreleased]
// first, then releases newest first as "## [x.y.z] - YYYY-MM-DD" with semantic
// versions and dates that never go forward, sections only of the six kinds,
// and a link for every heading.
func TestChangelog(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "CHANGELOG.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if !strings.HasPrefix(text, "# Changelog\n") {
		t.Error("want the title # Changelog first")
	}
	heading := regexp.MustCompile(`^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$`)
	kinds := []string{"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}
	var versions, dates []string
	for i, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "## "):
			m := heading.FindStringSubmatch(line)
			if m == nil {
				t.Errorf("line %d: %q: want ## [x.y.z] - YYYY-MM-DD or ## [Unreleased]", i+1, line)
				continue
			}
			if len(versions) == 0 {
				if m[1] != "Unreleased" || m[2] != "" {
					t.Errorf("line %d: the first section must be ## [Unreleased]", i+1)
				}
			} else if !Semver.MatchString(m[1]) || m[2] == "" {
				t.Errorf("line %d: %q: want a semantic version and a date", i+1, line)
			} else {
				dates = append(dates, m[2])
			}
			versions = append(versions, m[1])
		case strings.HasPrefix(line, "### "):
			if k := strings.TrimPrefix(line, "### "); !slices.Contains(kinds, k) {
				t.Errorf("line %d: section %q: want one of %v", i+1, k, kinds)
			}
		}
	}
	if len(versions) < 2 {
		t.Fatal("want [Unreleased] and at least one release")
	}
	for i := 2; i < len(versions); i++ {
		if compare(versions[i-1], versions[i]) <= 0 {
			t.Errorf("%s comes before %s: newest first", versions[i-1], versions[i])
		}
	}
	for i := 1; i < len(dates); i++ {
		if dates[i-1] < dates[i] {
			t.Errorf("dates %s then %s: newest first", dates[i-1], dates[i])
		}
	}
	for _, v := range versions {
		if !strings.Contains(text, "\n["+v+"]: http") {
			t.Errorf("no link reference [%s]: …", v)
		}
	}
}

// compare orders x.y.z versions by their numbers (a pre-release before its release).
func compare(a, b string) int {
	pa, pb := Semver.FindStringSubmatch(a), Semver.FindStringSubmatch(b)
	for i := 1; i <= 3; i++ {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if x != y {
			return x - y
		}
	}
	switch {
	case pa[4] == pb[4]:
		return 0
	case pa[4] == "":
		return 1
	case pb[4] == "":
		return -1
	}
	return strings.Compare(pa[4], pb[4])
}
