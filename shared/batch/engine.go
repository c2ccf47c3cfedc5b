package batch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"chpass/shared/password"
)

// PasswordHolder is a directory that can tell whether a user's current
// password is a given one without a login that counts as a failure (OpenLDAP's
// ppolicy and Active Directory count wrong binds towards a lockout). The
// engine uses it to reconcile an intent left without an outcome; with a
// directory that lacks it, such a user's outcome is EUNKNOWN, never a second
// reset.
type PasswordHolder interface {
	// HoldsPassword reports whether name's current password is password. It
	// counts no failure, changes nothing, and reports true also when the
	// password has expired or must be changed at the next logon.
	// Returns ENOTFOUND when the user does not exist and EUNAVAILABLE when the
	// directory cannot be reached.
	HoldsPassword(ctx context.Context, name, password string) (bool, error)
}

// PasswordChangeChecker is a directory that cannot read a password back
// (Active Directory) but can tell, without a login, whether a user's password
// was written after a time. The engine asks it, with the intent's recorded
// time, when the directory is not a PasswordHolder or its HoldsPassword
// answers EFORBIDDEN.
//
// It proves less than HoldsPassword: true means that some write of the
// password happened after since, which is the batch's own reset unless another
// writer (the user, another administrator) changed the same password between
// the intent and the check. false means no write is proven after since; the
// engine then resets again, which sets the same password.
type PasswordChangeChecker interface {
	// PasswordChangedSince reports whether name's password was written after
	// since. It counts no failure and changes nothing. Returns ENOTFOUND when
	// the user does not exist and EUNAVAILABLE when the directory cannot be
	// reached; a doubt (clocks, resolution) answers false, never true.
	PasswordChangedSince(ctx context.Context, name string, since time.Time) (bool, error)
}

// checker reconciles an intent without an outcome through whichever check the
// directory offers; the zero checker has none.
type checker struct {
	holder  PasswordHolder
	changed PasswordChangeChecker
}

func newChecker(dir any) checker {
	h, _ := dir.(PasswordHolder)
	c, _ := dir.(PasswordChangeChecker)
	return checker{holder: h, changed: c}
}

func (c checker) none() bool { return c.holder == nil && c.changed == nil }

// done reports whether u's reset, whose intent was recorded at since, has
// happened: by HoldsPassword when the directory can read the password back,
// else by PasswordChangedSince.
func (c checker) done(ctx context.Context, u password.ResetRequest, since time.Time) (bool, error) {
	if c.holder != nil {
		ok, err := c.holder.HoldsPassword(ctx, u.Name, u.Password)
		if c.changed == nil || password.ErrorCode(err) != password.EFORBIDDEN {
			return ok, err
		}
	}
	return c.changed.PasswordChangedSince(ctx, u.Name, since)
}

// AuditEvent is one line of a batch's audit trail: one before each user's
// change (PhaseIntent) and one after it (PhaseOutcome). It never holds a
// password.
type AuditEvent struct {
	TaskID  string // "" for a synchronous batch
	Cluster string
	Origin  Origin
	Name    string
	Phase   Phase
	Code    string // the outcome's code ("" for success); empty for an intent
	Message string
	Checked bool
	At      time.Time
}

// Resolver returns the password service of a cluster, or the domain error
// that says why its users cannot be changed now.
type Resolver func(ctx context.Context, cluster string) (*password.Service, error)

