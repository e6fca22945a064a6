package store

import (
	"context"
	"sync"
)

// The audit outbox. A call that may write is recorded in the transaction
// of its write, so that an acknowledged change and its audit record commit
// together or not at all: the record goes, unchained, into an outbox in
// the store, and an appender (package audit's Log.Run) later moves it into
// the chain. Chaining in the write's transaction instead would make every
// write wait for the chain head, which all of them share.
//
// The caller announces the record before the write with an AuditIntent in
// the context (WithAuditIntent); the store's write transaction that
// changes something (one that emits on the Feed) takes it (Claim) and
// inserts the record before it commits. Code between the two, a domain
// package calling the store, knows nothing of it.

// AuditOutbox is the store's side of the audit outbox: moving what writes
// left there into the chain. Store implementations insert into the outbox
// themselves, from the AuditIntent in a write's context.
type AuditOutbox interface {
	// ChainAuditOutbox adds to the end of the chain, in one transaction:
	// first up to limit records waiting in the outbox, oldest first, then
	// rs, as AppendAuditBatch would; and it deletes from the outbox the
	// records it chained. It returns rs as stored and how many outbox
	// records it moved (fewer than limit: the outbox was emptied of every
	// record committed before the transaction began). Replicas may call it
	// at once: the chain head's lock, taken before the outbox is read,
	// keeps two from chaining one record. limit <= 0 moves none.
	ChainAuditOutbox(ctx context.Context, rs []AuditRecord, limit int) (out []AuditRecord, moved int, err error)
	// AuditOutboxLen counts the records waiting in the outbox: records of
	// committed writes not yet in the chain.
	AuditOutboxLen(ctx context.Context) (int64, error)
}

// An AuditIntent is the audit record of a call, to be committed with the
// first store write the call makes (see AuditOutbox). It is claimed at
// most once by a transaction that commits; a claim whose transaction
// rolls back leaves it for the next write. Concurrent writes of one call
// do not wait for each other: while one holds the claim, the others
// commit without the record.
type AuditIntent struct {
	record    func() AuditRecord
	committed func()

	mu sync.Mutex
	// state: intentOpen, then intentClaimed while a transaction holds it,
	// then intentCommitted, or back to intentOpen on a rollback;
	// intentClosed once the caller closed it unclaimed.
	state intentState
	// settled is closed when a claim in flight settles.
	settled chan struct{}
}

type intentState int

const (
	intentOpen intentState = iota
	intentClaimed
	intentCommitted
	intentClosed
)

// NewAuditIntent returns an intent whose record is record(), built when a
// write claims it (so that it says what is known then), and which calls
// committed, if not nil, once the record has been committed with a write.
func NewAuditIntent(record func() AuditRecord, committed func()) *AuditIntent {
	return &AuditIntent{record: record, committed: committed}
}

type auditIntentKey struct{}

// WithAuditIntent returns ctx carrying in: the next write through ctx
// that changes something commits in's record with it.
func WithAuditIntent(ctx context.Context, in *AuditIntent) context.Context {
	return context.WithValue(ctx, auditIntentKey{}, in)
}

// AuditIntentFrom returns the intent ctx carries, or nil.
func AuditIntentFrom(ctx context.Context) *AuditIntent {
	in, _ := ctx.Value(auditIntentKey{}).(*AuditIntent)
	return in
}

// Claim is for stores: a write transaction that changed something calls
// it before committing, and if ok inserts r into the outbox in that
// transaction, and calls Settle once the transaction has ended.
func (in *AuditIntent) Claim() (r AuditRecord, ok bool) {
	if in == nil {
		return AuditRecord{}, false
	}
	in.mu.Lock()
	if in.state != intentOpen {
		in.mu.Unlock()
		return AuditRecord{}, false
	}
	in.state, in.settled = intentClaimed, make(chan struct{})
	in.mu.Unlock()
	return in.record(), true
}

// Settle is for stores: it ends a successful Claim, saying whether the
// transaction committed. A nil intent is ignored.
func (in *AuditIntent) Settle(committed bool) {
	if in == nil {
		return
	}
	in.mu.Lock()
	if committed {
		in.state = intentCommitted
	} else {
		in.state = intentOpen
	}
	close(in.settled)
	in.mu.Unlock()
	if committed && in.committed != nil {
		in.committed()
	}
}

// Close ends the intent: no write claims it after. It waits for a claim
// in flight to settle, and reports whether the record was committed with
// a write. A nil intent reports false.
func (in *AuditIntent) Close() (committed bool) {
	if in == nil {
		return false
	}
	for {
		in.mu.Lock()
		switch in.state {
		case intentOpen:
			in.state = intentClosed
			in.mu.Unlock()
			return false
		case intentClaimed:
			settled := in.settled
			in.mu.Unlock()
			<-settled
			continue
		}
		committed := in.state == intentCommitted
		in.mu.Unlock()
		return committed
	}
}
