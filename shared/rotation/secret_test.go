package rotation_test

import (
	"strings"
	"testing"

	"chpass/shared/rotation"
)

func TestParseValue(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{"Full", `{"username":"svc","password":"p","directory":"slapd","dn":"uid=svc,dc=x","mode":"service","note":"kept"}`, ""},
		{"DefaultModeSelf", `{"username":"svc","password":"p","directory":"embedded"}`, ""},
		{"ErrNoUsername", `{"password":"CANARY-parse","directory":"x"}`, `"username"`},
		{"ErrNoDirectory", `{"username":"svc","password":"CANARY-parse"}`, `"directory"`},
		{"ErrBadMode", `{"username":"svc","password":"CANARY-parse","directory":"x","mode":"root"}`, `"mode"`},
		{"ErrPlainPassword", `CANARY-parse-plain`, "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := rotation.ParseValue(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "CANARY") {
					t.Errorf("err = %v, want one naming %s and no value", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			out, err := v.WithPassword("new")
			if err != nil {
				t.Fatal(err)
			}
			w, _ := rotation.ParseValue(out)
			if w.Password != "new" || w.Username != "svc" || (tt.name == "Full" && !strings.Contains(out, `"note":"kept"`)) {
				t.Errorf("WithPassword = %s", out)
			}
			if v.Mode == "" {
				t.Error("no mode")
			}
		})
	}
}
