// Package store is Parley's persistence layer: the records that the shared
// workspace and the protocol adapters keep, behind small interfaces with two
// implementations, store/sqlite (the embedded default) and store/postgres
// (several gateway replicas sharing state).
//
// The store decides nothing about the domain: it keeps records, enforces
// optimistic versions and leases, and publishes a change feed. Each method is
// one transaction; a write and the change event it emits commit together.
//
// Callers pass in the times that records carry and that decide leases and
// claims (created and updated times, history, Claim.Now, lease ends, the
// time a change is stamped with), so that these are deterministic under
// test. The store reads its own clock for one thing only: the change feed's
// retention. Each change is stamped with when the store committed it, and
// the feed is swept of changes committed longer ago than the retention, so
// that no time a caller passes in can get a change swept before its
// subscribers read it. (The implementations take that clock as an option.)
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Errors returned by every implementation. Match them with errors.Is.
var (
	// ErrNotFound: the record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: a record with that key already exists.
	ErrExists = errors.New("already exists")
	// ErrVersionConflict: an optimistic write named a version that is no
	// longer current. The error is a *VersionConflictError carrying the
	// current version.
	ErrVersionConflict = errors.New("version conflict")
	// ErrNoTask: no task of the requested types is ready to be claimed.
	ErrNoTask = errors.New("no task ready to claim")
	// ErrLeaseLost: the claim on a task expired or was taken over, so the
	// former claimant may no longer complete or fail it.
	ErrLeaseLost = errors.New("task lease lost")
	// ErrUnavailable: the store cannot be reached or opened.
	ErrUnavailable = errors.New("store unavailable")
	// ErrCorrupt: the store's data is not readable as a Parley store.
	ErrCorrupt = errors.New("store data corrupt")
)

// VersionConflictError reports a stale optimistic write.
type VersionConflictError struct {
	Kind     string // record kind, e.g. "ticket"
	Key      string
	Expected int64 // the version the writer read
	Current  int64 // the version stored now
}

func (e *VersionConflictError) Error() string {
	return fmt.Sprintf("%s %q: stale write: expected version %d but current version is %d (read it again and retry)",
		e.Kind, e.Key, e.Expected, e.Current)
}

// Is makes errors.Is(err, ErrVersionConflict) true.
func (e *VersionConflictError) Is(target error) bool { return target == ErrVersionConflict }

// Store is everything Parley keeps.
type Store interface {
	Tickets
	Analyses
	Tasks
	Feed
	Events
	A2ATasks
	A2APushConfigs
	A2AWorkQueue
	Agents
	RelayedTasks
	Audit
	AuditOutbox
	Negotiations
	Upstreams
	MCPSessions
	MCPSessionSubscriptions
	MCPReplicas
	MCPSessionResponses
	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
	// Run does the store's background work until ctx ends or the store is
	// closed, then returns nil: it wakes feed subscribers when another
	// process or replica commits, and sweeps the feed of changes past the
	// retention, the first time one sweep interval after it starts. Opening
	// a store starts nothing; its owner calls Run once, beside its other
	// background work. Without Run, the feed still delivers every change
	// committed through this instance, but changes committed elsewhere
	// arrive late or never, and the feed is never swept.
	Run(ctx context.Context) error
	// Close stops Run and every feed subscription, and releases the
	// store's connections.
	Close() error
}

// Ticket is the stored form of a support ticket. Status and Category are
// kept as columns so that they can be filtered and counted; Data holds the
// whole ticket as JSON, owned by package workspace.
type Ticket struct {
	ID        string
	Version   int64
	Status    string
	Category  string
	Data      json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
}

// HistoryEntry records one change to a ticket.
type HistoryEntry struct {
	Version int64           `json:"version"`
	Actor   string          `json:"actor"`
	At      time.Time       `json:"at"`
	Action  string          `json:"action"`
	Detail  json.RawMessage `json:"detail,omitempty"`
}

// TicketFilter selects tickets for listing. Empty fields match everything.
type TicketFilter struct {
	Statuses []string
	Category string
	// After is the ID of the last ticket of the previous page.
	After string
	// Limit caps the page; values <= 0 mean 50.
	Limit int
}

