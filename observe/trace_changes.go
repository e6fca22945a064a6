package observe

// Changes travel on the store's change feed without their trace context
// (the feed carries kind, key and version, on every replica). The writers
// whose changes matter to a trace (a negotiation's write-back) note here
// the span that made a change, and the feed's followers on the same
// replica (the MCP bridge's resources/updated notifications) start their
// spans under it. On another replica the note is absent and the follower's
// span starts a trace of its own: the chain breaks only there.

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/trace"
)

// changeNotes bounds what is remembered: a follower hears of a change
// within moments, so the last few hundred suffice.
const changeNotes = 512

type changeKey struct {
	kind, key string
	version   int64
}

var changes = struct {
	sync.Mutex
	by   map[changeKey]trace.SpanContext
	ring [changeNotes]changeKey
	next int
}{by: map[changeKey]trace.SpanContext{}}

// NoteChange remembers that the span in ctx makes the change (kind, key,
// version), for ChangeContext. Call it before the write commits (the
// feed's follower may hear of the change before the writer returns), and
// ForgetChange if the write fails. It does nothing when tracing is off or
// ctx has no span.
func NoteChange(ctx context.Context, kind, key string, version int64) {
	if !On() {
		return
	}
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return
	}
	k := changeKey{kind, key, version}
	changes.Lock()
	defer changes.Unlock()
	if _, ok := changes.by[k]; !ok {
		delete(changes.by, changes.ring[changes.next])
		changes.ring[changes.next] = k
		changes.next = (changes.next + 1) % changeNotes
	}
	changes.by[k] = sc
}

// ChangeContext returns ctx with the span that made the change (kind,
// key, version) as the parent of the spans started next, if this process
// noted it (NoteChange); else ctx.
func ChangeContext(ctx context.Context, kind, key string, version int64) context.Context {
	if !On() {
		return ctx
	}
	changes.Lock()
	sc, ok := changes.by[changeKey{kind, key, version}]
	changes.Unlock()
	if !ok {
		return ctx
	}
	return trace.ContextWithSpanContext(ctx, sc)
}

// ForgetChange takes back what NoteChange noted for a write that failed,
// if the note is still the span's in ctx.
func ForgetChange(ctx context.Context, kind, key string, version int64) {
	if !On() {
		return
	}
	sc := trace.SpanContextFromContext(ctx)
	k := changeKey{kind, key, version}
	changes.Lock()
	defer changes.Unlock()
	if noted, ok := changes.by[k]; ok && noted.Equal(sc) {
		delete(changes.by, k) // its ring slot is reused in turn
	}
}
