package relay

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/parleyhq/parley/a2a/compat"
	"github.com/parleyhq/parley/store"
)

// taskOf finds the task an answer's result (or a streamed event's) is
// about, in version v: a task, a status update, or (1.0) a send result
// holding a task. The state is returned in its A2A 0.3 spelling.
func taskOf(v compat.Version, result any) (id, contextID, state string, ok bool) {
	r, _ := result.(map[string]any)
	if r == nil {
		return "", "", "", false
	}
	var t map[string]any
	isUpdate := false
	if v == compat.V03 {
		switch r["kind"] {
		case "task":
			t = r
		case "status-update":
			t, isUpdate = r, true
		}
	} else {
		switch {
		case field(r, "task") != nil:
			t, _ = field(r, "task").(map[string]any)
		case field(r, "statusUpdate") != nil:
			t, _ = field(r, "statusUpdate").(map[string]any)
			isUpdate = true
		case field(r, "message") != nil, field(r, "artifactUpdate") != nil:
		case r["id"] != nil && r["status"] != nil: // GetTask, CancelTask
			t = r
		}
	}
	if t == nil {
		return "", "", "", false
	}
	idField := "id"
	if isUpdate {
		idField = "taskId"
	}
	id, _ = field(t, idField).(string)
	contextID, _ = field(t, "contextId").(string)
	status, _ := t["status"].(map[string]any)
	state = state03(status["state"])
	return id, contextID, state, id != ""
}

