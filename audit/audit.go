// Package audit is Parley's tamper-evident audit log: every tool call, A2A
// message or relay, agent registration or approval, negotiation move and
// decision, and policy denial is appended to a hash chain kept in the store
// (store.Audit), and Verify walks the chain to find the first record that
// was altered, removed or inserted behind Parley's back.
//
// Callers describe what happened in an Entry; the Log fills in the time,
// the principal (through Options.Principal) and the links carried in the
// context (WithParent, WithLinks, WithRecord), cleans the text, and appends.
//
// Append is synchronous: when it returns without error the record is
// committed. Record is its fire-and-forget twin, for reads (see Record).
// Neither is cancelled with the caller's context, so that a request whose
// client went away is still recorded. Whether a failed append fails the
// audited operation is the caller's choice; the Log logs every failure.
//
// Appends are grouped (group commit) while Run runs: one goroutine takes
// every record queued, links it into the chain and commits the lot in one
// store transaction (store.Audit.AppendAuditBatch), whose head is the
// stored one, so replicas sharing the store still write one chain. There
// is no timer: a batch is whatever queued while the previous one
// committed, so a lone append waits for nothing but its own commit.
// Without Run (tools, tests, and after Run returns) each append is its
// own transaction, as it always was.
//
// The record of a call that writes is better committed with the write
// itself (Intend): it goes, unchained, into the store's outbox in the
// write's transaction, so that the change and its record commit together
// or not at all, and Run moves it into the chain with its next batch
// (within the read window), and as it starts, what a crash left. Verify
// counts what waits there (Result.Pending).
//
// A nil *Log records nothing, so that a component can take one optionally.
//
// The hash chain makes tampering evident, not impossible: someone who can
// write the database and recomputes every hash from the altered record to
// the end, and the chain head, is not detected. Copying the head's hash
// elsewhere from time to time (see store.AuditChainHead) closes that gap.
package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley/store"
)

// Record is one stored entry of the log; see store.AuditRecord.
type Record = store.AuditRecord

// Filter selects records for List; see store.AuditFilter.
type Filter = store.AuditFilter

// Actions Parley records. Other dotted names may be used.
const (
	ActionMCPToolCall         = "mcp.tool_call"
	ActionA2AMessage          = "a2a.message"
	ActionA2ARelay            = "a2a.relay"
	ActionAgentRegister       = "agent.register"
	ActionAgentReplace        = "agent.replace"
	ActionAgentApprove        = "agent.approve"
	ActionAgentRemove         = "agent.remove"
	ActionNegotiationStart    = "negotiation.start"
	ActionNegotiationMove     = "negotiation.move"
	ActionNegotiationDecision = "negotiation.decision"
	ActionPolicyDenial        = "policy.denial"
)

// Outcomes.
const (
	OK     = store.AuditOK
	Error  = store.AuditError
	Denied = store.AuditDenied
)

// Limits on what one record keeps, so that a caller-controlled value (a
// tool name, a task ID) cannot bloat the log. Longer text is cut at a
// character boundary and marked with "…"; a longer detail is replaced by
// {"truncated":true,"bytes":N}.
const (
	MaxTextBytes   = 1024
	MaxDetailBytes = 64 << 10
)

// Principal is who acted: the subject of the caller's token and the OAuth
// client it was issued to.
type Principal struct {
	Subject string
	Client  string
}

// Entry describes something to record. Zero fields are filled from the
// context and the Log's options.
type Entry struct {
	// Action is required: one of the Action constants or another dotted name.
	Action string
	// Target is what was acted on: a tool name, an agent name, a task ID.
	Target string
	// Outcome is OK (the default), Error or Denied.
	Outcome string
	// Detail is anything JSON-encodable (json.RawMessage passes through):
	// arguments worth keeping, an error message, for a denial the rule that
	// decided it. Do not put secrets or whole payloads here.
	Detail any
	// Principal defaults to Options.Principal(ctx).
	Principal Principal
	// At defaults to Options.Now().
	At time.Time
	// Links override those carried by the context, field by field.
	Links Links
	// Read says the operation changed nothing (a read, a refusal): the
	// middlewares (Middleware, auditgrpc.ServerOptions) then queue its record
	// with Record instead of waiting for it with Append. Not stored.
	Read bool
	// WithWrite asks Middleware to commit the record in the transaction
	// of the request's first store write (Log.Intend), so that a change
	// and its record commit together, and to answer without waiting for
	// the chain once it has; a request that wrote nothing is recorded
	// after it as any other. For requests that change the store. Not
	// stored.
	WithWrite bool
	// Method names the protocol method of a request whose body does not
	// (a REST operation's JSON-RPC twin), for Middleware's record detail.
	// Not stored.
	Method string
}

