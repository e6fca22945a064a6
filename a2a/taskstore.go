package a2a

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	a2ago "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"

	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/store"
)

// TaskStore is a durable a2asrv.TaskStore over the store: tasks survive a
// restart and can be read on any replica sharing the store. Each task is
// kept as its JSON; the first save records the caller of the call that
// created it (CallerFrom).
//
// a2a-go saves a task on every event while tasks/get reads it
// concurrently; each Save is one atomic upsert, so a Get returns one whole
// save.
type TaskStore struct {
	st  store.A2ATasks
	now func() time.Time
}

var _ a2asrv.TaskStore = (*TaskStore)(nil)

// NewTaskStore returns a TaskStore over st. now reads the clock for the
// save times; nil means time.Now.
func NewTaskStore(st store.A2ATasks, now func() time.Time) *TaskStore {
	if now == nil {
		now = time.Now
	}
	return &TaskStore{st: st, now: now}
}

// Save implements a2asrv.TaskStore.
func (s *TaskStore) Save(ctx context.Context, task *a2ago.Task) error {
	if task == nil {
		return errors.New("save a2a task: nil task")
	}
	data, err := json.Marshal(task)
	if err != nil {
		return fmt.Errorf("save a2a task %s: encode: %w", task.ID, err)
	}
	// The call's audit record may be committed with this save
	// (audit.Entry.WithWrite), before the call's answer names the task.
	audit.NoteTask(ctx, string(task.ID))
	if err := s.st.SaveA2ATask(ctx, string(task.ID), task.ContextID, CallerFrom(ctx), string(task.Status.State), data, s.now()); err != nil {
		return fmt.Errorf("save a2a task %s: %w", task.ID, err)
	}
	return nil
}

// Get implements a2asrv.TaskStore. An unknown task is a2a's
// ErrTaskNotFound.
func (s *TaskStore) Get(ctx context.Context, id a2ago.TaskID) (*a2ago.Task, error) {
	rec, err := s.st.GetA2ATask(ctx, string(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("task %s: %w", id, a2ago.ErrTaskNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get a2a task %s: %w", id, err)
	}
	return decodeTask(rec)
}

// Caller returns who created a task.
func (s *TaskStore) Caller(ctx context.Context, id a2ago.TaskID) (string, error) {
	rec, err := s.st.GetA2ATask(ctx, string(id))
	if errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("task %s: %w", id, a2ago.ErrTaskNotFound)
	}
	if err != nil {
		return "", err
	}
	return rec.Caller, nil
}

// List returns the tasks f selects, oldest first, and whether more follow
// (pass the last task's ID as f.After for the next page).
func (s *TaskStore) List(ctx context.Context, f store.A2ATaskFilter) ([]*a2ago.Task, bool, error) {
	recs, more, err := s.st.ListA2ATasks(ctx, f)
	if err != nil {
		return nil, false, fmt.Errorf("list a2a tasks: %w", err)
	}
	out := make([]*a2ago.Task, 0, len(recs))
	for _, rec := range recs {
		t, err := decodeTask(rec)
		if err != nil {
			return nil, false, err
		}
		out = append(out, t)
	}
	return out, more, nil
}

func decodeTask(rec store.A2ATask) (*a2ago.Task, error) {
	var t a2ago.Task
	if err := json.Unmarshal(rec.Task, &t); err != nil {
		return nil, fmt.Errorf("a2a task %s: stored task does not decode: %w: %w", rec.ID, store.ErrCorrupt, err)
	}
	return &t, nil
}
