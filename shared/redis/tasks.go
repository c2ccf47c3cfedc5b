package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"

	"chpass/shared/batch"
	"chpass/shared/password"
)

// Tasks is the batch.TaskStore on Redis, so that a task accepted by one
// instance is seen, claimed and finished by any other. Each method is one Lua
// script (one round trip, atomic); leases run on Redis' clock (TIME). A task
// is a hash (its record; the sealed batch as the AES-GCM bytes the engine
// gives, never a password in clear) and a hash of its user records, indexed
// by three sorted sets by creation time (all, per cluster, pending). The
// scripts touch several keys: use a Redis without cluster mode (one shard,
// with replicas), as ElastiCache and ApsaraDB offer.
type Tasks struct{ s *Store }

var _ batch.TaskStore = Tasks{}

// Tasks returns the task store over the same connections.
func (s *Store) Tasks() Tasks { return Tasks{s} }

func (t Tasks) taskKey(id string) string  { return t.s.prefix + "t:{" + id + "}" }
func (t Tasks) usersKey(id string) string { return t.s.prefix + "t:{" + id + "}:u" }
func (t Tasks) allKey() string            { return t.s.prefix + "tasks" }
func (t Tasks) pendingKey() string        { return t.s.prefix + "tasks:pending" }
func (t Tasks) clusterKey(c string) string {
	return t.s.prefix + "tasks:c:" + c
}

// doc is the part of a task that never changes after CreateTask.
type doc struct {
	ID      string       `json:"id"`
	Cluster string       `json:"cluster"`
	Kind    string       `json:"kind"`
	Origin  batch.Origin `json:"origin"`
}

func micros(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixMicro(), 10)
}

func fromMicros(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || s == "" || s == "0" {
		return time.Time{}
	}
	return time.UnixMicro(n).UTC()
}

func (t Tasks) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return password.Wrap(password.ECANCELED, err, "The deadline passed before the request was carried out.")
	}
	return nil
}