// Options configure an Engine.
type Options struct {
	// Store keeps the tasks. Required.
	Store TaskStore
	// Key is the 32-byte AES-GCM key sealing waiting tasks' passwords. Required.
	Key []byte
	// Resolve finds the service that resets a task's users. Required.
	Resolve Resolver
	// Concurrency bounds the resets run at once in one run; default 8.
	Concurrency int
	// Lease is how long a claim on a task lasts without renewal; a run renews
	// it every third of it. Default 1 minute. A run on an instance that died
	// is taken over by another after it.
	Lease time.Duration
	// Owner names this engine in claims; default a random id. Only a process
	// that is alone on its store (the local server on its bbolt file, which
	// one process at a time can open) may use a fixed name, so that it
	// resumes its own tasks at once after a crash.
	Owner string
	// Audit receives every audit event; nil drops them.
	Audit func(AuditEvent)
	// Dispatch hands a newly submitted task to whatever runs it, such as the
	// platform's asynchronous invocation of a function that then calls Run.
	// Nil wakes this engine's Worker.
	Dispatch func(ctx context.Context, id string) error
	Logger   zerolog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Engine submits and runs batches. It is safe for concurrent use.
type Engine struct {
	opts    Options
	sealer  *Sealer
	now     func() time.Time
	log     zerolog.Logger
	wake    chan struct{}
	pending sync.Mutex // one RunPending at a time in this process
	audits  sync.Mutex // audit events one at a time, whatever the sink's writer
}

// DefaultLease is the default claim lease.
const DefaultLease = time.Minute

// New returns an Engine for opts, or an error naming what is misconfigured.
func New(opts Options) (*Engine, error) {
	if opts.Store == nil {
		return nil, errors.New("batch.New: no task store")
	}
	if opts.Resolve == nil {
		return nil, errors.New("batch.New: no resolver")
	}
	s, err := NewSealer(opts.Key)
	if err != nil {
		return nil, fmt.Errorf("batch.New: key: %w", err)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.Owner == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		opts.Owner = "run-" + hex.EncodeToString(b[:])
	}
	e := &Engine{opts: opts, sealer: s, now: opts.Now, log: opts.Logger, wake: make(chan struct{}, 1)}
	if e.now == nil {
		e.now = time.Now
	}
	return e, nil
}

// Store returns the engine's task store.
func (e *Engine) Store() TaskStore { return e.opts.Store }

// Owner returns the name this engine claims tasks under.
func (e *Engine) Owner() string { return e.opts.Owner }

// NewTaskID returns a random task id shaped like the vendors' request ids.
func NewTaskID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	const hexd = "0123456789ABCDEF"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hexd[c>>4], hexd[c&15])
	}
	return string(out)
}

// Submit stores users, already validated, as a new reset task of cluster,
// sealed, and hands it to Dispatch (or wakes the Worker). It returns the task
// as stored. It fails only when the task could not be sealed or stored; a
// Dispatch failure is logged and leaves the task pending for RunPending.
func (e *Engine) Submit(ctx context.Context, cluster string, origin Origin, users []password.ResetRequest) (Task, error) {
	id := NewTaskID()
	sealed, err := e.sealer.Seal(id, users)
	if err != nil {
		return Task{}, password.Wrap(password.EINTERNAL, fmt.Errorf("batch.Submit: sealing: %w", err), "Internal error.")
	}
	now := e.now().UTC()
	t := Task{ID: id, Cluster: cluster, Kind: KindReset, Status: StatusRunning, Created: now, Updated: now,
		Total: len(users), Sealed: sealed, Origin: origin}
	if err := e.opts.Store.CreateTask(ctx, t); err != nil {
		return Task{}, err
	}
	e.log.Info().Str("event", "task_queued").Str("request_id", origin.RequestID).Str("task_id", id).
		Str("cluster", cluster).Int("users", len(users)).Msg("task queued")
	if e.opts.Dispatch != nil {
		if err := e.opts.Dispatch(ctx, id); err != nil {
			e.log.Error().Err(err).Str("task_id", id).Msg("cannot dispatch a task; it waits for a pending sweep")
		}
		return t, nil
	}
	select {
	case e.wake <- struct{}{}:
	default:
	}
	return t, nil
}

// Worker runs pending tasks until ctx ends: at once (resuming tasks a crash
// left running), whenever Submit wakes it, and every poll.
func (e *Engine) Worker(ctx context.Context, poll time.Duration) {
	if poll <= 0 {
		poll = 10 * time.Second
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if err := e.RunPending(ctx); err != nil && ctx.Err() == nil {
			e.log.Error().Err(err).Msg("running pending tasks failed")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.wake:
		}
	}
}