// Options tune a Log.
type Options struct {
	Logger *slog.Logger
	// Now reads the clock for records' times. Default time.Now.
	Now func() time.Time
	// Timeout bounds one store transaction: one append, or one batch of
	// them. Default 2s. A grouped Append waits for the batch in flight and
	// then its own, so for at most about twice this (longer only behind a
	// backlog of more than one batch, 256 records).
	Timeout time.Duration
	// ReadWindow is how long Run lets records of reads (Record) gather
	// before it commits them, when no caller waits (Append, Flush) and
	// fewer than a batch are queued: one commit then carries many reads.
	// It bounds how much a read's record may lag, and so what a process
	// that dies loses. Default 10ms; negative: commit at once.
	ReadWindow time.Duration
	// WriteWindow is how long Run lets records that callers wait for
	// (Append: writes, and calls that may change things elsewhere, such as
	// relayed A2A calls) gather before it commits them, and only while
	// commits run back to back: when the last batch ended less than this
	// ago. Under load a commit then carries several callers' records
	// instead of one or two, which on SQLite saves most of each record's
	// cost (the commit's WAL write); a caller still has its record
	// committed before it is answered, up to this much later. An idle log
	// commits a lone record at once. Default DefaultWriteWindow; negative:
	// commit at once.
	WriteWindow time.Duration
	// Principal tells who the caller in ctx is (from the auth middleware's
	// context), for entries that do not say. Default: nobody (empty).
	Principal func(ctx context.Context) Principal
	// PageSize is how many records Verify reads at a time. Default 500.
	PageSize int
}

// Log appends to, lists and verifies the audit log in a store.
type Log struct {
	st store.Audit
	// outbox is st's outbox, nil if it has none: then Intend does nothing.
	outbox store.AuditOutbox
	opts   Options
	log    *slog.Logger
	q      queue

	metrics *auditMetrics // nil until SetMetrics (metrics.go): nothing counted
}

// New returns a Log over st.
func New(st store.Audit, opts Options) *Log {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 500
	}
	switch {
	case opts.ReadWindow == 0:
		opts.ReadWindow = DefaultReadWindow
	case opts.ReadWindow < 0:
		opts.ReadWindow = 0
	}
	switch {
	case opts.WriteWindow == 0:
		opts.WriteWindow = DefaultWriteWindow
	case opts.WriteWindow < 0:
		opts.WriteWindow = 0
	}
	l := &Log{st: st, opts: opts, log: opts.Logger}
	l.outbox, _ = st.(store.AuditOutbox)
	l.q.init()
	return l
}

// Append records e and returns the stored record once it is committed;
// pass it to WithRecord to link what follows from it. See the package
// comment for how long it may take. A failure is logged and returned.
// Use it for records of writes: an acknowledged write must not go without
// its record.
func (l *Log) Append(ctx context.Context, e Entry) (Record, error) {
	if l == nil {
		return Record{}, nil
	}
	r := l.record(ctx, e)
	p := l.q.put(r, true)
	if p == nil {
		return l.appendNow(ctx, r)
	}
	<-p.done
	if p.err != nil {
		l.logFailure(ctx, r, p.err)
		return Record{}, p.err
	}
	return p.out, nil
}

// Record records e without waiting for it to be committed: use it for
// records of reads and of refusals, which changed nothing. While Run
// runs, the record is committed with the next batch: at the latest once
// it has waited Options.ReadWindow (10ms by default), sooner if a write's
// record or a full batch (256 records) comes along, then within the batch
// in flight and its own transaction (each bounded by Options.Timeout, 2s
// by default; typically well under a millisecond each on a local SQLite
// file), or more behind a backlog of more than one batch. That is the
// window in which a process that dies loses it; a stopped Run commits it
// first. Without Run, Record appends at once, as Append does. A
// failure is logged. If the appender is far behind (maxQueued records
// waiting), Record waits like Append, so that a flood of reads cannot
// queue without bound.
func (l *Log) Record(ctx context.Context, e Entry) {
	if l == nil {
		return
	}
	r := l.record(ctx, e)
	p := l.q.put(r, false)
	if p == nil {
		_, _ = l.appendNow(ctx, r)
		return
	}
	if p.done != nil {
		<-p.done
		if p.err != nil {
			l.logFailure(ctx, r, p.err)
		}
	}
}