// Tickets keeps tickets and their history.
type Tickets interface {
	// CreateTicket stores a new ticket at version 1. ErrExists if the ID is taken.
	CreateTicket(ctx context.Context, t Ticket, h HistoryEntry) (Ticket, error)
	// UpdateTicket replaces a ticket if its stored version is still
	// expectedVersion, and bumps the version. A *VersionConflictError if not.
	UpdateTicket(ctx context.Context, t Ticket, expectedVersion int64, h HistoryEntry) (Ticket, error)
	GetTicket(ctx context.Context, id string) (Ticket, error)
	// ListTickets returns tickets ordered by ID, and whether more follow.
	ListTickets(ctx context.Context, f TicketFilter) (tickets []Ticket, more bool, err error)
	// TicketHistory returns the changes to a ticket, oldest first.
	TicketHistory(ctx context.Context, id string) ([]HistoryEntry, error)
	// CountTickets counts tickets by status.
	CountTickets(ctx context.Context) (map[string]int64, error)
}

// Analysis is one agent's findings for a ticket, under its namespace.
type Analysis struct {
	TicketID  string
	Namespace string
	Author    string
	Findings  json.RawMessage
	Version   int64
	UpdatedAt time.Time
}

// Analyses keeps per-namespace findings for tickets.
type Analyses interface {
	// PutAnalysis creates or replaces the findings under a namespace. The
	// ticket must exist (ErrNotFound otherwise).
	PutAnalysis(ctx context.Context, a Analysis) (Analysis, error)
	// ListAnalyses returns every namespace's findings for a ticket, by namespace.
	ListAnalyses(ctx context.Context, ticketID string) ([]Analysis, error)
}

// Task states.
const (
	TaskPending = "pending"
	TaskClaimed = "claimed"
	TaskDone    = "done"
	TaskFailed  = "failed"
)

