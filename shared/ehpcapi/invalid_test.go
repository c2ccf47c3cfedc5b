package ehpcapi

import (
	"strings"
	"testing"
)

// TestInvalidEntriesAllNamed sends a batch with several invalid entries: the
// answer names every one of them and the rules each breaks, quotes no password,
// and nothing changes.
func TestInvalidEntriesAllNamed(t *testing.T) {
	e := newEnv(t, nil)
	e.secrets = append(e.secrets, "Qz9!k", "alllowercase-and-long")
	r := e.call(t, modify("ehpc-demo", map[string]string{
		"User.2.Password": "Qz9!k",                 // too short
		"User.3.Name":     "bad)(name",             // not a valid name
		"User.4.Password": "alllowercase-and-long", // too few kinds of characters
		"User.5.Name":     "user1",                 // repeats entry 1
	}, "user1", "user2", "user3", "user4", "user5"))
	wantError(t, r, 400, CodeInvalidParams)
	if msg, want := r.message(), "The specified parameter User.2.Password, User.3.Name, User.4.Password, User.5.Name is invalid."; msg != want {
		t.Fatalf("message %q, want %q", msg, want)
	}
	rec, _ := r.Body["Recommend"].(string)
	for _, want := range []string{
		"User.2.Password: minimum_password_length: ",
		"User.3.Name: ", "User.4.Password: password_char_combination: ", "User.5.Name: The user name repeats entry 1.",
	} {
		if !strings.Contains(rec, want) {
			t.Errorf("Recommend %q lacks %q", rec, want)
		}
	}
	if strings.Count(rec, "User.2.Password: ") != 1 || strings.Index(rec, "User.2.") > strings.Index(rec, "User.5.") {
		t.Errorf("Recommend %q: want each entry once, in the batch's order", rec)
	}
	if n := e.dir.resetNames(); len(n) != 0 {
		t.Fatalf("%v changed despite bad entries", n)
	}

	t.Run("OneBadEntryAsBefore", func(t *testing.T) {
		r := e.call(t, modify("ehpc-demo", map[string]string{"User.2.Password": "alllowercase-and-long"}, "user1", "user2"))
		wantError(t, r, 400, CodeInvalidParams)
		rec, _ := r.Body["Recommend"].(string)
		if r.message() != "The specified parameter User.2.Password is invalid." || !strings.HasPrefix(rec, "password_char_combination: ") {
			t.Fatalf("message %q, Recommend %q", r.message(), rec)
		}
	})
}
