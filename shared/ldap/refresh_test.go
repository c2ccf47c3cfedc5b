package ldap

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"chpass/shared/ldap/ldaptest"
)

// rotatingSecret stands for the secret service holding the bind account's password.
type rotatingSecret struct {
	mu               sync.Mutex
	current, pending string
	reads            atomic.Int64
}

func (s *rotatingSecret) read(context.Context) ([]string, error) {
	s.reads.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	return []string{s.current, s.pending}, nil
}

// TestSurvivesBindSecretRotation rotates the service account's own password, as
// rotate-password's four steps do (pending staged, set in the directory, current moved), while
// a batch of admin resets and self-service changes run against slapd through one instance that
// was warm before, and one that starts cold after, with connections recycled throughout: no
// request fails, and the secret is re-read a handful of times, not hammered.
func TestSurvivesBindSecretRotation(t *testing.T) {
	env := ldaptest.Require(t)
	const svc = "cn=rotadmin,dc=example,dc=test"
	root := env.RootConn(t)
	defer root.Close()
	p0, p1 := "Rotadmin-Old-1a!", "Rotadmin-New-2b!"
	_ = root.Del(goldap.NewDelRequest(svc, nil))
	add := goldap.NewAddRequest(svc, nil)
	add.Attribute("objectClass", []string{"person"})
	add.Attribute("cn", []string{"rotadmin"})
	add.Attribute("sn", []string{"rotadmin"})
	add.Attribute("userPassword", []string{p0})
	add.Attribute("pwdPolicySubentry", []string{"cn=service,ou=policies," + env.Base})
	if err := root.Add(add); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c := env.RootConn(t); defer c.Close(); _ = c.Del(goldap.NewDelRequest(svc, nil)) })

	secret := &rotatingSecret{current: p0}
	open := func() *Directory {
		d, err := New(Config{URL: env.URL, InsecurePlain: true, BindDN: svc, BindPassword: p0,
			UserSearch: &UserSearch{Base: env.People, Filter: "(&(objectClass=inetOrgPerson)(uid=%s))"}, PoolSize: 3})
		if err != nil {
			t.Fatal(err)
		}
		d.SetBindPasswords(secret.read, 200*time.Millisecond)
		t.Cleanup(func() { d.Close() })
		return d
	}
	warm := open()
	users := env.FreshUsers(t, 12, "")
	ctx := context.Background()
	var failures, ops atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	work := func(d *Directory, batch []int, self bool) {
		defer wg.Done()
		pw := map[int]string{}
		for _, i := range batch {
			pw[i] = users[i].Password
		}
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			for _, i := range batch {
				next := fmt.Sprintf("Rot-%d-%d-Xy!", i, n)
				var err error
				if self {
					err = d.ChangePassword(ctx, users[i].Name, pw[i], next)
				} else {
					err = d.ResetPassword(ctx, users[i].Name, next)
				}
				ops.Add(1)
				if err != nil {
					failures.Add(1)
					t.Errorf("%s of %s failed: %v", map[bool]string{true: "self-service change", false: "batch reset"}[self], users[i].Name, err)
					continue
				}
				pw[i] = next
			}
			d.pool.drain() // connections are recycled: new ones bind with the password of now
		}
	}
	wg.Add(2)
	go work(warm, []int{0, 1, 2, 3, 4, 5}, false)
	go work(warm, []int{6, 7, 8}, true)

	time.Sleep(100 * time.Millisecond)
	// createSecret: the pending version.
	secret.mu.Lock()
	secret.pending = p1
	secret.mu.Unlock()
	// setSecret: the directory holds the pending password; the current stage still the old one.
	mod := goldap.NewModifyRequest(svc, nil)
	mod.Replace("userPassword", []string{p1})
	if err := root.Modify(mod); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	// finishSecret: current moves to the new version.
	secret.mu.Lock()
	secret.current, secret.pending = p1, ""
	secret.mu.Unlock()
	// An instance that started before the rotation, cold until now, still holds the old password.
	cold := open()
	wg.Add(1)
	go work(cold, []int{9, 10, 11}, false)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	t.Logf("%d operations, %d failures, %d re-reads of the secret", ops.Load(), failures.Load(), secret.reads.Load())
	if failures.Load() != 0 || ops.Load() < 20 {
		t.Fatalf("%d of %d operations failed", failures.Load(), ops.Load())
	}
	if r := secret.reads.Load(); r < 2 || r > 6 {
		t.Errorf("%d re-reads of the secret: want one per instance (two instances), a few at most", r)
	}
}

// TestBindRefreshIsRateLimited: a wrong password in the secret makes one re-read per interval,
// never a loop, and the operation fails clearly.
func TestBindRefreshIsRateLimited(t *testing.T) {
	env := ldaptest.Require(t)
	secret := &rotatingSecret{current: "wrong-1", pending: "wrong-2"}
	d, err := New(Config{URL: env.URL, InsecurePlain: true, BindDN: env.AdminDN, BindPassword: "wrong-0",
		UserSearch: &UserSearch{Base: env.People, Filter: "(uid=%s)"}, PoolSize: 2, Retries: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.SetBindPasswords(secret.read, time.Hour)
	for i := 0; i < 20; i++ {
		if _, err := d.LookupUser(context.Background(), "alice"); err == nil {
			t.Fatal("a lookup with a wrong service password succeeded")
		}
	}
	if n := secret.reads.Load(); n != 1 {
		t.Errorf("%d re-reads of the secret in 20 refused operations, want 1", n)
	}
}