// RunPending runs every pending task once (Run), one pass at a time in this
// process. Tasks claimed by a live run elsewhere are left to it.
func (e *Engine) RunPending(ctx context.Context) error {
	e.pending.Lock()
	defer e.pending.Unlock()
	tasks, err := e.opts.Store.PendingTasks(ctx)
	if err != nil {
		return fmt.Errorf("batch.RunPending: %w", err)
	}
	var errs []error
	for _, t := range tasks {
		if ctx.Err() != nil {
			break
		}
		if err := e.Run(ctx, t.ID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Run runs the task with id to its end, and is the entry point for "run task
// <id>" from any instance: it is idempotent. It claims the task (returning nil
// at once when the task has ended or a live run elsewhere holds it), skips
// every user with an outcome, reconciles every intent without one, resets the
// rest (their entries found in bulk first when the directory is a
// password.BatchFinder, for this run only), and ends the task. When ctx ends first it records what it finished,
// releases the claim and returns ctx's error; the next Run resumes.
func (e *Engine) Run(ctx context.Context, id string) error {
	return e.run(ctx, id, false)
}

// Abandon ends the task with id without resetting anyone, for when the
// platform has given up running it (its asynchronous invocation's retries
// are exhausted or its event too old). Users with an outcome keep it; an
// intent without one is reconciled as Run would (PasswordHolder,
// PasswordChangeChecker), else its outcome is EUNKNOWN; users never tried fail
// with ECANCELED; the task gets its final status. It is idempotent: an ended
// task is left alone (nil). It never races a live run: while another run holds
// the claim it returns an error wrapping ECLAIMED, so that the platform
// delivers it again, by when that run has ended the task or its lease has
// expired.
func (e *Engine) Abandon(ctx context.Context, id string) error {
	return e.run(ctx, id, true)
}

func (e *Engine) run(ctx context.Context, id string, abandon bool) error {
	t, err := e.opts.Store.ClaimTask(ctx, id, e.opts.Owner, e.opts.Lease)
	switch password.ErrorCode(err) {
	case "":
	case ECLAIMED:
		if abandon {
			return fmt.Errorf("batch.Abandon %s: a live run holds the task: %w", id, err)
		}
		e.log.Info().Str("event", "task_skipped").Str("task_id", id).Str("reason", ECLAIMED).Msg("task not run here")
		return nil
	case EENDED:
		e.log.Info().Str("event", "task_skipped").Str("task_id", id).Str("reason", EENDED).Msg("task not run here")
		return nil
	default:
		return fmt.Errorf("batch.Run %s: %w", id, err)
	}
	if abandon {
		e.log.Warn().Str("event", "task_abandoned").Str("task_id", id).Str("cluster", t.Cluster).
			Int("done", t.Done()).Msg("the platform gave up running a task; ending it")
	}
	r := &run{e: e, t: t, abandon: abandon, byIndex: make(map[int]UserRecord, len(t.Users))}
	for _, u := range t.Users {
		r.byIndex[u.Index] = u
	}
	// The change events of the task's resets say who asked, as the request did.
	runCtx, cancel := context.WithCancel(password.WithOrigin(ctx, password.Origin{
		RequestID: t.Origin.RequestID, TaskID: t.ID, Caller: t.Origin.Caller, Cluster: t.Cluster,
	}))
	defer cancel()
	stop := r.renew(runCtx, cancel)
	defer stop()
	e.log.Info().Str("event", "task_started").Str("task_id", id).Str("cluster", t.Cluster).
		Int("done", t.Done()).Msg("task running")
	r.execute(runCtx)
	stop()
	r.mu.Lock()
	lost, storeErr := r.lost, r.storeErr
	r.mu.Unlock()
	switch {
	case lost:
		return fmt.Errorf("batch.Run %s: the claim was taken over by another run", id)
	case runCtx.Err() != nil || storeErr != nil:
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer rcancel()
		if err := e.opts.Store.ReleaseTask(rctx, id, e.opts.Owner); err != nil && password.ErrorCode(err) != ECLAIMED {
			e.log.Error().Err(err).Str("task_id", id).Msg("cannot release a task")
		}
		if storeErr != nil {
			return fmt.Errorf("batch.Run %s: %w", id, storeErr)
		}
		return fmt.Errorf("batch.Run %s: interrupted: %w", id, context.Cause(runCtx))
	}
	return r.finish(ctx)
}

// run is one run of one task.
type run struct {
	e        *Engine
	t        Task
	mu       sync.Mutex
	byIndex  map[int]UserRecord
	abandon  bool  // end the task without resetting anyone (Abandon)
	lost     bool  // another run took the claim over
	storeErr error // the first store failure that stopped the run
}

// renew renews the claim every third of the lease until stop is called,
// canceling the run when the claim is lost. stop returns once renewing has
// stopped.
func (r *run) renew(ctx context.Context, cancel context.CancelFunc) (stop func()) {
	done := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(r.e.opts.Lease / 3)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tk.C:
			}
			_, err := r.e.opts.Store.ClaimTask(ctx, r.t.ID, r.e.opts.Owner, r.e.opts.Lease)
			if c := password.ErrorCode(err); c == ECLAIMED || c == EENDED {
				r.mu.Lock()
				r.lost = true
				r.mu.Unlock()
				cancel()
				return
			}
		}
	}()
	return func() {
		once.Do(func() { close(done) })
		wg.Wait()
	}
}