// Task is an item of the shared work queue.
type Task struct {
	ID         string
	Type       string
	Payload    json.RawMessage
	Status     string
	Claimant   string
	LeaseToken string // proves the claim; required to complete or fail
	LeaseUntil time.Time
	Attempts   int
	Result     json.RawMessage
	Error      string
	Version    int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Claim asks for the next ready task.
type Claim struct {
	Types      []string // at least one
	Claimant   string
	LeaseToken string // chosen by the caller, unguessable
	Now        time.Time
	LeaseUntil time.Time
}

// Tasks is the shared work queue.
type Tasks interface {
	// CreateTask enqueues a pending task. ErrExists if the ID is taken.
	CreateTask(ctx context.Context, t Task) (Task, error)
	GetTask(ctx context.Context, id string) (Task, error)
	// ClaimTask hands out the oldest task of the given types that is pending
	// or whose lease expired before c.Now. ErrNoTask if there is none. A task
	// is never held by two unexpired leases.
	ClaimTask(ctx context.Context, c Claim) (Task, error)
	// FinishTask completes (status TaskDone) or fails (TaskFailed, or
	// TaskPending to requeue) a task held under leaseToken whose lease has not
	// expired at now. ErrLeaseLost otherwise.
	FinishTask(ctx context.Context, id, leaseToken, status string, result json.RawMessage, errMsg string, now time.Time) (Task, error)
	// CountOpenTasks counts pending and claimed tasks by status.
	CountOpenTasks(ctx context.Context) (map[string]int64, error)
}

// Change kinds emitted on the feed.
const (
	KindTicket   = "ticket"
	KindAnalysis = "analysis"
	KindTask     = "task"
)

// Change is one committed write. Seq increases in commit order.
type Change struct {
	Seq     int64
	Kind    string
	Key     string
	Version int64
	// At is the time the writer stamped the change with (such as the
	// record's update time). It does not decide how long the feed keeps
	// the change: retention counts from when the store committed it.
	At time.Time
}

// Feed publishes committed changes, on every replica sharing the store.
type Feed interface {
	// Subscribe delivers every change committed after the call, in commit
	// order, until ctx ends; then the channel is closed. A subscriber that
	// reads slowly delays only itself: nothing is dropped.
	Subscribe(ctx context.Context) (<-chan Change, error)
	// SubscribeAfter resumes after a sequence number already seen. It fails
	// with ErrEventsPurged if changes after seq were swept away (they were
	// committed longer ago than the feed's retention).
	SubscribeAfter(ctx context.Context, seq int64) (<-chan Change, error)
}

// ErrEventsPurged: the feed, or a resumable stream (Events), no longer holds
// the changes or events asked for.
var ErrEventsPurged = errors.New("changes or events purged")

// StreamEvent is one event of a resumable stream.
type StreamEvent struct {
	// Index is the event's position in its stream: 0 for the first append,
	// then one more for each append, with no gaps.
	Index int64
	// Data is the event's payload; empty for a marker event (such as the
	// priming event MCP writes first), which still takes an index.
	Data []byte
}

// Events keeps the events of resumable streams: the MCP Streamable HTTP
// streams a client can resume with Last-Event-ID, also on another replica
// or after a restart. A stream is named by a session and a stream ID within
// it. Event writes are not workspace changes and emit nothing on the Feed.
//
// Storage is bounded twice: an append keeps only the newest events of its
// stream, and SweepEvents drops streams nobody wrote to for a while,
// because a session's end is not always reported. A reader is never given
// partial data: resuming from before what was dropped fails with
// ErrEventsPurged.
type Events interface {
	// OpenStream makes a stream ready for appends and reads, with its first
	// index 0. Opening a stream that exists keeps its events and indices
	// (opening is idempotent) and counts as activity at at.
	OpenStream(ctx context.Context, session, stream string, at time.Time) error
	// AppendEvent adds data to an open stream and returns its index, the
	// next one of the stream, assigned atomically even when several
	// goroutines or replicas append at once. If keep > 0, events older than
	// the newest keep of the stream are dropped in the same transaction.
	// ErrNotFound if the stream was never opened, or was closed or swept:
	// starting it again at index 0 would make the caller's indices lie.
	AppendEvent(ctx context.Context, session, stream string, data []byte, at time.Time, keep int) (index int64, err error)
	// EventsAfter returns the stream's events with an index above index (-1
	// for all), oldest first, at most limit of them (limit <= 0 means 1000);
	// fewer than limit means there are no more for now. ErrEventsPurged if
	// any event above index was dropped; ErrNotFound if the stream was never
	// opened, or was closed or swept.
	EventsAfter(ctx context.Context, session, stream string, index int64, limit int) ([]StreamEvent, error)
	// CloseSession deletes the session's streams and their events. Closing
	// an unknown session is not an error: ends may be reported twice.
	CloseSession(ctx context.Context, session string) error
	// SweepEvents deletes the streams (and their events) last opened or
	// appended to before olderThan, and returns how many streams it deleted.
	// The stream "" is its session's standalone stream (MCP's GET stream),
	// which lives as long as the session and may be quiet meanwhile: it is
	// deleted only once every stream of its session is idle.
	SweepEvents(ctx context.Context, olderThan time.Time) (int64, error)
	// WriteEvents applies writes in their order in one transaction, each as
	// OpenStream, AppendEvent or CloseSession would, so that many writes
	// cost one commit. A write's own failure is in its result and leaves
	// the other writes in: ErrNotFound for an append to a stream not open,
	// ErrVersionConflict for an append whose Index is not the stream's next
	// index. err is a failure of the whole: then nothing was written.
	WriteEvents(ctx context.Context, writes []StreamEventWrite) (results []StreamEventResult, err error)
}

// StreamEventOp is what a StreamEventWrite does.
type StreamEventOp int

const (
	// StreamOpen opens Stream, as OpenStream.
	StreamOpen StreamEventOp = iota + 1
	// StreamAppend appends Data to Stream, as AppendEvent.
	StreamAppend
	// StreamCloseSession deletes Session's streams, as CloseSession.
	StreamCloseSession
	// StreamCall records the call Stream answers (Data: the request) and
	// its Owner (MCPReplicas.GetMCPStreamCall), once: a later one for the
	// same stream changes nothing. The stream must be open.
	StreamCall
)

// StreamEventWrite is one write of WriteEvents.
type StreamEventWrite struct {
	Op              StreamEventOp
	Session, Stream string
	// Index is, for an append, the index the event must take; -1 takes the
	// stream's next index, whichever it is.
	Index int64
	Data  []byte
	At    time.Time
	// Keep caps the stream's events, as AppendEvent's keep.
	Keep int
	// Owner is, for StreamCall, the replica that runs the call.
	Owner string
}

// StreamEventResult is the outcome of one StreamEventWrite: the index an
// append took, or the write's error.
type StreamEventResult struct {
	Index int64
	Err   error
}