// fail translates a Redis failure, or one of the scripts' verdicts.
func (t Tasks) fail(op string, err error) error {
	var re redis.Error
	if errors.As(err, &re) {
		// Redis 7 prefixes a script's error reply without a code with "ERR ".
		switch strings.TrimPrefix(re.Error(), "ERR ") {
		case "notfound":
			return password.Errorf(password.ENOTFOUND, "The task does not exist.")
		case "ended":
			return password.Errorf(batch.EENDED, "The task has ended.")
		case "claimed":
			return password.Errorf(batch.ECLAIMED, "The task is claimed by another run.")
		case "invalid":
			return password.Errorf(password.EINVALID, "The record's index or phase is invalid.")
		case "exists":
			return password.Errorf(password.EINVALID, "The task already exists.")
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return password.Wrap(password.ECANCELED, err, "The deadline passed before the request was carried out.")
	}
	return password.Wrap(password.EUNAVAILABLE, fmt.Errorf("redis.Tasks.%s: %w", op, err), "The task store is unavailable.")
}

// nowLua sets now to Redis' clock in microseconds.
const nowLua = `local tm = redis.call('TIME'); local now = tonumber(tm[1]) * 1000000 + tonumber(tm[2])
`

// heldLua checks that the task exists, runs, and (when must is set) is held by ARGV[1].
const heldLua = `if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('notfound') end
local f = redis.call('HMGET', KEYS[1], 'status', 'owner', 'lease', 'total')
if f[1] ~= 'running' then return redis.error_reply('ended') end
`

var createScript = &script{src: nowLua + `
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('exists') end
local created, updated = ARGV[4], ARGV[5]
if created == '' then created = string.format('%d', now) end
if updated == '' then updated = string.format('%d', now) end
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'sealed', ARGV[3], 'status', 'running', 'owner', '', 'lease', '0',
  'created', created, 'updated', updated, 'total', ARGV[6])
redis.call('ZADD', KEYS[2], created, ARGV[1])
redis.call('ZADD', KEYS[3], created, ARGV[1])
redis.call('ZADD', KEYS[4], created, ARGV[1])
return 1
`}

var getScript = &script{src: `
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('notfound') end
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
`}

// listScript: KEYS[1] an index; ARGV prefix, start, stop, reverse. Returns
// the total and, for each id in the range, its two hashes.
var listScript = &script{src: `
local total = redis.call('ZCARD', KEYS[1])
local ids
if ARGV[4] == '1' then ids = redis.call('ZREVRANGE', KEYS[1], ARGV[2], ARGV[3])
else ids = redis.call('ZRANGE', KEYS[1], ARGV[2], ARGV[3]) end
local out = {total}
for _, id in ipairs(ids) do
  local k = ARGV[1] .. 't:{' .. id .. '}'
  table.insert(out, {redis.call('HGETALL', k), redis.call('HGETALL', k .. ':u')})
end
return out
`}

var claimScript = &script{src: nowLua + heldLua + `
if f[2] ~= '' and f[2] ~= ARGV[1] and now < tonumber(f[3]) then return redis.error_reply('claimed') end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'lease', string.format('%d', now + tonumber(ARGV[2])))
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
`}

var recordScript = &script{src: heldLua + `
if ARGV[1] == '' or f[2] ~= ARGV[1] then return redis.error_reply('claimed') end
local i = tonumber(ARGV[2])
if i < 0 or i >= tonumber(f[4]) or (ARGV[5] ~= 'intent' and ARGV[5] ~= 'outcome') then return redis.error_reply('invalid') end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[1], 'updated', ARGV[4])
return 1
`}

var releaseScript = &script{src: heldLua + `
if ARGV[1] == '' or f[2] ~= ARGV[1] then return redis.error_reply('claimed') end
redis.call('HSET', KEYS[1], 'owner', '', 'lease', '0')
return 1
`}

var finishScript = &script{src: nowLua + heldLua + `
if ARGV[1] == '' or f[2] ~= ARGV[1] then return redis.error_reply('claimed') end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'sealed', '', 'owner', '', 'lease', '0', 'updated', string.format('%d', now))
redis.call('ZREM', KEYS[3], ARGV[3])
return 1
`}

// CreateTask implements batch.TaskStore.
func (t Tasks) CreateTask(ctx context.Context, task batch.Task) error {
	if err := t.begin(ctx); err != nil {
		return err
	}
	if task.ID == "" || len(task.ID) > 128 {
		return password.Errorf(password.EINVALID, "The task ID is required, at most 128 bytes.")
	}
	d, err := json.Marshal(doc{ID: task.ID, Cluster: task.Cluster, Kind: task.Kind, Origin: task.Origin})
	if err != nil {
		return password.Wrap(password.EINTERNAL, err, "The task cannot be stored.")
	}
	_, err = createScript.run(ctx, t.s, []string{t.taskKey(task.ID), t.allKey(), t.clusterKey(task.Cluster), t.pendingKey()},
		task.ID, d, task.Sealed, micros(task.Created), micros(task.Updated), task.Total)
	if err != nil {
		return t.fail("CreateTask", err)
	}
	return nil
}

// decode builds a task from its two hashes, as HGETALL returns them.
func decode(raw any) (batch.Task, error) {
	pair, ok := raw.([]any)
	if !ok || len(pair) != 2 {
		return batch.Task{}, errors.New("unexpected reply")
	}
	h, u := flat(pair[0]), flat(pair[1])
	var d doc
	if err := json.Unmarshal([]byte(h["doc"]), &d); err != nil {
		return batch.Task{}, fmt.Errorf("task record: %w", err)
	}
	total, _ := strconv.Atoi(h["total"])
	task := batch.Task{
		ID: d.ID, Cluster: d.Cluster, Kind: d.Kind, Origin: d.Origin, Status: batch.Status(h["status"]),
		Created: fromMicros(h["created"]), Updated: fromMicros(h["updated"]), Total: total, Owner: h["owner"],
	}
	if s := h["sealed"]; s != "" {
		task.Sealed = []byte(s)
	}
	if task.Owner != "" {
		task.LeaseUntil = fromMicros(h["lease"])
	}
	for _, v := range u {
		var r batch.UserRecord
		if err := json.Unmarshal([]byte(v), &r); err != nil {
			return batch.Task{}, fmt.Errorf("user record: %w", err)
		}
		task.Users = append(task.Users, r)
	}
	sort.Slice(task.Users, func(i, j int) bool { return task.Users[i].Index < task.Users[j].Index })
	return task, nil
}

// flat makes a map of a flat list of field and value bulk strings, as HGETALL returns.
func flat(raw any) map[string]string {
	m := map[string]string{}
	l, _ := raw.([]any)
	for i := 0; i+1 < len(l); i += 2 {
		k, _ := l[i].([]byte)
		v, _ := l[i+1].([]byte)
		m[string(k)] = string(v)
	}
	return m
}

// Task implements batch.TaskStore.
func (t Tasks) Task(ctx context.Context, id string) (batch.Task, error) {
	if err := t.begin(ctx); err != nil {
		return batch.Task{}, err
	}
	raw, err := getScript.run(ctx, t.s, []string{t.taskKey(id), t.usersKey(id)})
	if err != nil {
		return batch.Task{}, t.fail("Task", err)
	}
	task, err := decode(raw)
	if err != nil {
		return batch.Task{}, t.fail("Task", err)
	}
	return task, nil
}

func (t Tasks) list(ctx context.Context, op, index string, start, stop int, reverse bool) ([]batch.Task, int, error) {
	rev := "0"
	if reverse {
		rev = "1"
	}
	raw, err := redis.Values(listScript.run(ctx, t.s, []string{index}, t.s.prefix, start, stop, rev))
	if err != nil {
		return nil, 0, t.fail(op, err)
	}
	total, _ := raw[0].(int64)
	var out []batch.Task
	for _, r := range raw[1:] {
		task, err := decode(r)
		if err != nil {
			return nil, 0, t.fail(op, err)
		}
		out = append(out, task)
	}
	return out, int(total), nil
}

// Tasks implements batch.TaskStore.
func (t Tasks) Tasks(ctx context.Context, cluster string, offset, limit int) ([]batch.Task, int, error) {
	if err := t.begin(ctx); err != nil {
		return nil, 0, err
	}
	if offset < 0 || limit < 0 {
		return nil, 0, password.Errorf(password.EINVALID, "The offset and the limit must not be negative.")
	}
	index := t.allKey()
	if cluster != "" {
		index = t.clusterKey(cluster)
	}
	stop := -1
	if limit > 0 {
		stop = offset + limit - 1
	}
	return t.list(ctx, "Tasks", index, offset, stop, true)
}

// PendingTasks implements batch.TaskStore.
func (t Tasks) PendingTasks(ctx context.Context) ([]batch.Task, error) {
	if err := t.begin(ctx); err != nil {
		return nil, err
	}
	out, _, err := t.list(ctx, "PendingTasks", t.pendingKey(), 0, -1, false)
	return out, err
}

// ClaimTask implements batch.TaskStore.
func (t Tasks) ClaimTask(ctx context.Context, id, owner string, lease time.Duration) (batch.Task, error) {
	if err := t.begin(ctx); err != nil {
		return batch.Task{}, err
	}
	if owner == "" || lease <= 0 {
		return batch.Task{}, password.Errorf(password.EINVALID, "A claim needs an owner and a positive lease.")
	}
	raw, err := claimScript.run(ctx, t.s, []string{t.taskKey(id), t.usersKey(id)}, owner, lease.Microseconds())
	if err != nil {
		return batch.Task{}, t.fail("ClaimTask", err)
	}
	task, err := decode(raw)
	if err != nil {
		return batch.Task{}, t.fail("ClaimTask", err)
	}
	return task, nil
}

// RecordUser implements batch.TaskStore.
func (t Tasks) RecordUser(ctx context.Context, id, owner string, r batch.UserRecord) error {
	if err := t.begin(ctx); err != nil {
		return err
	}
	r.At = r.At.UTC()
	b, err := json.Marshal(r)
	if err != nil {
		return password.Wrap(password.EINTERNAL, err, "The record cannot be stored.")
	}
	at := micros(r.At)
	if at == "" {
		at = "0"
	}
	_, err = recordScript.run(ctx, t.s, []string{t.taskKey(id), t.usersKey(id)}, owner, r.Index, b, at, string(r.Phase))
	if err != nil {
		return t.fail("RecordUser", err)
	}
	return nil
}

// ReleaseTask implements batch.TaskStore.
func (t Tasks) ReleaseTask(ctx context.Context, id, owner string) error {
	if err := t.begin(ctx); err != nil {
		return err
	}
	if _, err := releaseScript.run(ctx, t.s, []string{t.taskKey(id)}, owner); err != nil {
		return t.fail("ReleaseTask", err)
	}
	return nil
}

// FinishTask implements batch.TaskStore.
func (t Tasks) FinishTask(ctx context.Context, id, owner string, status batch.Status) error {
	if err := t.begin(ctx); err != nil {
		return err
	}
	if !status.Final() {
		return password.Errorf(password.EINVALID, "The status is not final.")
	}
	_, err := finishScript.run(ctx, t.s, []string{t.taskKey(id), t.usersKey(id), t.pendingKey()}, owner, string(status), id)
	if err != nil {
		return t.fail("FinishTask", err)
	}
	return nil
}