// execute runs every user without an outcome.
func (r *run) execute(ctx context.Context) {
	users, err := r.openUsers()
	if err != nil {
		r.e.log.Error().Str("task_id", r.t.ID).Msg("cannot open a task's sealed users")
		// Without the names, only the users already recorded can be told.
		for _, u := range r.t.Users {
			if u.Phase == PhaseIntent {
				r.outcome(ctx, u.Index, u.Name, password.Errorf(EUNKNOWN, "The change was interrupted and its outcome could not be checked."), false)
			}
		}
		return
	}
	svc, rerr := r.e.opts.Resolve(ctx, r.t.Cluster)
	var check checker
	if rerr == nil {
		if !r.abandon {
			// The entries of the users still to reset, found in bulk when the
			// directory can, for this run only.
			svc = svc.ForBatch(ctx, r.pendingNames(users))
		}
		check = newChecker(svc.Directory())
	}
	each(ctx, len(users), r.e.opts.Concurrency, func(i int) {
		if r.stopped() {
			return
		}
		u := users[i]
		var since time.Time // the intent's recorded time
		r.mu.Lock()
		rec, seen := r.byIndex[i]
		r.mu.Unlock()
		switch {
		case seen && rec.Phase == PhaseOutcome:
			return
		case rerr != nil && seen:
			r.outcome(ctx, i, u.Name, password.Errorf(EUNKNOWN, "The change was interrupted and its outcome could not be checked."), false)
			return
		case rerr != nil:
			r.outcome(ctx, i, u.Name, rerr, false)
			return
		case seen:
			// An intent without an outcome: the change may have happened.
			since = rec.At
			if check.none() {
				r.outcome(ctx, i, u.Name, password.Errorf(EUNKNOWN, "The change was interrupted, and this directory cannot check a password without a login that counts as a failure."), false)
				return
			}
			ok, err := check.done(ctx, u, since)
			switch {
			case ctx.Err() != nil:
				return // the next run checks again
			case err == nil && ok:
				r.outcome(ctx, i, u.Name, nil, true)
				return
			case password.ErrorCode(err) == password.ENOTFOUND:
				r.outcome(ctx, i, u.Name, err, true)
				return
			case err != nil:
				r.outcome(ctx, i, u.Name, password.Wrap(EUNKNOWN, err, "The change was interrupted and its outcome could not be checked."), false)
				return
			}
			// Not held: the change did not happen; try it now.
			if r.abandon {
				r.outcome(ctx, i, u.Name, errAbandoned, true)
				return
			}
		case r.abandon:
			r.outcome(ctx, i, u.Name, errAbandoned, false)
			return
		default:
			var ok bool
			if since, ok = r.intent(ctx, i, u.Name); !ok {
				return
			}
		}
		err := svc.Reset(ctx, u.Name, u.Password)
		if ctx.Err() != nil && password.ErrorCode(err) == password.ECANCELED {
			return // maybe applied, maybe not: the intent stays for the next run to check
		}
		err, checked := settle(ctx, check, u, since, err)
		r.outcome(ctx, i, u.Name, err, checked)
	})
}

