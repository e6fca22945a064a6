package store

import (
	"context"
	"encoding/json"
	"time"
)

// KindA2ATask is the change kind of a write to an A2A task (A2ATasks): the
// key is the task ID, the version the task's version after the write.
const KindA2ATask = "a2a_task"

// A2ATask is the stored form of a task of the gateway's own A2A server.
// Task holds the whole task as JSON, owned by the A2A layer; the other
// fields are kept as columns so that tasks can be found by them.
type A2ATask struct {
	ID        string
	ContextID string
	// Caller is who created the task (its owner), recorded by
	// CreateA2ATask and never changed after.
	Caller string
	// State is the A2A task state as of the last write.
	State string
	Task  json.RawMessage
	// Version counts the writes: 1 after the creation.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// A2ATaskFilter selects A2A tasks for listing. Empty fields match
// everything.
type A2ATaskFilter struct {
	Caller    string
	ContextID string
	States    []string
	// UpdatedAfter, if set, keeps the tasks last written at or after it.
	UpdatedAfter time.Time
	// NewestFirst lists by update time, newest first, then by ID
	// descending: the order of A2A's ListTasks. The page after a previous
	// one starts below Before. Without it tasks are listed oldest first,
	// by creation then ID, and the page after starts above After.
	NewestFirst bool
	// Before is, with NewestFirst, the last task of the previous page: its
	// UpdatedAt and ID. Zero means the first page.
	Before A2ATaskCursor
	// After is the ID of the last task of the previous page (oldest first
	// only). An After that names no stored task gives an empty page.
	After string
	// Limit caps the page; values <= 0 mean 50.
	Limit int
}

// A2ATaskCursor is where a NewestFirst listing resumes: the update time
// and ID of the last task listed. A cursor keeps working when that task
// is updated or deleted meanwhile.
type A2ATaskCursor struct {
	UpdatedAt time.Time
	ID        string
}

// A2ATaskEvent is one entry of a task's event log: the JSON of the A2A
// event that caused a write, with the version the write gave the task.
type A2ATaskEvent struct {
	// Seq orders the events of one task (and increases across tasks); it
	// is what a reader resumes after.
	Seq     int64
	TaskID  string
	Version int64
	Event   json.RawMessage
	At      time.Time
}

// A2ATasks keeps the tasks of the gateway's own A2A server with their
// event logs, so that any replica can read a task, continue it, and stream
// its events (a2a/a2astore adapts them to the A2A SDK).
type A2ATasks interface {
	// CreateA2ATask stores a new task at version 1 (t.Version and
	// t.UpdatedAt are ignored: the update time is t.CreatedAt). ErrExists
	// if the ID is taken. event, unless nil, is appended to the task's
	// event log with version 1 in the same transaction. It emits a
	// KindA2ATask change.
	CreateA2ATask(ctx context.Context, t A2ATask, event []byte) (version int64, err error)
	// UpdateA2ATask replaces the task's state, context, document and
	// update time, and bumps its version, if its stored version is still
	// prevVersion (0: whatever it is). Caller and CreatedAt are never
	// changed. ErrNotFound if there is no such task; a
	// *VersionConflictError if the version moved on. event, unless nil, is
	// appended to the event log with the new version in the same
	// transaction. It emits a KindA2ATask change.
	UpdateA2ATask(ctx context.Context, t A2ATask, prevVersion int64, event []byte) (version int64, err error)
	// GetA2ATask returns a task; ErrNotFound if there is none.
	GetA2ATask(ctx context.Context, id string) (A2ATask, error)
	// ListA2ATasks returns a page of the tasks that f selects, how many
	// tasks f selects in all (ignoring the cursor and the limit), and
	// whether more follow the page.
	ListA2ATasks(ctx context.Context, f A2ATaskFilter) (tasks []A2ATask, total int, more bool, err error)
	// A2ATaskEventsAfter returns the task's events with a Seq above
	// afterSeq, oldest first, at most limit (<= 0 means 100). An unknown
	// task has no events.
	A2ATaskEventsAfter(ctx context.Context, taskID string, afterSeq int64, limit int) ([]A2ATaskEvent, error)
	// LastA2ATaskEventSeq returns the Seq of the task's newest event, 0 if
	// it has none: a reader that starts after it sees only new events.
	LastA2ATaskEventSeq(ctx context.Context, taskID string) (int64, error)
	// SweepA2ATaskEvents deletes the event logs of the tasks whose state is
	// one of states (the terminal ones, which no more events follow) and
	// that were last written before olderThan, and returns how many events
	// it deleted. The tasks themselves stay.
	SweepA2ATaskEvents(ctx context.Context, states []string, olderThan time.Time) (int64, error)
}
