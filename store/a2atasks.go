package store

import (
	"context"
	"encoding/json"
	"time"
)

// KindA2ATask is the change kind of a write to an A2A task (A2ATasks): the
// key is the task ID, the version counts the task's saves.
const KindA2ATask = "a2a_task"

// A2ATask is the stored form of a task of the gateway's own A2A server.
// Task holds the whole task as JSON, owned by package a2a; the other
// fields are kept as columns so that tasks can be found by them.
type A2ATask struct {
	ID        string
	ContextID string
	// Caller is who sent the message that created the task, recorded by
	// the first save and never changed after.
	Caller string
	// State is the A2A task state (submitted, working, completed, …) as of
	// the last save.
	State string
	Task  json.RawMessage
	// Version counts the saves: 1 after the first.
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
	// After is the ID of the last task of the previous page. Tasks are
	// listed oldest first (by creation, then ID); an After that names no
	// stored task gives an empty page.
	After string
	// Limit caps the page; values <= 0 mean 50.
	Limit int
}

// A2ATasks keeps the tasks of the gateway's own A2A server, so that a task
// can be read (tasks/get) after a restart or on another replica.
type A2ATasks interface {
	// SaveA2ATask creates or replaces a task in one atomic statement: a
	// concurrent GetA2ATask sees the previous save or this one, never a
	// mix. The first save records contextID, caller and at as the creation
	// time; later saves replace state, task and the update time only. Each
	// save emits a KindA2ATask change.
	SaveA2ATask(ctx context.Context, id, contextID, caller, state string, taskJSON []byte, at time.Time) error
	// GetA2ATask returns a task; ErrNotFound if there is none.
	GetA2ATask(ctx context.Context, id string) (A2ATask, error)
	// ListA2ATasks returns tasks oldest first, and whether more follow.
	ListA2ATasks(ctx context.Context, f A2ATaskFilter) (tasks []A2ATask, more bool, err error)
}
