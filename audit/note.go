package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"unicode/utf8"
)

// A Note is how the code handling a request tells the request's audit
// record what only it knows: which task the call concerned, and that it
// refused the call (a task of another caller's is answered "not found",
// so the record cannot tell from the answer) or failed it (a JSON-RPC
// error travels in a 200 answer). Middleware and the gRPC interceptors put
// a Note in the request's context before calling the handler and read it
// once the handler has answered; the handler calls NoteTask, NoteDenied
// and NoteFailed, which do nothing when the context carries no Note (a
// call that is not audited).
//
// A Note is safe for concurrent use: the handler may note from goroutines
// of its own (a streamed answer).
type Note struct {
	mu      sync.Mutex
	taskID  string
	outcome string
	reason  string
	detail  map[string]string
	action  string // NoteTarget's, replacing the entry's
	target  string
}

type noteKey struct{}

// WithNote returns ctx carrying a new Note, and the Note.
func WithNote(ctx context.Context) (context.Context, *Note) {
	n := &Note{}
	return context.WithValue(ctx, noteKey{}, n), n
}

func noteFrom(ctx context.Context) *Note {
	n, _ := ctx.Value(noteKey{}).(*Note)
	return n
}

// NoteTask records the task the call in ctx concerns; the first task
// noted is kept. A caller-supplied ID may be of any length: it is kept as
// BoundID makes it.
func NoteTask(ctx context.Context, id string) {
	n := noteFrom(ctx)
	if n == nil || id == "" {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.taskID == "" {
		n.taskID = BoundID(id)
	}
}

// NoteDenied records that the call in ctx was refused, and why (in the
// auditor's terms: "the task belongs to another caller").
func NoteDenied(ctx context.Context, reason string) { noteOutcome(ctx, Denied, reason) }

// NoteFailed records that the call in ctx failed, and how (a short, fixed
// description: the detail of the error belongs in the log).
func NoteFailed(ctx context.Context, reason string) { noteOutcome(ctx, Error, reason) }

// NoteDetail adds key=value to the detail of the record of the call in
// ctx (an upstream's name, how long a forwarded call took): facts only
// the handler knows. A later value for the same key replaces the earlier.
func NoteDetail(ctx context.Context, key, value string) {
	n := noteFrom(ctx)
	if n == nil || key == "" {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.detail == nil {
		n.detail = map[string]string{}
	}
	n.detail[key] = value
}

// NoteTarget records what the call in ctx turned out to be, replacing the
// action and target the middleware described it with: a gRPC call is
// described by its method alone, and only the handler reads the request
// (the A2A relay's gRPC calls name their agent in the request's tenant,
// and are recorded as relayed calls to it). Empty values change nothing.
func NoteTarget(ctx context.Context, action, target string) {
	n := noteFrom(ctx)
	if n == nil || action == "" || target == "" {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.action, n.target = action, target
}

// Detail returns a copy of what NoteDetail added, nil if nothing.
func (n *Note) Detail() map[string]string {
	if n == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.detail) == 0 {
		return nil
	}
	out := make(map[string]string, len(n.detail))
	for k, v := range n.detail {
		out[k] = v
	}
	return out
}

func noteOutcome(ctx context.Context, outcome, reason string) {
	n := noteFrom(ctx)
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	// A denial stands: what fails after it does not make it an error.
	if n.outcome == Denied {
		return
	}
	n.outcome, n.reason = outcome, reason
}

// apply puts what was noted into e: the task (unless e names one), and
// the outcome when one was noted and it is worse than e's (Denied over
// Error over OK). It returns the reason noted, when the outcome it was
// noted with is the record's.
func (n *Note) apply(e *Entry) string {
	if n == nil {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if e.Links.TaskID == "" {
		e.Links.TaskID = n.taskID
	}
	if n.action != "" {
		e.Action, e.Target = n.action, n.target
	}
	if n.outcome == "" || severity(n.outcome) < severity(e.Outcome) {
		return ""
	}
	e.Outcome = n.outcome
	return n.reason
}

func severity(outcome string) int {
	switch outcome {
	case Denied:
		return 2
	case Error:
		return 1
	}
	return 0
}

// MaxIDBytes bounds an identifier (a task ID) a caller chose, as BoundID
// keeps it.
const MaxIDBytes = 128

// BoundID returns id when it is at most MaxIDBytes long, else its start
// followed by "…sha256:" and the first 16 hex digits of its SHA-256: the
// record stays small whatever a hostile caller sends, and two long IDs
// with the same start still read differently.
func BoundID(id string) string {
	if len(id) <= MaxIDBytes {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	suffix := "…sha256:" + hex.EncodeToString(sum[:8])
	cut := MaxIDBytes - len(suffix)
	for cut > 0 && !utf8.RuneStart(id[cut]) {
		cut--
	}
	return id[:cut] + suffix
}
