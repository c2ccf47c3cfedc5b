package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseMix(t *testing.T) {
	tests := map[string]bool{
		"policy=40,list=20,change=25,batch=15": true,
		"policy=100":                           true,
		"policy=50,list=20":                    false, // 70, not 100
		"policy=40,list=20,change=25,shell=15": false,
		"policy=x":                             false,
		"policy=-10,list=110":                  false,
	}
	for mix, ok := range tests {
		t.Run(mix, func(t *testing.T) {
			got, err := parseMix(mix)
			if (err == nil) != ok || (ok && len(got) != 100) {
				t.Fatalf("parseMix(%q) = %d slots, %v", mix, len(got), err)
			}
		})
	}
}

// A run with a 5xx answer or a transport error fails; 4xx answers do not.
func TestResultFailed(t *testing.T) {
	r := &result{codes: map[string]int{"change 200 OK": 3, "batch 409 PartFailure": 1}}
	if r.failed() {
		t.Fatal("a run without 5xx failed")
	}
	r.codes["list 503 ServiceUnavailable"] = 1
	if !r.failed() {
		t.Fatal("a run with a 503 passed")
	}
	var out bytes.Buffer
	r.print(&out)
	if !strings.Contains(out.String(), "list 503 ServiceUnavailable") {
		t.Fatalf("answers by code missing: %s", out.String())
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-n", "0"}, {"-c", "0"}, {"-mix", "policy=1"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
	}
}
