package embedded

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"chpass/shared/batch"
	"chpass/shared/password"
)

var _ batch.TaskStore = (*Store)(nil)

// taskRecord is a batch.Task as the file stores it, as JSON under its ID. Sealed
// is already sealed by the engine; the store never opens it.
type taskRecord struct {
	ID         string             `json:"id"`
	Cluster    string             `json:"cluster_id,omitempty"`
	Kind       string             `json:"kind,omitempty"`
	Status     batch.Status       `json:"status,omitempty"`
	Created    time.Time          `json:"created"`
	Updated    time.Time          `json:"updated"`
	Total      int                `json:"total,omitempty"`
	Sealed     []byte             `json:"sealed,omitempty"`
	Origin     batch.Origin       `json:"origin"`
	Owner      string             `json:"owner,omitempty"`
	LeaseUntil time.Time          `json:"lease_until,omitzero"`
	Users      []batch.UserRecord `json:"users,omitempty"`
}

// maxTaskIDLen keeps index keys (created time + ID) within bbolt's key limit.
const maxTaskIDLen = bolt.MaxKeySize - timeKeyLen

// CreateTask implements batch.TaskStore: it inserts t as a running task.
// Returns EINVALID for an empty ID, one longer than 32756 bytes, or one that exists.
func (s *Store) CreateTask(ctx context.Context, t batch.Task) error {
	const op = "embedded.CreateTask"
	if err := ctx.Err(); err != nil {
		return canceled(op, err)
	}
	if t.ID == "" || len(t.ID) > maxTaskIDLen {
		return password.Errorf(password.EINVALID, "The task ID must be 1 to %d bytes long.", maxTaskIDLen)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		tasks, index := tx.Bucket(bucketTasks), tx.Bucket(bucketTaskIndex)
		if tasks.Get([]byte(t.ID)) != nil {
			return password.Errorf(password.EINVALID, "The task already exists.")
		}
		now := s.now().UTC()
		r := taskRecord{
			ID: t.ID, Cluster: t.Cluster, Kind: t.Kind, Status: batch.StatusRunning,
			Created: t.Created.UTC(), Updated: t.Updated.UTC(), Total: t.Total, Sealed: t.Sealed, Origin: t.Origin,
		}
		if t.Created.IsZero() {
			r.Created = now
		}
		if t.Updated.IsZero() {
			r.Updated = now
		}
		if err := putTask(tasks, &r); err != nil {
			return err
		}
		return index.Put(indexKey(r.Created, r.ID), indexValue(r.Status, r.Cluster))
	})
	if err != nil {
		return storeError(op, err)
	}
	return nil
}

// Task implements batch.TaskStore.
// Returns ENOTFOUND when there is none.
func (s *Store) Task(ctx context.Context, id string) (batch.Task, error) {
	const op = "embedded.Task"
	if err := ctx.Err(); err != nil {
		return batch.Task{}, canceled(op, err)
	}
	var r *taskRecord
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		r, err = getTask(tx.Bucket(bucketTasks), id)
		return err
	})
	if err != nil {
		return batch.Task{}, storeError(op, err)
	}
	if r == nil {
		return batch.Task{}, errNoTask()
	}
	return r.task(), nil
}

func errNoTask() error { return password.Errorf(password.ENOTFOUND, "The task does not exist.") }

// Tasks implements batch.TaskStore.
// Returns EINVALID for a negative offset or limit.
func (s *Store) Tasks(ctx context.Context, clusterID string, offset, limit int) ([]batch.Task, int, error) {
	const op = "embedded.Tasks"
	if err := ctx.Err(); err != nil {
		return nil, 0, canceled(op, err)
	}
	if offset < 0 || limit < 0 {
		return nil, 0, password.Errorf(password.EINVALID, "The offset and the limit must not be negative.")
	}
	var out []batch.Task
	total := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		tasks := tx.Bucket(bucketTasks)
		c := tx.Bucket(bucketTaskIndex).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			_, cluster, err := parseIndexValue(v)
			if err != nil {
				return err
			}
			if clusterID != "" && cluster != clusterID {
				continue
			}
			i := total
			total++
			if i < offset || (limit > 0 && i >= offset+limit) {
				continue
			}
			t, err := indexedTask(tasks, k)
			if err != nil {
				return err
			}
			out = append(out, t)
		}
		return nil
	})
	if err != nil {
		return nil, 0, storeError(op, err)
	}
	return out, total, nil
}

// PendingTasks implements batch.TaskStore: the running tasks, oldest first.
func (s *Store) PendingTasks(ctx context.Context) ([]batch.Task, error) {
	const op = "embedded.PendingTasks"
	if err := ctx.Err(); err != nil {
		return nil, canceled(op, err)
	}
	var out []batch.Task
	err := s.db.View(func(tx *bolt.Tx) error {
		tasks := tx.Bucket(bucketTasks)
		c := tx.Bucket(bucketTaskIndex).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			status, _, err := parseIndexValue(v)
			if err != nil {
				return err
			}
			if status != batch.StatusRunning {
				continue
			}
			t, err := indexedTask(tasks, k)
			if err != nil {
				return err
			}
			out = append(out, t)
		}
		return nil
	})
	if err != nil {
		return nil, storeError(op, err)
	}
	return out, nil
}

