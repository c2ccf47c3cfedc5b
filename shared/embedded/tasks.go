package embedded

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"chpass/shared/password"
)

// TaskProcessing is the Status of a task that has not finished; PendingTasks
// returns those.
const TaskProcessing = "Processing"

// Task is the record of an asynchronous batch. The store keeps it as it is given
// and never inspects Payload or Result.
type Task struct {
	ID, ClusterID, Type, Status string
	Created, Updated            time.Time
	TotalSteps, CurrentStep     int
	Payload                     []byte // opaque, already sealed (encrypted) by the caller
	Result                      []byte // opaque JSON chosen by the caller
}

// taskRecord is a Task as the file stores it, as JSON under its ID.
type taskRecord struct {
	ID          string    `json:"id"`
	ClusterID   string    `json:"cluster_id,omitempty"`
	Type        string    `json:"type,omitempty"`
	Status      string    `json:"status,omitempty"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
	TotalSteps  int       `json:"total_steps,omitempty"`
	CurrentStep int       `json:"current_step,omitempty"`
	Payload     []byte    `json:"payload,omitempty"`
	Result      []byte    `json:"result,omitempty"`
}

// maxTaskIDLen keeps index keys (created time + ID) within bbolt's key limit.
const maxTaskIDLen = bolt.MaxKeySize - timeKeyLen

// SaveTask inserts t, or replaces the task with its ID. A zero Created keeps the
// replaced task's, or is now for a new task; a zero Updated is now.
// Returns EINVALID for an empty ID or one longer than 32756 bytes.
func (s *Store) SaveTask(ctx context.Context, t Task) error {
	const op = "embedded.SaveTask"
	if err := ctx.Err(); err != nil {
		return canceled(op, err)
	}
	if t.ID == "" || len(t.ID) > maxTaskIDLen {
		return password.Errorf(password.EINVALID, "The task ID must be 1 to %d bytes long.", maxTaskIDLen)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		tasks, index := tx.Bucket(bucketTasks), tx.Bucket(bucketTaskIndex)
		now := s.now().UTC()
		if old, err := getTask(tasks, t.ID); err != nil {
			return err
		} else if old != nil {
			if t.Created.IsZero() {
				t.Created = old.Created
			}
			if err := index.Delete(indexKey(old.Created, old.ID)); err != nil {
				return err
			}
		}
		if t.Created.IsZero() {
			t.Created = now
		}
		if t.Updated.IsZero() {
			t.Updated = now
		}
		r := taskRecord{
			ID: t.ID, ClusterID: t.ClusterID, Type: t.Type, Status: t.Status,
			Created: t.Created.UTC(), Updated: t.Updated.UTC(),
			TotalSteps: t.TotalSteps, CurrentStep: t.CurrentStep,
			Payload: t.Payload, Result: t.Result,
		}
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := tasks.Put([]byte(r.ID), v); err != nil {
			return err
		}
		return index.Put(indexKey(r.Created, r.ID), indexValue(r.Status, r.ClusterID))
	})
	if err != nil {
		return storeError(op, err)
	}
	return nil
}

// Task returns the task called id.
// Returns ENOTFOUND when there is none.
func (s *Store) Task(ctx context.Context, id string) (Task, error) {
	const op = "embedded.Task"
	if err := ctx.Err(); err != nil {
		return Task{}, canceled(op, err)
	}
	var r *taskRecord
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		r, err = getTask(tx.Bucket(bucketTasks), id)
		return err
	})
	if err != nil {
		return Task{}, storeError(op, err)
	}
	if r == nil {
		return Task{}, password.Errorf(password.ENOTFOUND, "The task does not exist.")
	}
	return r.task(), nil
}

// Tasks returns the tasks of clusterID, or of every cluster when clusterID is "",
// newest first, from offset on and at most limit of them (all when limit is 0),
// and how many there are in all.
// Returns EINVALID for a negative offset or limit.
func (s *Store) Tasks(ctx context.Context, clusterID string, offset, limit int) ([]Task, int, error) {
	const op = "embedded.Tasks"
	if err := ctx.Err(); err != nil {
		return nil, 0, canceled(op, err)
	}
	if offset < 0 || limit < 0 {
		return nil, 0, password.Errorf(password.EINVALID, "The offset and the limit must not be negative.")
	}
	var out []Task
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

// PendingTasks returns every task whose Status is "Processing", oldest first,
// for a function that resumes them after a crash.
func (s *Store) PendingTasks(ctx context.Context) ([]Task, error) {
	const op = "embedded.PendingTasks"
	if err := ctx.Err(); err != nil {
		return nil, canceled(op, err)
	}
	var out []Task
	err := s.db.View(func(tx *bolt.Tx) error {
		tasks := tx.Bucket(bucketTasks)
		c := tx.Bucket(bucketTaskIndex).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			status, _, err := parseIndexValue(v)
			if err != nil {
				return err
			}
			if status != TaskProcessing {
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

func (r *taskRecord) task() Task {
	return Task{
		ID: r.ID, ClusterID: r.ClusterID, Type: r.Type, Status: r.Status,
		Created: r.Created, Updated: r.Updated,
		TotalSteps: r.TotalSteps, CurrentStep: r.CurrentStep,
		Payload: r.Payload, Result: r.Result,
	}
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
func indexedTask(tasks *bolt.Bucket, k []byte) (Task, error) {
	if len(k) <= timeKeyLen {
		return Task{}, errBadIndex
	}
	r, err := getTask(tasks, string(k[timeKeyLen:]))
	if err != nil {
		return Task{}, err
	}
	if r == nil {
		return Task{}, fmt.Errorf("%w: it names a missing task", errBadIndex)
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
func indexValue(status, clusterID string) []byte {
	v := binary.AppendUvarint(nil, uint64(len(status)))
	v = append(v, status...)
	return append(v, clusterID...)
}

func parseIndexValue(v []byte) (status, clusterID string, err error) {
	n, w := binary.Uvarint(v)
	if w <= 0 || uint64(len(v)-w) < n {
		return "", "", errBadIndex
	}
	rest := v[w:]
	return string(rest[:n]), string(rest[n:]), nil
}
