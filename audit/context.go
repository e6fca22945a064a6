package audit

import "context"

// Links tie a record to others. A context carries them from where work
// starts to where its records are written (WithLinks, WithParent,
// WithRecord), so that a chain MCP request → A2A task → negotiation →
// decision can be followed from any of its records.
//
// Parent points at a record written before this one. A record is often
// written when its work ends (a tool call's, with its outcome), after the
// records of what it caused; the correlation IDs, set in the context when
// the work starts, tie those together instead: every record of one MCP
// request carries its RequestID, every record about one A2A task its
// TaskID, and so on.
type Links struct {
	// Parent is the Seq of the record this one follows from; 0 for none.
	Parent int64
	// RequestID identifies the MCP request (or other inbound request) the
	// work is part of; the gateway's request ID is a good one.
	RequestID string
	// TaskID is the A2A task, NegotiationID the negotiation.
	TaskID        string
	NegotiationID string
	// TicketID is the ticket the work concerns, for listing by ticket.
	TicketID string
}

// merge returns l with the set fields of o taking over.
func (l Links) merge(o Links) Links {
	if o.Parent != 0 {
		l.Parent = o.Parent
	}
	if o.RequestID != "" {
		l.RequestID = o.RequestID
	}
	if o.TaskID != "" {
		l.TaskID = o.TaskID
	}
	if o.NegotiationID != "" {
		l.NegotiationID = o.NegotiationID
	}
	if o.TicketID != "" {
		l.TicketID = o.TicketID
	}
	return l
}

type linksKey struct{}

// LinksFrom returns the links ctx carries.
func LinksFrom(ctx context.Context) Links {
	l, _ := ctx.Value(linksKey{}).(Links)
	return l
}

// WithLinks returns a context carrying the links of ctx with the set
// fields of l taking over.
func WithLinks(ctx context.Context, l Links) context.Context {
	return context.WithValue(ctx, linksKey{}, LinksFrom(ctx).merge(l))
}

// WithParent returns a context whose records name seq as their parent.
func WithParent(ctx context.Context, seq int64) context.Context {
	return WithLinks(ctx, Links{Parent: seq})
}

// WithRecord returns a context whose records follow from r: r is their
// parent, and they carry r's correlation IDs and ticket where r has them.
func WithRecord(ctx context.Context, r Record) context.Context {
	return WithLinks(ctx, Links{Parent: r.Seq, RequestID: r.RequestID, TaskID: r.TaskID,
		NegotiationID: r.NegotiationID, TicketID: r.TicketID})
}
