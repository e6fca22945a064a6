package audit

import "context"

// A Call is the record of one call that a transport's middleware audits
// (Middleware for HTTP, package auditgrpc for gRPC): begun before the
// handler runs, ended once it has answered. The transport supplies only
// what it alone knows: the outcome its answer means and the detail that
// names the call in its terms; what the handler noted, the record
// committed with the call's first write and the choice between Record and
// Append are the same for every transport, and live here, so that a
// transport package needs nothing unexported.
type Call struct {
	log    *Log
	entry  Entry
	note   *Note
	intent *Intent
}

// BeginCall starts the record of a call that entry describes. detail
// names the call in the transport's terms (its protocol method, say); it
// goes into a record committed with the call's first store write, with
// "committed_write": "true" and the reason noted by then. It returns the
// context for the handler, which carries the call's Note and, for an
// entry marked WithWrite that is not a Read, the Intent that commits the
// record with that write (Log.Intend).
func (l *Log) BeginCall(ctx context.Context, entry Entry, detail map[string]string) (context.Context, *Call) {
	ctx, note := WithNote(ctx)
	c := &Call{log: l, entry: entry, note: note}
	if entry.WithWrite && !entry.Read {
		ctx, c.intent = l.Intend(ctx, func() Entry {
			e := entry
			e.Outcome = OK
			reason := note.apply(&e)
			if e.Detail == nil {
				d := make(map[string]string, len(detail)+2)
				for k, v := range detail {
					d[k] = v
				}
				d["committed_write"] = "true"
				if reason != "" {
					d["reason"] = reason
				}
				e.Detail = d
			}
			return e
		})
	}
	return ctx, c
}

// End records the call once its handler has returned: with outcome (what
// the transport's answer means: OK, Denied or Error) unless the handler
// noted worse, the task noted in the links, and detail (the transport's
// terms; End adds the reason noted, and owns the map from then on). A
// call whose record a write committed is not recorded again if it
// succeeded; if it then failed, a second record says so
// ("after_committed_write"). A Read entry's record is queued (Record);
// any other's is committed before End returns (Append). ctx is the
// call's, for the principal and links.
func (c *Call) End(ctx context.Context, outcome string, detail map[string]string) {
	committed := c.intent.Close()
	e := c.entry
	e.Outcome = outcome
	reason := c.note.apply(&e)
	if detail == nil {
		detail = map[string]string{}
	}
	if reason != "" {
		detail["reason"] = reason
	}
	if committed {
		if e.Outcome == OK {
			return // recorded with the write, and chained by Run
		}
		detail["after_committed_write"] = "true"
	}
	if e.Detail == nil {
		e.Detail = detail
	}
	// Logs its own failures.
	c.log.appendAs(ctx, e)
}