// errAbandoned is the outcome of a user whose reset Abandon ends untried.
var errAbandoned = password.Errorf(password.ECANCELED, "The task was given up before this user's password was changed; it was not changed.")

// settle resolves a reset whose answer was lost: when the directory answered
// EUNAVAILABLE (a timeout, a dropped connection), the change may have been
// made all the same, so a directory that can check is asked whether the user
// holds the password now; yes is a success (checked). Any other answer, or no
// way to check, stands.
func settle(ctx context.Context, check checker, u password.ResetRequest, since time.Time, err error) (error, bool) {
	if check.none() || password.ErrorCode(err) != password.EUNAVAILABLE || ctx.Err() != nil {
		return err, false
	}
	if ok, herr := check.done(ctx, u, since); herr == nil && ok {
		return nil, true
	}
	return err, false
}

// pendingNames returns the names of users without an outcome yet.
func (r *run) pendingNames(users []password.ResetRequest) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(users))
	for i, u := range users {
		if rec, seen := r.byIndex[i]; !seen || rec.Phase != PhaseOutcome {
			names = append(names, u.Name)
		}
	}
	return names
}

func (r *run) openUsers() ([]password.ResetRequest, error) {
	if r.t.Sealed == nil {
		return nil, errors.New("no sealed users")
	}
	users, err := r.e.sealer.Open(r.t.ID, r.t.Sealed)
	if err != nil {
		return nil, err
	}
	if len(users) != r.t.Total {
		return nil, fmt.Errorf("%d sealed users for a total of %d", len(users), r.t.Total)
	}
	return users, nil
}

// record stores rec; it reports false (and stops the run) when the store
// refuses.
func (r *run) record(ctx context.Context, rec UserRecord) bool {
	err := r.e.opts.Store.RecordUser(context.WithoutCancel(ctx), r.t.ID, r.e.opts.Owner, rec)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		if password.ErrorCode(err) == ECLAIMED || password.ErrorCode(err) == EENDED {
			r.lost = true
		} else if r.storeErr == nil {
			r.storeErr = err
		}
		r.e.log.Error().Err(err).Str("task_id", r.t.ID).Int("index", rec.Index).Msg("cannot record a user of a task")
		return false
	}
	r.byIndex[rec.Index] = rec
	return true
}

func (r *run) intent(ctx context.Context, i int, name string) (time.Time, bool) {
	if ctx.Err() != nil || r.stopped() {
		return time.Time{}, false
	}
	rec := UserRecord{Index: i, Name: name, Phase: PhaseIntent, At: r.e.now().UTC()}
	if !r.record(ctx, rec) {
		return time.Time{}, false
	}
	r.e.audit(r.t.ID, r.t.Cluster, r.t.Origin, rec)
	return rec.At, true
}

func (r *run) outcome(ctx context.Context, i int, name string, err error, checked bool) {
	rec := UserRecord{Index: i, Name: name, Phase: PhaseOutcome, Code: password.ErrorCode(err), Checked: checked, At: r.e.now().UTC()}
	if err != nil {
		rec.Message = password.ErrorMessage(err)
	}
	if r.record(ctx, rec) {
		r.e.audit(r.t.ID, r.t.Cluster, r.t.Origin, rec)
	}
}

func (r *run) stopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lost || r.storeErr != nil
}