// update runs fn on the running task id within one write transaction and
// stores what fn leaves in it. mustHold makes it ECLAIMED unless owner holds
// the claim.
func (s *Store) update(ctx context.Context, op, id, owner string, mustHold bool, fn func(r *taskRecord, now time.Time) error) error {
	if err := ctx.Err(); err != nil {
		return canceled(op, err)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		tasks := tx.Bucket(bucketTasks)
		r, err := getTask(tasks, id)
		switch {
		case err != nil:
			return err
		case r == nil:
			return errNoTask()
		case r.Status != batch.StatusRunning:
			return password.Errorf(batch.EENDED, "The task has ended.")
		case mustHold && (owner == "" || r.Owner != owner):
			return password.Errorf(batch.ECLAIMED, "The task is not claimed by this run.")
		}
		old := r.Status
		if err := fn(r, s.now().UTC()); err != nil {
			return err
		}
		if err := putTask(tasks, r); err != nil {
			return err
		}
		if r.Status != old {
			return tx.Bucket(bucketTaskIndex).Put(indexKey(r.Created, r.ID), indexValue(r.Status, r.Cluster))
		}
		return nil
	})
	if err != nil {
		return storeError(op, err)
	}
	return nil
}

// ClaimTask implements batch.TaskStore, on the store's clock.
func (s *Store) ClaimTask(ctx context.Context, id, owner string, lease time.Duration) (batch.Task, error) {
	if owner == "" || lease <= 0 {
		return batch.Task{}, password.Errorf(password.EINVALID, "A claim needs an owner and a positive lease.")
	}
	var out batch.Task
	err := s.update(ctx, "embedded.ClaimTask", id, owner, false, func(r *taskRecord, now time.Time) error {
		if r.Owner != "" && r.Owner != owner && now.Before(r.LeaseUntil) {
			return password.Errorf(batch.ECLAIMED, "The task is claimed by another run.")
		}
		r.Owner, r.LeaseUntil = owner, now.Add(lease)
		out = r.task()
		return nil
	})
	if err != nil {
		return batch.Task{}, err
	}
	return out, nil
}

// RecordUser implements batch.TaskStore.
func (s *Store) RecordUser(ctx context.Context, id, owner string, u batch.UserRecord) error {
	return s.update(ctx, "embedded.RecordUser", id, owner, true, func(r *taskRecord, _ time.Time) error {
		if u.Index < 0 || u.Index >= r.Total || (u.Phase != batch.PhaseIntent && u.Phase != batch.PhaseOutcome) {
			return password.Errorf(password.EINVALID, "The record's index or phase is invalid.")
		}
		u.At = u.At.UTC()
		i, found := slices.BinarySearchFunc(r.Users, u.Index, func(x batch.UserRecord, idx int) int { return x.Index - idx })
		if found {
			r.Users[i] = u
		} else {
			r.Users = slices.Insert(r.Users, i, u)
		}
		r.Updated = u.At
		return nil
	})
}

// ReleaseTask implements batch.TaskStore.
func (s *Store) ReleaseTask(ctx context.Context, id, owner string) error {
	return s.update(ctx, "embedded.ReleaseTask", id, owner, true, func(r *taskRecord, _ time.Time) error {
		r.Owner, r.LeaseUntil = "", time.Time{}
		return nil
	})
}

// FinishTask implements batch.TaskStore.
func (s *Store) FinishTask(ctx context.Context, id, owner string, status batch.Status) error {
	if !status.Final() {
		return password.Errorf(password.EINVALID, "The status is not final.")
	}
	return s.update(ctx, "embedded.FinishTask", id, owner, true, func(r *taskRecord, now time.Time) error {
		r.Status, r.Sealed, r.Owner, r.LeaseUntil, r.Updated = status, nil, "", time.Time{}, now
		return nil
	})
}

func (r *taskRecord) task() batch.Task {
	return batch.Task{
		ID: r.ID, Cluster: r.Cluster, Kind: r.Kind, Status: r.Status,
		Created: r.Created, Updated: r.Updated, Total: r.Total, Sealed: r.Sealed, Origin: r.Origin,
		Owner: r.Owner, LeaseUntil: r.LeaseUntil, Users: r.Users,
	}
}

func putTask(tasks *bolt.Bucket, r *taskRecord) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tasks.Put([]byte(r.ID), v)
}

// getTask reads the task called id from the tasks bucket, or nil when there is none.
func getTask(tasks *bolt.Bucket, id string) (*taskRecord, error) {
	if id == "" || len(id) > maxTaskIDLen {
		return nil, nil
	}
	v := tasks.Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	var r taskRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("decoding a task record: %w", err)
	}
	return &r, nil
}

var errBadIndex = errors.New("embedded: task index entry is malformed")

// indexedTask reads the task that the index key k points to.
func indexedTask(tasks *bolt.Bucket, k []byte) (batch.Task, error) {
	if len(k) <= timeKeyLen {
		return batch.Task{}, errBadIndex
	}
	r, err := getTask(tasks, string(k[timeKeyLen:]))
	if err != nil {
		return batch.Task{}, err
	}
	if r == nil {
		return batch.Task{}, fmt.Errorf("%w: it names a missing task", errBadIndex)
	}
	return r.task(), nil
}

// indexKey is the key of a task in the index: its creation time, so that the
// index is in creation order, then its ID.
func indexKey(created time.Time, id string) []byte {
	return append(timeKey(created), id...)
}

// indexValue holds what Tasks and PendingTasks filter on: the status, length
// first, then the cluster ID.
func indexValue(status batch.Status, clusterID string) []byte {
	v := binary.AppendUvarint(nil, uint64(len(status)))
	v = append(v, status...)
	return append(v, clusterID...)
}

func parseIndexValue(v []byte) (status batch.Status, clusterID string, err error) {
	n, w := binary.Uvarint(v)
	if w <= 0 || uint64(len(v)-w) < n {
		return "", "", errBadIndex
	}
	rest := v[w:]
	return batch.Status(rest[:n]), string(rest[n:]), nil
}
