package ldap

import (
	"encoding/binary"
	"testing"
	"time"
)

// metaBlob builds a replPropertyMetaData value with one entry per attrType,
// each written at the given time.
func metaBlob(at time.Time, attrs ...uint32) []byte {
	b := make([]byte, 16+48*len(attrs))
	le := binary.LittleEndian
	le.PutUint32(b[0:], 1)
	le.PutUint32(b[8:], uint32(len(attrs)))
	for i, a := range attrs {
		e := b[16+48*i:]
		le.PutUint32(e[0:], a)
		le.PutUint32(e[4:], 3)
		le.PutUint64(e[8:], uint64(at.Unix()+dstimeToUnix))
	}
	return b
}

func TestUnicodePwdChanged(t *testing.T) {
	at := time.Date(2026, 11, 29, 18, 2, 39, 0, time.UTC)
	tests := []struct {
		name    string
		meta    []byte
		wantErr bool
	}{
		{"Found", metaBlob(at, 0x00090000, attUnicodePwd, 0x0009005e), false},
		{"Missing", metaBlob(at, 0x00090000, 0x0009005e), true},
		{"Empty", nil, true},
		{"WrongVersion", func() []byte { b := metaBlob(at, attUnicodePwd); b[0] = 2; return b }(), true},
		{"CountTooLarge", func() []byte { b := metaBlob(at, attUnicodePwd); b[8] = 9; return b }(), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := unicodePwdChanged(tt.meta)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && !got.Equal(at) {
				t.Fatalf("time = %v, want %v", got, at)
			}
		})
	}
}

// TestChangedAfter: a write counts only when it is at least a second after
// the intent on the DC's clock, the skew removed; any doubt reads as "not
// changed".
func TestChangedAfter(t *testing.T) {
	since := time.Date(2026, 11, 29, 18, 0, 0, 700e6, time.UTC)
	local := since.Add(time.Minute)
	tests := []struct {
		name    string
		changed time.Time // DC clock, whole seconds
		skew    time.Duration
		want    bool
	}{
		{"SameSecond", since.Truncate(time.Second), 0, false},
		// The DC said 18:01:00 when this process said 18:01:00.7, so its clock
		// is at most 0.3s ahead: a write in its second 18:00:01 came after 18:00:00.7.
		{"NextSecond", since.Truncate(time.Second).Add(time.Second), 0, true},
		{"NextSecondDCHalfSecondAhead", since.Truncate(time.Second).Add(time.Second), 500 * time.Millisecond, false},
		{"TwoSecondsLater", since.Truncate(time.Second).Add(2 * time.Second), 0, true},
		{"Before", since.Add(-time.Hour), 0, false},
		{"DCAheadPriorWriteNotCounted", since.Add(-10 * time.Second).Add(30 * time.Second).Truncate(time.Second), 30 * time.Second, false},
		{"DCAheadLaterWrite", since.Add(5 * time.Second).Add(30 * time.Second).Truncate(time.Second), 30 * time.Second, true},
		{"DCBehindLaterWrite", since.Add(5 * time.Second).Add(-30 * time.Second).Truncate(time.Second), -30 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dcNow := local.Add(tt.skew).Truncate(time.Second)
			if got := changedAfter(tt.changed, since, dcNow, local); got != tt.want {
				t.Fatalf("changedAfter = %v, want %v", got, tt.want)
			}
		})
	}
}
