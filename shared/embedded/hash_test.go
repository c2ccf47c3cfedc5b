package embedded

import (
	"errors"
	"strings"
	"testing"
)

func TestHashRoundTrip(t *testing.T) {
	p := Argon2Params{Time: 1, MemoryKiB: 64, Threads: 2}
	h, err := hashPassword("Secret-pass1", p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=2$") {
		t.Fatalf("hash %q is not in PHC format", h)
	}
	parsed, err := parseHash(h)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.params != p || len(parsed.salt) != saltLen || len(parsed.key) != keyLen || parsed.String() != h {
		t.Fatalf("parsed %+v", parsed)
	}
	tests := []struct {
		name string
		pw   string
		want bool
	}{
		{name: "Right", pw: "Secret-pass1", want: true},
		{name: "Wrong", pw: "Secret-pass2"},
		{name: "Prefix", pw: "Secret-pass"},
		{name: "Empty", pw: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := verifyHash(h, tt.pw)
			if err != nil || ok != tt.want {
				t.Errorf("verifyHash = %v, %v; want %v", ok, err, tt.want)
			}
		})
	}
	h2, _ := hashPassword("Secret-pass1", p)
	if h2 == h {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
}

func TestDefaults(t *testing.T) {
	if got := (Argon2Params{}).withDefaults(); got != (Argon2Params{Time: 2, MemoryKiB: 19456, Threads: 1}) {
		t.Errorf("defaults = %+v", got)
	}
	if got := (Argon2Params{Time: 3}).withDefaults(); got != (Argon2Params{Time: 3, MemoryKiB: 19456, Threads: 1}) {
		t.Errorf("defaults = %+v", got)
	}
}

func TestParseHashRejects(t *testing.T) {
	const salt, key = "c2FsdHNhbHRzYWx0c2FsdA", "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
	tests := map[string]string{
		"Empty":         "",
		"Bcrypt":        "$2a$10$abcdefghijklmnopqrstuuJ8S7p0b5Wm7n2p5cM3iZf1yq4D3e1gG",
		"Argon2i":       "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"OldVersion":    "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key,
		"MissingParam":  "$argon2id$v=19$m=64,t=1$" + salt + "$" + key,
		"UnknownParam":  "$argon2id$v=19$m=64,t=1,p=1,x=2$" + salt + "$" + key,
		"ZeroTime":      "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key,
		"HugeMemory":    "$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key,
		"ThreadsTooBig": "$argon2id$v=19$m=4096,t=1,p=256$" + salt + "$" + key,
		"BadSalt":       "$argon2id$v=19$m=64,t=1,p=1$!!$" + key,
		"ShortKey":      "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$a2V5",
		"ExtraField":    "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$x",
	}
	for name, h := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := parseHash(h)
			if !errors.Is(err, errBadHash) {
				t.Fatalf("parseHash: %v, want errBadHash", err)
			}
			if h != "" && strings.Contains(err.Error(), h) {
				t.Error("the error quotes the hash")
			}
		})
	}
}
