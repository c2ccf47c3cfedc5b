package rotation_test

import (
	"testing"
	"time"

	"chpass/shared/rotation"
)

func TestCron(t *testing.T) {
	at := time.Date(2026, 11, 29, 17, 44, 30, 0, time.UTC) // a Sunday
	tests := []struct {
		spec, want string
	}{
		{"* * * * *", "2026-11-29T17:45:00Z"},
		{"0 3 1 * *", "2026-12-01T03:00:00Z"},
		{"*/15 * * * *", "2026-11-29T17:45:00Z"},
		{"30 2 * * 1-5", "2026-11-30T02:30:00Z"},
		{"0 0 29 2 *", "2028-02-29T00:00:00Z"},
		{"5,50 17 * * 0", "2026-11-29T17:50:00Z"},
	}
	for _, tt := range tests {
		c, err := rotation.ParseCron(tt.spec)
		if err != nil {
			t.Fatalf("%s: %v", tt.spec, err)
		}
		if got := c.Next(at).Format(time.RFC3339); got != tt.want {
			t.Errorf("%s: next %s, want %s", tt.spec, got, tt.want)
		}
	}
	for _, bad := range []string{"", "* * * *", "60 * * * *", "* * * * 7", "*/0 * * * *", "a * * * *", "5-1 * * * *"} {
		if _, err := rotation.ParseCron(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
