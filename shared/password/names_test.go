package password

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestPreparedName(t *testing.T) {
	tests := map[string]bool{
		"alice":                          true,
		"Alice":                          true, // case is kept: the directory decides whether it matches
		"j.doe@corp":                     true,
		"ren\u00e9":                      true,  // é precomposed (NFC)
		"rene\u0301":                     false, // e + combining acute: NFC would change it
		"ａｌｉｃｅ":                          false, // fullwidth: NFKC and width mapping change it
		"ａlice":                          false,
		"\ufb01le":                       false, // the ﬁ ligature: NFKC changes it
		"alice\u200b":                    false, // zero-width space
		"al\u00adice":                    false, // soft hyphen
		"\ufeffalice":                    false, // byte order mark
		"ali ce":                         false, // a space
		"alice\t":                        false,
		"":                               false,
		"\u2167":                         false, // Roman numeral eight: NFKC gives VIII
		"\u0391\u03bb\u03af\u03ba\u03b7": true,  // Greek, NFC
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			if got := PreparedName(name); got != want {
				t.Fatalf("PreparedName(%q) = %v, want %v", name, got, want)
			}
		})
	}
}

// A self-service change for a name that preparation would change never
// reaches the directory and reads as an unknown user.
func TestServiceChangeRefusesUnpreparedNames(t *testing.T) {
	dir := newFake(map[string]string{"alice": "Old-Pass-1a!", "ａｌｉｃｅ": "Old-Pass-1a!"})
	s := NewService(DefaultPolicy(), dir)
	for _, name := range []string{"ａｌｉｃｅ", "alice\u200b", "al\u00adice"} {
		err := s.Change(context.Background(), name, "Old-Pass-1a!", "New-Pass-2b@")
		if ErrorCode(err) != EUNAUTHORIZED {
			t.Fatalf("Change(%q) = %v, want EUNAUTHORIZED", name, err)
		}
	}
	if n := dir.calls.Load(); n != 0 {
		t.Fatalf("the directory was asked %d times", n)
	}
}

// keyedFake is the fake directory with case-insensitive names, as LDAP has.
type keyedFake struct{ *fakeDirectory }

func (keyedFake) NameKey(name string) string { return strings.ToLower(name) }

// Duplicates in a batch are found by the directory's own equality.
func TestCheckBatchDuplicatesByDirectoryEquality(t *testing.T) {
	batch := []ResetRequest{{"bob", "Reset-Pass-1a!"}, {"alice", "Reset-Pass-2b!"}, {"BOB", "Reset-Pass-3c!"}}
	users := map[string]string{"bob": "x", "BOB": "y", "alice": "z"}
	t.Run("CaseInsensitiveDirectory", func(t *testing.T) {
		err := NewService(DefaultPolicy(), keyedFake{newFake(users)}).CheckBatch(batch)
		var ie *InvalidEntryError
		ok := errors.As(err, &ie)
		if !ok || ie.Index != 2 || ie.Field != "Name" || !strings.Contains(ErrorMessage(ie.Err), "repeats entry 1") {
			t.Fatalf("CheckBatch = %v, want entry 3's name repeating entry 1", err)
		}
	})
	t.Run("ExactDirectory", func(t *testing.T) {
		if err := NewService(DefaultPolicy(), newFake(users)).CheckBatch(batch); err != nil {
			t.Fatalf("CheckBatch = %v: bob and BOB are two accounts of a directory that matches exactly", err)
		}
	})
}