// field reads a member under its lowerCamel name or, as 1.0 proto-JSON
// allows, its snake_case one.
func field(o map[string]any, name string) any {
	if v, ok := o[name]; ok && v != nil {
		return v
	}
	var b strings.Builder
	for _, r := range name {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return o[b.String()]
}

var states10 = []string{"unknown", "submitted", "working", "completed", "failed", "canceled", "input-required", "rejected", "auth-required"}

// state03 spells a task state of either version as A2A 0.3 does:
// TASK_STATE_INPUT_REQUIRED (or its number, 6) is input-required.
func state03(v any) string {
	switch s := v.(type) {
	case string:
		rest, ok := strings.CutPrefix(s, "TASK_STATE_")
		if !ok {
			return s
		}
		if rest == "UNSPECIFIED" {
			return "unknown"
		}
		return strings.ReplaceAll(strings.ToLower(rest), "_", "-")
	case json.Number:
		if n, err := s.Int64(); err == nil && n >= 0 && int(n) < len(states10) {
			return states10[n]
		}
		return s.String()
	}
	return ""
}

func (rl *Relay) record(t store.RelayedTask) {
	if rl.rec != nil {
		rl.rec.record(t)
	}
}

// recorder saves relayed tasks in the background, so that a slow or broken
// store never delays a call. One worker saves them in the order they were
// seen; a full queue drops the record (and says so in the log) rather than
// wait. The worker saves in batches, one transaction each when the store
// can (batchSaver): under load a transaction per save would bound the
// relay by the store's commit rate, and each commit costs CPU (SQLite's
// WAL write). A batch is what queued up while the last one was saved, and
// what comes in a short linger after (recorderLinger), cut short by a full
// batch, by close, or by a reader waiting for a task's save (await). One
// worker rather than several: several commit smaller batches through the
// store's single writer, which costs more CPU and saves nothing faster
// (docs/benchmarks.md). It counts the saves of each task still waiting,
// so that the ownership check can wait for those seen before it (await).
type recorder struct {
	st  store.RelayedTasks
	log *slog.Logger

	mu     sync.RWMutex
	closed bool
	saves  chan store.RelayedTask
	hurry  chan struct{} // a reader is waiting: save without lingering
	done   chan struct{} // closed when the worker is done

	pendingMu sync.Mutex
	pending   map[string]*pendingSaves // by recordKey; only tasks with saves waiting
}

// pendingSaves counts a task's saves handed to the worker and those done
// with (saved, failed or dropped); changed is closed, and replaced, each
// time one is done with.
type pendingSaves struct {
	queued, settled uint64
	changed         chan struct{}
}

// recordKey names a relayed task as the store keys it: agents ignoring
// case.
func recordKey(agent, taskID string) string { return strings.ToLower(agent) + "/" + taskID }

const (
	recorderQueue = 4096
	recorderBatch = 256 // saves in one transaction, at most
	// recorderLinger is how long the worker waits for more saves before it
	// commits a batch that is not full. A relayed call never waits for it
	// (only a read of a task just relayed might, and that cuts it short).
	// It is what a process that dies may lose: the records of the tasks
	// relayed in its last linger, whose follow-ups through the relay are
	// then answered as for an unknown task. 20 ms rather than 5: each
	// relayed task's row lands on a random page of the table's key (the
	// agent picks the task IDs), and fewer, fuller commits cost less per
	// task (docs/benchmarks.md, "Time-ordered request IDs and a 20 ms
	// recorder linger").
	recorderLinger = 20 * time.Millisecond
	recordTimeout  = 10 * time.Second
)

// batchSaver is a store that saves many relayed tasks in one transaction,
// each as SaveRelayedTask does, all or none (sqlstore.DB).
type batchSaver interface {
	SaveRelayedTasks(ctx context.Context, ts []store.RelayedTask) error
}

func newRecorder(st store.RelayedTasks, log *slog.Logger) *recorder {
	r := &recorder{
		st: st, log: log, pending: map[string]*pendingSaves{},
		saves: make(chan store.RelayedTask, recorderQueue),
		hurry: make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
	go r.run()
	return r
}

// run is the worker: it saves batches until close closes the queue, and
// what was queued before.
func (r *recorder) run() {
	defer close(r.done)
	batch := make([]store.RelayedTask, 0, recorderBatch)
	linger := time.NewTimer(recorderLinger)
	linger.Stop()
	for t := range r.saves {
		batch = append(batch[:0], t)
		open := r.drain(&batch)
		if open && len(batch) < recorderBatch && recorderLinger > 0 {
			// A hurry left from a batch already saved only spares this
			// batch its linger.
			linger.Reset(recorderLinger)
		wait:
			for len(batch) < recorderBatch {
				select {
				case t, ok := <-r.saves:
					if !ok {
						break wait
					}
					batch = append(batch, t)
				case <-linger.C:
					break wait
				case <-r.hurry:
					r.drain(&batch)
					break wait
				}
			}
			linger.Stop()
		}
		r.save(batch)
		for _, t := range batch {
			r.settle(recordKey(t.Agent, t.TaskID))
		}
	}
}

// drain adds what is queued to the batch, up to a full one, without
// waiting; it reports whether the queue is still open.
func (r *recorder) drain(batch *[]store.RelayedTask) bool {
	for len(*batch) < recorderBatch {
		select {
		case t, ok := <-r.saves:
			if !ok {
				return false
			}
			*batch = append(*batch, t)
		default:
			return true
		}
	}
	return true
}

// save saves a batch: in one transaction when the store can, else (or
// when that fails, so that one bad record loses no other) one by one.
func (r *recorder) save(batch []store.RelayedTask) {
	if b, ok := r.st.(batchSaver); ok && len(batch) > 1 {
		ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
		err := b.SaveRelayedTasks(ctx, batch)
		cancel()
		if err == nil {
			return
		}
		r.log.Warn("relay: recording a batch of relayed tasks failed; recording them one by one", "tasks", len(batch), "err", err)
	}
	for _, t := range batch {
		ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
		if err := r.st.SaveRelayedTask(ctx, t); err != nil {
			r.log.Error("relay: recording a relayed task failed", "agent", t.Agent, "task", t.TaskID, "caller", t.Caller, "state", t.State, "err", err)
		}
		cancel()
	}
}

func (r *recorder) record(t store.RelayedTask) {
	key := recordKey(t.Agent, t.TaskID)
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return
	}
	r.queue(key)
	select {
	case r.saves <- t:
	default:
		r.settle(key)
		r.log.Warn("relay: too many relayed tasks waiting to be recorded; one was not", "agent", t.Agent, "task", t.TaskID, "caller", t.Caller, "state", t.State)
	}
}

// queue counts a save of the task as waiting.
func (r *recorder) queue(key string) {
	r.pendingMu.Lock()
	defer r.pendingMu.Unlock()
	p := r.pending[key]
	if p == nil {
		p = &pendingSaves{changed: make(chan struct{})}
		r.pending[key] = p
	}
	p.queued++
}

// settle counts a save of the task as done with.
func (r *recorder) settle(key string) {
	r.pendingMu.Lock()
	defer r.pendingMu.Unlock()
	p := r.pending[key]
	if p == nil {
		return
	}
	p.settled++
	close(p.changed)
	p.changed = make(chan struct{})
	if p.settled == p.queued {
		delete(r.pending, key)
	}
}

// await waits until the saves of the agent's task handed to the worker
// before it was called are done with (saved, failed or dropped), or ctx
// ends. Saves queued meanwhile are not waited for: a task streaming
// updates would keep a waiter forever.
func (r *recorder) await(ctx context.Context, agent, taskID string) error {
	r.pendingMu.Lock()
	p := r.pending[recordKey(agent, taskID)]
	if p == nil {
		r.pendingMu.Unlock()
		return nil
	}
	target := p.queued
	for p.settled < target {
		changed := p.changed
		r.pendingMu.Unlock()
		// The worker may be lingering with this task's save in its batch
		// (or soon be, with it in the next).
		select {
		case r.hurry <- struct{}{}:
		default:
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		r.pendingMu.Lock()
	}
	r.pendingMu.Unlock()
	return nil
}

func (r *recorder) close() {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.saves) // the worker saves what is queued, then ends
	}
	r.mu.Unlock()
	<-r.done
}
