package audit

import (
	"context"
	"time"

	"github.com/parleyhq/parley/store"
)

// Records committed with writes. A call that may change the store is
// recorded in the transaction of its first write (store.AuditIntent): the
// record waits, unchained, in the store's outbox, and Run moves it into
// the chain with its next batch. So a change and its record commit
// together or not at all, whenever the process dies; and the call need not
// wait for the chain once its write has committed.

// An Intent is the record of a call, to be committed with the call's
// first store write; see Log.Intend.
type Intent struct {
	in *store.AuditIntent
}

// Intend returns a context whose first store write that changes something
// commits the record build returns with it, in the store's audit outbox
// (see store.AuditIntent), and the Intent, which the caller closes once
// the call has ended. build runs when the write claims the record (inside
// its transaction: keep it quick), so that the record says what was known
// then; the Log fills in the rest as Append does, from the returned
// context (the principal, the links), at the time of the write. Run, once
// told, moves the record into the chain; until it does the record is not
// in the chain, and Flush, List and Verify of this Log wait for it.
//
// Without an outbox in the store (a store.Audit that is not a
// store.AuditOutbox), Intend returns ctx and a nil Intent, whose Close
// reports false: the caller records the call as before.
func (l *Log) Intend(ctx context.Context, build func() Entry) (context.Context, *Intent) {
	if l == nil || l.outbox == nil {
		return ctx, nil
	}
	var ictx context.Context
	in := store.NewAuditIntent(func() store.AuditRecord { return l.record(ictx, build()) }, l.q.outboxCommitted)
	ictx = store.WithAuditIntent(ctx, in)
	return ictx, &Intent{in: in}
}

// Close ends i: writes after it do not take its record. It reports
// whether a write committed the record (it waits for a write in
// progress that holds it). If it reports false, the call made no write
// that carried its record, and the caller records the call itself
// (Append). A nil Intent reports false.
func (i *Intent) Close() (committed bool) {
	if i == nil {
		return false
	}
	return i.in.Close()
}

// outboxCommitted tells Run that a record of this Log's was committed to
// the outbox: the next batch moves it into the chain.
func (q *queue) outboxCommitted() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.outboxWanted++
	if q.outboxSince.IsZero() {
		q.outboxSince = time.Now()
	}
	q.poke()
}

// drainOutbox moves into the chain every record in the outbox, in
// transactions of up to maxBatch records, for a Flush while Run does not
// run.
func (l *Log) drainOutbox(ctx context.Context) error {
	for {
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.opts.Timeout)
		_, moved, err := l.outbox.ChainAuditOutbox(bctx, nil, maxBatch)
		cancel()
		if err != nil {
			l.log.ErrorContext(ctx, "audit records of committed writes not chained; they wait in the store's outbox", "error", err)
			return err
		}
		if moved < maxBatch {
			return nil
		}
	}
}

// Pending counts the records of committed writes waiting in the store's
// outbox to be moved into the chain (0 for a store without an outbox).
func (l *Log) Pending(ctx context.Context) (int64, error) {
	if l == nil || l.outbox == nil {
		return 0, nil
	}
	return l.outbox.AuditOutboxLen(ctx)
}
