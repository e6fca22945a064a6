package workspace

import (
	"context"

	"github.com/parleyhq/parley/observe"
	"github.com/parleyhq/parley/store"
)

// noteChange notes the span (if any) that writes version t of a ticket,
// before the write commits, so that what the change feed causes on this
// replica (escalation rules, the resources/updated notifications) joins
// the writer's trace; forgetChange takes it back if the write failed.
// Each costs an atomic load with tracing off.
func noteChange(ctx context.Context, t Ticket) {
	observe.NoteChange(ctx, store.KindTicket, t.ID, t.Version)
}

func forgetChange(ctx context.Context, t Ticket) {
	observe.ForgetChange(ctx, store.KindTicket, t.ID, t.Version)
}
