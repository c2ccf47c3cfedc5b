package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const root = "../../.."

// TestFileIsCurrent regenerates THIRD_PARTY_LICENSES.md and compares it with the
// committed one: a dependency added, removed or upgraded, or a new function,
// makes it stale, and the failure says the one command that fixes it.
func TestFileIsCurrent(t *testing.T) {
	want, err := Generate(root)
	if err != nil {
		t.Fatalf("generating: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(root, Output))
	if err != nil {
		t.Fatalf("%v: run `make licenses` and commit %s", err, Output)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run `make licenses` and commit it. It should read:\n%s", Output, want)
	}
	// Every module the binaries link is listed: the generator's own output is
	// checked against go.mod's requirements it must include.
	for _, m := range []string{"github.com/aws/aws-lambda-go", "github.com/aliyun/fc-runtime-go-sdk", "go.etcd.io/bbolt", "github.com/go-ldap/ldap/v3"} {
		if !strings.Contains(string(want), "| "+m+" | v") {
			t.Errorf("%s is linked into every binary but not listed", m)
		}
	}
	if !strings.Contains(string(want), "common-passwords.txt.gz") || !strings.Contains(string(want), "github.com/trustelem/zxcvbn") {
		t.Error("the shipped common-password list is not listed")
	}
}

// TestClassify names license texts by their clauses, and names copyleft ones
// so that they are refused.
func TestClassify(t *testing.T) {
	const (
		mit = `Permission is hereby granted, free of charge, to any person obtaining a copy of this software
and associated documentation files (the "Software"), to deal in the Software without restriction.
The above copyright notice and this permission notice shall be included in all copies.`
		mit0   = `Permission is hereby granted, free of charge, to any person obtaining a copy of this software, to deal in the Software without restriction.`
		apache = "                                 Apache License\n                           Version 2.0, January 2004\n"
		bsd2   = "Redistribution and use in source and binary forms, with or without\nmodification, are permitted provided that the following conditions are met:\n1. ...\n2. ..."
		bsd3   = bsd2 + "\n   * Neither the name of Google Inc. nor the names of its\ncontributors may be used to endorse or promote products"
		isc    = "Permission to use, copy, modify, and/or distribute this software for any\npurpose with or without fee is hereby granted"
		mpl    = "Mozilla Public License Version 2.0\n=================================="
		gpl    = "GNU GENERAL PUBLIC LICENSE\nVersion 3, 29 June 2007"
		lgpl   = "GNU LESSER GENERAL PUBLIC LICENSE"
		agpl   = "GNU AFFERO GENERAL PUBLIC LICENSE"
	)
	tests := []struct {
		name, text string
		want       []string
	}{
		{"MIT", mit, []string{"MIT"}},
		{"MIT0", mit0, []string{"MIT-0"}},
		{"Apache", apache, []string{"Apache-2.0"}},
		{"ApacheNotice", `Licensed under the Apache License, Version 2.0 (the "License")`, []string{"Apache-2.0"}},
		{"BSD2", bsd2, []string{"BSD-2-Clause"}},
		{"BSD3", bsd3, []string{"BSD-3-Clause"}},
		{"ISC", isc, []string{"ISC"}},
		{"MPL", mpl, []string{"MPL-2.0"}},
		{"GPL", gpl, []string{"GPL"}},
		{"LGPL", lgpl, []string{"LGPL"}},
		{"AGPL", agpl, []string{"AGPL"}},
		{"Both", "MIT License\n" + mit + "\n### Apache License ###\n" + `Licensed under the Apache License, Version 2.0`, []string{"Apache-2.0", "MIT"}},
		{"Summary", "Lambda functions are made available under a modified MIT license. See LICENSE for details.", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.text); !slices.Equal(got, tt.want) {
				t.Fatalf("Classify = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestModuleLicense refuses what is not compatible or cannot be classified, and
// ignores a summary file beside a classified license.
func TestModuleLicense(t *testing.T) {
	write := func(t *testing.T, files map[string]string) string {
		dir := t.TempDir()
		for name, text := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	apache := "Apache License\nVersion 2.0, January 2004"
	tests := []struct {
		name    string
		files   map[string]string
		want    string
		wantErr string
	}{
		{"WithSummary", map[string]string{"LICENSE": apache, "LICENSE-SUMMARY": "see LICENSE", "README.md": "GNU General Public License"}, "Apache-2.0", ""},
		{"GPLRefused", map[string]string{"COPYING": "GNU GENERAL PUBLIC LICENSE Version 3"}, "", "not compatible"},
		{"Unknown", map[string]string{"LICENSE.txt": "All rights reserved."}, "", "cannot classify"},
		{"None", map[string]string{"README.md": apache}, "", "no license file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ModuleLicense(write(t, tt.files))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %q, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %s", got, err, tt.want)
			}
		})
	}
}

// TestOwnLicense: the project's LICENSE is the Apache License 2.0 that the
// README, template.yaml's metadata and publish.yaml name.
func TestOwnLicense(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	if got := Classify(string(b)); !slices.Equal(got, []string{"Apache-2.0"}) || !strings.Contains(string(b), "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION") {
		t.Fatalf("LICENSE is %v, want the full Apache-2.0 text", got)
	}
}
