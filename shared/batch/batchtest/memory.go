// Package batchtest is the contract suite of batch.TaskStore, run against
// every implementation, and Memory, the in-memory fake that passes it.
package batchtest

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"chpass/shared/batch"
	"chpass/shared/password"
)

// Memory is an in-memory batch.TaskStore that keeps copies, as a store at rest
// would. Its zero value is ready; Now replaces its clock.
type Memory struct {
	mu    sync.Mutex
	tasks map[string]*batch.Task
	order []string // creation order
	// Now returns the store's time; nil means time.Now.
	Now func() time.Time
	// Err, when set, is returned as it is by every method: a failing store.
	Err error
}

var _ batch.TaskStore = (*Memory)(nil)

func (m *Memory) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

func clone(t batch.Task) batch.Task {
	t.Sealed = bytes.Clone(t.Sealed)
	t.Users = slices.Clone(t.Users)
	t.Origin.Request = maps.Clone(t.Origin.Request)
	return t
}

func (m *Memory) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return password.Wrap(password.ECANCELED, err, "The deadline passed before the request was carried out.")
	}
	if m.Err != nil {
		return m.Err
	}
	if m.tasks == nil {
		m.tasks = map[string]*batch.Task{}
	}
	return nil
}

// CreateTask implements batch.TaskStore.
func (m *Memory) CreateTask(ctx context.Context, t batch.Task) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin(ctx); err != nil {
		return err
	}
	if t.ID == "" {
		return password.Errorf(password.EINVALID, "The task ID is required.")
	}
	if _, ok := m.tasks[t.ID]; ok {
		return password.Errorf(password.EINVALID, "The task already exists.")
	}
	t = clone(t)
	t.Status, t.Owner, t.LeaseUntil, t.Users = batch.StatusRunning, "", time.Time{}, nil
	if t.Created.IsZero() {
		t.Created = m.now()
	}
	if t.Updated.IsZero() {
		t.Updated = m.now()
	}
	m.tasks[t.ID] = &t
	m.order = append(m.order, t.ID)
	return nil
}

// Task implements batch.TaskStore.
func (m *Memory) Task(ctx context.Context, id string) (batch.Task, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin(ctx); err != nil {
		return batch.Task{}, err
	}
	t, ok := m.tasks[id]
	if !ok {
		return batch.Task{}, password.Errorf(password.ENOTFOUND, "The task does not exist.")
	}
	return clone(*t), nil
}

// Tasks implements batch.TaskStore.
func (m *Memory) Tasks(ctx context.Context, cluster string, offset, limit int) ([]batch.Task, int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin(ctx); err != nil {
		return nil, 0, err
	}
	if offset < 0 || limit < 0 {
		return nil, 0, password.Errorf(password.EINVALID, "The offset and the limit must not be negative.")
	}
	all := m.sorted()
	var out []batch.Task
	total := 0
	for i := len(all) - 1; i >= 0; i-- {
		t := all[i]
		if cluster != "" && t.Cluster != cluster {
			continue
		}
		n := total
		total++
		if n < offset || (limit > 0 && n >= offset+limit) {
			continue
		}
		out = append(out, clone(*t))
	}
	return out, total, nil
}

// sorted returns the tasks oldest first by Created, then creation order.
func (m *Memory) sorted() []*batch.Task {
	all := make([]*batch.Task, 0, len(m.order))
	for _, id := range m.order {
		all = append(all, m.tasks[id])
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Created.Before(all[j].Created) })
	return all
}

// PendingTasks implements batch.TaskStore.
func (m *Memory) PendingTasks(ctx context.Context) ([]batch.Task, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	var out []batch.Task
	for _, t := range m.sorted() {
		if t.Status == batch.StatusRunning {
			out = append(out, clone(*t))
		}
	}
	return out, nil
}

// held returns the running task with id that owner may act on, or the error
// the contract names.
func (m *Memory) held(id, owner string, mustHold bool) (*batch.Task, error) {
	t, ok := m.tasks[id]
	switch {
	case !ok:
		return nil, password.Errorf(password.ENOTFOUND, "The task does not exist.")
	case t.Status != batch.StatusRunning:
		return nil, password.Errorf(batch.EENDED, "The task has ended.")
	case mustHold && (owner == "" || t.Owner != owner):
		return nil, password.Errorf(batch.ECLAIMED, "The task is not claimed by this run.")
	}
	return t, nil
}

// ClaimTask implements batch.TaskStore.
func (m *Memory) ClaimTask(ctx context.Context, id, owner string, lease time.Duration) (batch.Task, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin(ctx); err != nil {
		return batch.Task{}, err
	}
	if owner == "" || lease <= 0 {
		return batch.Task{}, password.Errorf(password.EINVALID, "A claim needs an owner and a positive lease.")
	}
	t, err := m.held(id, owner, false)
	if err != nil {
		return batch.Task{}, err
	}
	now := m.now()
	if t.Owner != "" && t.Owner != owner && now.Before(t.LeaseUntil) {
		return batch.Task{}, password.Errorf(batch.ECLAIMED, "The task is claimed by another run.")
	}
	t.Owner, t.LeaseUntil = owner, now.Add(lease)
	return clone(*t), nil
}

// RecordUser implements batch.TaskStore.
func (m *Memory) RecordUser(ctx context.Context, id, owner string, r batch.UserRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin(ctx); err != nil {
		return err
	}
	t, err := m.held(id, owner, true)
	if err != nil {
		return err
	}
	if r.Index < 0 || r.Index >= t.Total || (r.Phase != batch.PhaseIntent && r.Phase != batch.PhaseOutcome) {
		return password.Errorf(password.EINVALID, "The record's index or phase is invalid.")
	}
	r.At = r.At.UTC()
	i, found := slices.BinarySearchFunc(t.Users, r.Index, func(u batch.UserRecord, idx int) int { return u.Index - idx })
	if found {
		t.Users[i] = r
	} else {
		t.Users = slices.Insert(t.Users, i, r)
	}
	t.Updated = r.At
	return nil
}

// ReleaseTask implements batch.TaskStore.
func (m *Memory) ReleaseTask(ctx context.Context, id, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin(ctx); err != nil {
		return err
	}
	t, err := m.held(id, owner, true)
	if err != nil {
		return err
	}
	t.Owner, t.LeaseUntil = "", time.Time{}
	return nil
}

// FinishTask implements batch.TaskStore.
func (m *Memory) FinishTask(ctx context.Context, id, owner string, status batch.Status) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin(ctx); err != nil {
		return err
	}
	if !status.Final() {
		return password.Errorf(password.EINVALID, "The status is not final.")
	}
	t, err := m.held(id, owner, true)
	if err != nil {
		return err
	}
	t.Status, t.Sealed, t.Owner, t.LeaseUntil, t.Updated = status, nil, "", time.Time{}, m.now()
	return nil
}

// All returns every task as stored, in creation order, for sweeps of what is
// at rest.
func (m *Memory) All() []batch.Task {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]batch.Task, 0, len(m.order))
	for _, id := range m.order {
		out = append(out, clone(*m.tasks[id]))
	}
	return out
}