// finish ends the task: succeeded when every user has a successful outcome,
// failed when none has, partial otherwise.
func (r *run) finish(ctx context.Context) error {
	ok := 0
	for _, u := range r.byIndex {
		if u.Phase == PhaseOutcome && u.Code == "" {
			ok++
		}
	}
	status := StatusPartial
	switch {
	case ok == r.t.Total && ok > 0:
		status = StatusSucceeded
	case ok == 0:
		status = StatusFailed
	}
	if err := r.e.opts.Store.FinishTask(context.WithoutCancel(ctx), r.t.ID, r.e.opts.Owner, status); err != nil {
		return fmt.Errorf("batch.Run %s: %w", r.t.ID, err)
	}
	r.e.log.Info().Str("event", "task_finished").Str("task_id", r.t.ID).Str("cluster", r.t.Cluster).
		Str("status", string(status)).Int("succeeded", ok).Int("users", r.t.Total).Msg("task finished")
	return nil
}

func (e *Engine) audit(taskID, cluster string, o Origin, rec UserRecord) {
	if e.opts.Audit == nil {
		return
	}
	e.audits.Lock()
	defer e.audits.Unlock()
	e.opts.Audit(AuditEvent{TaskID: taskID, Cluster: cluster, Origin: o, Name: rec.Name, Phase: rec.Phase,
		Code: rec.Code, Message: rec.Message, Checked: rec.Checked, At: rec.At})
}

// each calls fn(i) for i in [0, n), at most concurrency at a time, starting
// none once ctx has ended.
func each(ctx context.Context, n, concurrency int, fn func(i int)) {
	sem := make(chan struct{}, max(concurrency, 1))
	var wg sync.WaitGroup
	for i := range n {
		select {
		case <-ctx.Done():
		case sem <- struct{}{}:
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}

// Reset resets users now, as a synchronous batch of cluster, at most
// concurrency at a time, with an intent audit event before each user's change
// and an outcome event after it, so that a process killed mid-way leaves a line
// for every user it may have changed. It returns one result per user in the
// batch's order; users not started when ctx ends fail with ECANCELED (and have
// no audit event). A reset whose answer was lost (EUNAVAILABLE) is settled
// by asking a PasswordHolder directory whether the user holds the password.
// The users' entries are found in bulk first when the directory can
// (password.BatchFinder), for this batch only.
func Reset(ctx context.Context, svc *password.Service, cluster string, origin Origin, users []password.ResetRequest,
	concurrency int, audit func(AuditEvent), now func() time.Time) []password.ResetResult {
	if now == nil {
		now = time.Now
	}
	var mu sync.Mutex // audit events one at a time, whatever the sink's writer
	emit := func(ev AuditEvent) {
		if audit != nil {
			mu.Lock()
			defer mu.Unlock()
			audit(ev)
		}
	}
	names := make([]string, len(users))
	for i, u := range users {
		names[i] = u.Name
	}
	svc = svc.ForBatch(ctx, names) // the users' entries, found in bulk when the directory can
	check := newChecker(svc.Directory())
	results := make([]password.ResetResult, len(users))
	for i, u := range users {
		results[i] = password.ResetResult{Name: u.Name, Err: password.Wrap(password.ECANCELED, context.Cause(ctx),
			"The deadline passed before this user's password was changed.")}
	}
	each(ctx, len(users), concurrency, func(i int) {
		u := users[i]
		if ctx.Err() != nil {
			return
		}
		since := now().UTC()
		emit(AuditEvent{Cluster: cluster, Origin: origin, Name: u.Name, Phase: PhaseIntent, At: since})
		err := svc.Reset(ctx, u.Name, u.Password)
		err, checked := settle(ctx, check, u, since, err)
		results[i].Err = err
		ev := AuditEvent{Cluster: cluster, Origin: origin, Name: u.Name, Phase: PhaseOutcome, Code: password.ErrorCode(err), Checked: checked, At: now().UTC()}
		if err != nil {
			ev.Message = password.ErrorMessage(err)
		}
		emit(ev)
	})
	return results
}
