// Package ehpc builds the admin function, modify-user-passwords, from a
// setup.App: the E-HPC 2018-04-12 RPC surface (shared/ehpcapi) over the
// configured clusters, with its Async batches. Only the binaries that serve that
// surface import it.
package ehpc

import (
	"context"
	"fmt"

	"chpass/functions/internal/setup"
	"chpass/shared/config"
	"chpass/shared/ehpcapi"
	"chpass/shared/ldap"
	"chpass/shared/password"
	"chpass/shared/platform"
)

// Async says where a deployment's Async batches run.
type Async int

const (
	// NoAsync answers Async=true and ListTasks with InvalidOpt saying what to
	// configure: the cloud functions, until they have a shared task store.
	NoAsync Async = iota
	// LocalAsync keeps Async batches in the embedded store (tasks.key
	// required) for the worker of this process, which Local starts. Alone on
	// its bbolt file, the process claims tasks under a fixed name, so that it
	// resumes its own tasks at once after a crash.
	LocalAsync
	// CloudAsync runs Async batches on Lambda and Function Compute: with Redis
	// (redis.address) and tasks.key configured, a task is recorded, sealed, in
	// the shared Redis task store and handed to the platform's asynchronous
	// invocation of this same function, which runs it on the internal run-task
	// event (see Build); ListTasks reads Redis. Without
	// both, or off the clouds, it is NoAsync.
	CloudAsync
)

// DispatchFunc hands a recorded task to whatever runs it (batch.Options.Dispatch).
type DispatchFunc = func(ctx context.Context, id string) error

// cloudDispatchers builds, per platform (gateway.Lambda, gateway.FC), the
// Dispatch that hands a task to the function's own asynchronous invocation.
var cloudDispatchers = map[string]func() (DispatchFunc, error){}

// RegisterAsyncInvoker sets how CloudAsync hands a task to the asynchronous
// invocation of the running function on platform (gateway.Lambda, gateway.FC).
// modify-user-passwords registers one per cloud from files behind the build
// tags (noaws, noalibaba), so that each cloud's binary links only its own client
// and the other functions link none. Call it from init.
func RegisterAsyncInvoker(platform string, build func() (DispatchFunc, error)) {
	cloudDispatchers[platform] = build
}

// localOwner is the task owner of the local server (see LocalAsync).
const localOwner = "local"

// ModifyUserPasswords builds the admin function: the E-HPC RPC actions
// ModifyUserPasswords, ListUsers, ListTasks and ListClusters, with Async batches as async
// says.
func ModifyUserPasswords(ctx context.Context, a *setup.App, async Async) (*ehpcapi.Handler, error) {
	c := a.Config
	clusters := make(map[string]ehpcapi.Cluster, len(c.Clusters))
	for id, cl := range c.Clusters {
		ec := ehpcapi.Cluster{Status: cl.Status, Domain: cl.Directory}
		if d, ok := c.Directories[cl.Directory]; ok {
			ec.AccountType = d.Type // what ListClusters reports: "ldap"
		}
		if cl.Directory != "" {
			dir, err := a.ClusterDirectory(ctx, id)
			if err != nil {
				return nil, fmt.Errorf("clusters[%s]: %w", id, err)
			}
			if dir, err = withReset(dir, cl.Reset); err != nil {
				return nil, fmt.Errorf("clusters[%s].reset: %w", id, err)
			}
			svc, err := a.WithEvents(password.NewService(c.ClusterPolicy(id), dir), cl.Directory)
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
	shared, err := a.Shared(ctx)
	if err != nil {
		return nil, err
	}
	if shared != nil {
		opts.Guard = shared
	}
	if async == CloudAsync && shared != nil {
		key, err := c.TaskKey()
		if err != nil {
			return nil, err
		}
		newDispatch, ok := cloudDispatchers[platform.Detect()]
		if key == nil || !ok {
			return ehpcapi.New(opts) // NoAsync: InvalidOpt says what to configure
		}
		dispatch, err := newDispatch()
		if err != nil {
			return nil, fmt.Errorf("async invocation: %w", err)
		}
		opts.Tasks, opts.TaskKey, opts.TaskLease, opts.Dispatch = shared.Tasks(), key, c.Tasks.Lease, dispatch
		return ehpcapi.New(opts)
	}
	if async == LocalAsync && shared != nil {
		// Tasks in Redis are shared by every local server on it: each claims
		// under a name of its own, and takes over a dead one's task once its
		// lease has run out.
		key, err := c.TaskKey()
		if err != nil {
			return nil, err
		}
		if key == nil {
			return nil, fmt.Errorf("tasks.key: required for Async batches")
		}
		opts.Tasks, opts.TaskKey, opts.TaskLease = shared.Tasks(), key, c.Tasks.Lease
		return ehpcapi.New(opts)
	}
	if async == LocalAsync {
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
		opts.Tasks, opts.TaskKey, opts.TaskOwner = s, key, localOwner
	}
	return ehpcapi.New(opts)
}

// Build is the modify-user-passwords function on every platform: its HTTP
// kinds and, when Async batches run on the cloud (CloudAsync), the internal run-task event,
// which runs the task with batch.Engine.Run: idempotent, so that the platform's retries of a
// failed invocation finish a task without running a user twice; and the platform's failure
// record of a run-task invocation it gave up (platform.TaskFailed, the function being its own
// on-failure destination), which ends the task with batch.Engine.Abandon. Without a task store
// the function accepts neither event.
func Build(ctx context.Context, a *setup.App) (platform.Function, error) {
	h, err := ModifyUserPasswords(ctx, a, CloudAsync)
	if err != nil {
		return platform.Function{}, err
	}
	fn := platform.HTTPFunction(h)
	if e := h.Batches(); e != nil {
		fn.Kinds = append(fn.Kinds, platform.RunTask(e.Run), platform.TaskFailed(e.Abandon))
	}
	return fn, nil
}

// withReset returns dir with a cluster's reset options: an Active Directory
// directory's view that also applies them (sharing its connections).
func withReset(dir password.Directory, r config.ClusterReset) (password.Directory, error) {
	if r == (config.ClusterReset{}) {
		return dir, nil
	}
	ld, ok := dir.(*ldap.Directory)
	if !ok {
		return nil, fmt.Errorf("must_change and unlock need a directory of dialect %s", ldap.ActiveDirectory)
	}
	return ld.WithReset(ldap.ResetOptions{MustChange: r.MustChange, Unlock: r.Unlock})
}
