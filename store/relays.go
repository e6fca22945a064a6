package store

import (
	"context"
	"strings"
	"time"
)

// RelayedTask records a task of a registered agent that a caller reached
// through Parley's relay (/a2a/agents/{name}): which agent, which task,
// who asked, and the task's state as last seen passing through. The task
// itself stays with the agent; this is the gateway's record of it, for
// auditing.
type RelayedTask struct {
	// Agent is the registry name of the agent. Agents are matched ignoring
	// case, as in the registry.
	Agent string
	// TaskID is the agent's task ID, unique per agent.
	TaskID    string
	ContextID string
	// Caller is who sent the call the task was first seen in, kept after.
	Caller string
	// State is the A2A 0.3 task state (submitted, working, completed, …)
	// as of the last save.
	State string
	// Version counts the saves that changed the record: 1 after the first.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Key names a relayed task in RelayedTaskFilter After: the agent's name, "/" and the task ID. Agent names never contain
// "/", so the first "/" splits it.
func (t RelayedTask) Key() string { return RelayedTaskKey(t.Agent, t.TaskID) }

// RelayedTaskKey is RelayedTask.Key for an agent and a task ID.
func RelayedTaskKey(agent, taskID string) string { return agent + "/" + taskID }

// SplitRelayedTaskKey splits a RelayedTask.Key into agent and task ID.
func SplitRelayedTaskKey(key string) (agent, taskID string, ok bool) {
	return strings.Cut(key, "/")
}

// RelayedTaskFilter selects relayed tasks for listing. Empty fields match
// everything.
type RelayedTaskFilter struct {
	// Agent matches the agent's name ignoring case.
	Agent  string
	Caller string
	States []string
	// After is the Key of the last task of the previous page. Tasks are
	// listed oldest first (by creation, then agent, then task ID); an After
	// that names no stored task gives an empty page.
	After string
	// Limit caps the page; values <= 0 mean 50.
	Limit int
}

// RelayedTasks records the tasks relayed to registered agents.
type RelayedTasks interface {
	// SaveRelayedTask creates or updates the record of a relayed task in
	// one atomic upsert keyed by (agent ignoring case, task ID), as of
	// t.UpdatedAt (t.CreatedAt and t.Version are ignored). The first save
	// records the agent's name as given, the caller and the creation time;
	// a later save updates the state (unless empty), the context ID (if
	// none was known) and the update time. A save older than the stored
	// update time is ignored, so that a late write cannot take a task's
	// state back, and so is a save that changes neither state nor context.
	// Each save that changes the record bumps its version. Agent and
	// TaskID are required.
	//
	// A save emits no change on the Feed. The relay saves a task or more
	// on every relayed call, nothing in the gateway follows relayed tasks
	// (GetRelayedTask reads the record when it is needed), and each change
	// would wake every subscriber of every replica to read the feed again:
	// about a sixth of the gateway's CPU per relayed call, measured
	// (docs/benchmarks.md). Something that comes to need them should get a
	// change kind of its own that wakes only who asks for it.
	SaveRelayedTask(ctx context.Context, t RelayedTask) error
	// ListRelayedTasks returns relayed tasks oldest first, and whether
	// more follow.
	ListRelayedTasks(ctx context.Context, f RelayedTaskFilter) (tasks []RelayedTask, more bool, err error)
	// GetRelayedTask returns the record of an agent's task (the agent
	// matched ignoring case), or an error wrapping ErrNotFound: what the
	// relay asks before it lets a caller reach a task (whose is it?).
	GetRelayedTask(ctx context.Context, agent, taskID string) (RelayedTask, error)
}
