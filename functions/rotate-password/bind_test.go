package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"chpass/shared/ldap"
	"chpass/shared/ldap/ldaptest"
	"chpass/shared/logtest"
	"chpass/shared/rotation"
	"chpass/shared/secretjson"
)

// TestRotateOwnBindAccount rotates chpass's own service account (addressed by the secret's
// "dn", outside the user search) with Secrets Manager's four steps, through the SDK against the
// fake service and slapd, while an instance bound as that account keeps resetting users and
// re-reads the secret (current, then pending, #password) when its bind is refused: no request
// fails.
func TestRotateOwnBindAccount(t *testing.T) {
	env := ldaptest.Require(t)
	c := clouds(t)[0]
	const svc = "cn=rotadmin2,dc=example,dc=test"
	root := env.RootConn(t)
	defer root.Close()
	p0 := "Rotadmin-Own-1a!"
	_ = root.Del(goldap.NewDelRequest(svc, nil))
	add := goldap.NewAddRequest(svc, nil)
	add.Attribute("objectClass", []string{"person"})
	add.Attribute("cn", []string{"rotadmin2"})
	add.Attribute("sn", []string{"rotadmin"})
	add.Attribute("userPassword", []string{p0})
	add.Attribute("pwdPolicySubentry", []string{"cn=service,ou=policies," + env.Base})
	if err := root.Add(add); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c := env.RootConn(t); defer c.Close(); _ = c.Del(goldap.NewDelRequest(svc, nil)) })

	secret, _ := c.create(fmt.Sprintf(`{"username":"rotadmin2","password":%q,"directory":"slapd","dn":%q,"mode":"self"}`, p0, svc))
	var reads atomic.Int32
	// instance starts an instance as setup wires one: bind_password read once at start (p0, as
	// warm instances hold it), re-read from the secret (current, then pending, #password) when
	// its service bind is refused.
	instance := func() *ldap.Directory {
		d, err := ldap.New(ldap.Config{URL: env.URL, InsecurePlain: true, BindDN: svc, BindPassword: p0,
			UserDNTemplate: "uid=%s," + env.People, PoolSize: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		d.SetBindPasswords(func(ctx context.Context) ([]string, error) {
			reads.Add(1)
			var out []string
			for _, stage := range []string{rotation.AWSStages.Current, rotation.AWSStages.Pending} {
				v, err := c.secrets.Value(ctx, secret, "", stage)
				if errors.Is(err, rotation.ErrVersionNotFound) {
					continue
				}
				if err != nil {
					return nil, err
				}
				pw, err := secretjson.Field(v, "password")
				if err != nil {
					return nil, err
				}
				out = append(out, pw)
			}
			return out, nil
		}, 0)
		return d
	}
	users := env.FreshUsers(t, 1, "")
	resets := 0
	reset := func(d *ldap.Directory, when string) {
		t.Helper()
		resets++
		if err := d.ResetPassword(context.Background(), users[0].Name, fmt.Sprintf("Own-%d-Reset-9z", resets)); err != nil {
			t.Errorf("a reset %s failed: %v", when, err)
		}
	}
	warm := instance()
	reset(warm, "before the rotation")
	var logs logtest.Buffer
	_, dir := slapdB(t)
	r := rotator(c.secrets, c.stages, dir, &logs)
	token := c.begin(secret)
	ctx := context.Background()
	for _, step := range []string{rotation.StepCreate, rotation.StepSet} {
		if err := r.Step(ctx, secret, token, step); err != nil {
			t.Fatal(err)
		}
	}
	// Between setSecret and finishSecret: the directory holds the pending password.
	reset(warm, "between setSecret and finishSecret on a warm instance")
	reset(instance(), "between setSecret and finishSecret on a new instance")
	for _, step := range []string{rotation.StepTest, rotation.StepFinish} {
		if err := r.Step(ctx, secret, token, step); err != nil {
			t.Fatal(err)
		}
	}
	c.end(secret, token)
	// After finishSecret: every instance started before still holds the old password.
	reset(instance(), "after finishSecret on an instance holding the old password")
	reset(warm, "after finishSecret on the warm instance")
	_, values := c.versions(secret)
	v, _ := rotation.ParseValue(values[token])
	if !bindDN(t, env.URL, svc, v.Password) || bindDN(t, env.URL, svc, p0) {
		t.Error("the service account does not bind with exactly the current password")
	}
	if n := reads.Load(); n < 2 || n > 3 {
		t.Errorf("%d re-reads of the secret: want one per instance that met a refused bind", n)
	}
	if strings.Contains(logs.String(), v.Password) || strings.Contains(logs.String(), p0) {
		t.Error("a password reached the logs")
	}
}

func bindDN(t *testing.T, url, dn, pw string) bool {
	c, err := goldap.DialURL(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.Bind(dn, pw) == nil
}