// appendAs records e with Record if it is a read, else with Append.
func (l *Log) appendAs(ctx context.Context, e Entry) {
	if e.Read {
		l.Record(ctx, e)
		return
	}
	_, _ = l.Append(ctx, e)
}

// appendNow appends r in a transaction of its own.
func (l *Log) appendNow(ctx context.Context, r Record) (Record, error) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.opts.Timeout)
	defer cancel()
	out, err := l.st.AppendAudit(actx, r)
	if err != nil {
		l.logFailure(ctx, r, err)
		return Record{}, err
	}
	return out, nil
}

func (l *Log) logFailure(ctx context.Context, r Record, err error) {
	l.log.ErrorContext(ctx, "audit record not written", "action", r.Action, "target", r.Target,
		"subject", r.Subject, "outcome", r.Outcome, "error", err)
}

// record builds the store record for e: defaults, links and clean text.
func (l *Log) record(ctx context.Context, e Entry) Record {
	p := e.Principal
	if p == (Principal{}) && l.opts.Principal != nil {
		p = l.opts.Principal(ctx)
	}
	at := e.At
	if at.IsZero() {
		at = l.opts.Now()
	}
	outcome := e.Outcome
	if outcome == "" {
		outcome = OK
	}
	links := LinksFrom(ctx).merge(e.Links)
	action := cleanText(e.Action)
	if action == "" {
		action = "unknown"
	}
	return Record{
		At:            at,
		Subject:       cleanText(p.Subject),
		Client:        cleanText(p.Client),
		Action:        action,
		Target:        cleanText(e.Target),
		TicketID:      cleanText(links.TicketID),
		Outcome:       cleanText(outcome),
		Detail:        encodeDetail(e.Detail),
		Parent:        links.Parent,
		RequestID:     cleanText(links.RequestID),
		TaskID:        cleanText(links.TaskID),
		NegotiationID: cleanText(links.NegotiationID),
	}
}

// cleanText makes s storable on every backend: valid UTF-8 without NUL
// bytes, at most MaxTextBytes.
func cleanText(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	if len(s) <= MaxTextBytes {
		return s
	}
	const ellipsis = "…"
	cut := MaxTextBytes - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// encodeDetail turns an entry's detail into compact JSON that every
// backend stores as it is, or nil for none.
func encodeDetail(v any) json.RawMessage {
	switch d := v.(type) {
	case nil:
		return nil
	case json.RawMessage:
		if len(bytes.TrimSpace(d)) == 0 {
			return nil
		}
	case []byte:
		if len(bytes.TrimSpace(d)) == 0 {
			return nil
		}
		// Bytes given as such are a document, not a base64 string.
		v = json.RawMessage(d)
	}
	b, err := json.Marshal(v)
	if err != nil {
		var syntax *json.SyntaxError
		msg := err.Error()
		if errors.As(err, &syntax) {
			msg = "the detail is not valid JSON: " + syntax.Error()
		}
		b, _ = json.Marshal(map[string]string{"detail_error": cleanText(msg)})
	}
	if string(b) == "null" {
		return nil
	}
	if !utf8.Valid(b) {
		// Only possible inside strings of a raw document; the
		// replacement keeps it valid JSON.
		b = bytes.ToValidUTF8(b, []byte("\uFFFD"))
	}
	if len(b) > MaxDetailBytes {
		b, _ = json.Marshal(map[string]any{"truncated": true, "bytes": len(b)})
	}
	return b
}

// List returns the records matching f, and whether more follow. Records
// this Log queued before the call are committed first, so that the
// listing shows them.
func (l *Log) List(ctx context.Context, f Filter) ([]Record, bool, error) {
	if l == nil {
		return nil, false, nil
	}
	if err := l.Flush(ctx); err != nil {
		return nil, false, err
	}
	return l.st.ListAudit(ctx, f)
}

// Verify walks the whole chain, after committing what this Log queued
// before the call; see the package function Verify.
func (l *Log) Verify(ctx context.Context) (Result, error) {
	if l == nil {
		return Result{OK: true}, nil
	}
	if err := l.Flush(ctx); err != nil {
		return Result{}, err
	}
	return Verify(ctx, l.st, l.opts.PageSize)
}
