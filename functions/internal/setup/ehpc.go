package setup

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"chpass/shared/ehpcapi"
	"chpass/shared/embedded"
	"chpass/shared/password"
)

// ModifyUserPasswords builds the admin function: the E-HPC RPC actions
// ModifyUserPasswords, ListUsers and ListTasks. With tasks, Async batches are kept
// in the embedded store for a worker (the local server's); without, Async=true
// answers InvalidOpt saying what to configure.
func (a *App) ModifyUserPasswords(ctx context.Context, tasks bool) (*ehpcapi.Handler, error) {
	c := a.Config
	clusters := make(map[string]ehpcapi.Cluster, len(c.Clusters))
	for id, cl := range c.Clusters {
		ec := ehpcapi.Cluster{Status: cl.Status, Domain: cl.Directory}
		if cl.Directory != "" {
			dir, err := a.Directory(ctx, cl.Directory)
			if err != nil {
				return nil, fmt.Errorf("clusters[%s]: %w", id, err)
			}
			svc, err := a.withEvents(password.NewService(c.ClusterPolicy(id), dir), cl.Directory)
			if err != nil {
				return nil, err
			}
			ec.Service = svc
			if l, ok := dir.(ehpcapi.UserLister); ok {
				ec.Users = l
			}
		}
		clusters[id] = ec
	}
	keys := make([]ehpcapi.AccessKey, 0, len(c.AccessKeys))
	for _, k := range c.AccessKeys {
		if len(k.Actions) > 0 {
			keys = append(keys, ehpcapi.AccessKey{ID: k.ID, Secret: k.Secret.Reveal(), Actions: k.Actions, Clusters: k.Clusters})
		}
	}
	opts := ehpcapi.Options{
		Clusters:     clusters,
		AccessKeys:   keys,
		TrustGateway: c.Gateway.Trust,
		Concurrency:  c.Batch.Concurrency,
		Logger:       a.Logger,
		Now:          a.Now,
	}
	if tasks {
		key, err := c.TaskKey()
		if err != nil {
			return nil, err
		}
		if key == nil {
			return nil, fmt.Errorf("tasks.key: required for Async batches on the local server")
		}
		s, err := a.Store(ctx)
		if err != nil {
			return nil, err
		}
		opts.Tasks, opts.TaskKey = taskStore{s}, key
	}
	return ehpcapi.New(opts)
}

// taskStore adapts the embedded store's tasks to ehpcapi.TaskStore.
type taskStore struct{ s *embedded.Store }

var _ ehpcapi.TaskStore = taskStore{}

func (t taskStore) SaveTask(ctx context.Context, task ehpcapi.Task) error {
	return t.s.SaveTask(ctx, embedded.Task(task))
}

func (t taskStore) Task(ctx context.Context, id string) (ehpcapi.Task, error) {
	task, err := t.s.Task(ctx, id)
	return ehpcapi.Task(task), err
}

func (t taskStore) Tasks(ctx context.Context, clusterID string, offset, limit int) ([]ehpcapi.Task, int, error) {
	ts, total, err := t.s.Tasks(ctx, clusterID, offset, limit)
	out := make([]ehpcapi.Task, len(ts))
	for i, task := range ts {
		out[i] = ehpcapi.Task(task)
	}
	return out, total, err
}

func (t taskStore) PendingTasks(ctx context.Context) ([]ehpcapi.Task, error) {
	ts, err := t.s.PendingTasks(ctx)
	out := make([]ehpcapi.Task, len(ts))
	for i, task := range ts {
		out[i] = ehpcapi.Task(task)
	}
	return out, err
}

// Local builds every function behind one handler for the local server: the IAM
// routes under /v5/ and the E-HPC RPC endpoint everywhere else. It starts the
// worker that runs Async batches until ctx ends.
func (a *App) Local(ctx context.Context) (http.Handler, error) {
	iam, err := a.CallerPassword(ctx)
	if err != nil {
		return nil, err
	}
	rpc, err := a.ModifyUserPasswords(ctx, true)
	if err != nil {
		return nil, err
	}
	go rpc.Worker(ctx, time.Second)
	mux := http.NewServeMux()
	mux.Handle("/v5/", iam)
	if p := a.Config.Page.Path; p != "" {
		mux.Handle(strings.TrimSuffix(p, "/")+"/", iam)
		mux.Handle(strings.TrimSuffix(p, "/"), iam)
	}
	mux.Handle("/", rpc)
	return mux, nil
}
