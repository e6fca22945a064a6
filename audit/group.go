package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Group commit. Every record costs a write transaction if appended alone,
// and on SQLite write transactions are serialized: with many callers most
// of an append's time is spent waiting for the others' commits. Run's
// goroutine instead commits everything that queued while the previous
// batch was committing, in one transaction.
const (
	// maxBatch bounds one transaction, so that a backlog is committed in
	// steps and no batch holds the chain head (and, on SQLite, the
	// database's write lock) for long.
	maxBatch = 256
	// maxQueued is how many records may wait before Record waits for its
	// commit as Append does.
	maxQueued = 4096
)

// DefaultReadWindow is Options.ReadWindow's default: reads' records gather
// for up to this long, so that under load one commit carries many of them
// (a commit costs far more than a record on SQLite).
const DefaultReadWindow = 10 * time.Millisecond

// DefaultWriteWindow is Options.WriteWindow's default: records that
// callers wait for gather for up to this long while commits run back to
// back. Measured with bench/a2arelay (docs/benchmarks.md), 2ms halves the
// audit log's CPU per relayed A2A call on SQLite (about 170 µs to 90 µs);
// the calls' latency there is 10-20 ms at the median.
const DefaultWriteWindow = 2 * time.Millisecond

// pending is one queued record.
type pending struct {
	r Record
	// queuedAt is when it was queued: a read's record waits at most the
	// read window from then.
	queuedAt time.Time
	// done, if not nil, is closed once the record is committed (out) or
	// its batch failed (err); someone waits on it.
	done chan struct{}
	out  Record
	err  error
}

// queue holds the records waiting for Run's goroutine.
type queue struct {
	mu      sync.Mutex
	running bool
	items   []*pending
	// wake holds a token when items may have been queued since Run last
	// looked.
	wake chan struct{}
	// queued and settled count the records ever queued and those whose
	// batch has ended (committed or failed); settledCh is closed and
	// replaced whenever settled grows. Flush waits on them.
	queued, settled uint64
	settledCh       chan struct{}
	// waiting counts the queued records someone waits for, and flushing
	// the Flush calls in progress: either makes the next batch go at once.
	waiting, flushing int
	// outboxWanted counts the times a record of this Log's was committed
	// to the store's outbox (and Run started: it drains what a crash
	// left); outboxDone is the count the last batch that emptied the
	// outbox (or gave up on it) had seen when it began. outboxSince is
	// when outboxWanted first passed outboxDone: such records wait the
	// read window, as reads' do, since nobody waits for them.
	outboxWanted, outboxDone uint64
	outboxSince              time.Time
	// lastEnd is when the last batch ended (zero before the first): a
	// batch ended less than the write window ago means commits run back
	// to back, and waited records gather too.
	lastEnd time.Time
}

func (q *queue) init() {
	q.wake = make(chan struct{}, 1)
	q.settledCh = make(chan struct{})
}

// put queues r if Run is running, and returns nil if not. The record is
// waited for (done is set) if wait, or if too many are queued already.
func (q *queue) put(r Record, wait bool) *pending {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.running {
		return nil
	}
	p := &pending{r: r, queuedAt: time.Now()}
	if wait || len(q.items) >= maxQueued {
		p.done = make(chan struct{})
		q.waiting++
	}
	q.items = append(q.items, p)
	q.queued++
	q.poke()
	return p
}

// take removes up to maxBatch records from the front of the queue, and
// returns with them the outbox count the batch serves (see outboxWanted),
// 0 if the outbox need not be looked at.
func (q *queue) take() ([]*pending, uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var outbox uint64
	if q.outboxWanted > q.outboxDone {
		outbox = q.outboxWanted
	}
	n := min(len(q.items), maxBatch)
	if n == 0 {
		return nil, outbox
	}
	batch := slices.Clone(q.items[:n])
	for _, p := range batch {
		if p.done != nil {
			q.waiting--
		}
	}
	rest := copy(q.items, q.items[n:])
	clear(q.items[rest:]) // let the settled records go
	q.items = q.items[:rest]
	return batch, outbox
}

// due says how long the next batch may still gather: 0 when it should be
// committed now (a Flush is on, it is full, someone waits for a record in
// it and commits do not run back to back, or its oldest record has waited
// its window: the write window if someone waits, else the read window),
// and -1 when nothing is queued.
func (q *queue) due(window, writeWindow time.Duration) time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	outbox := q.outboxWanted > q.outboxDone
	if len(q.items) == 0 && !outbox {
		return -1
	}
	if q.flushing > 0 || len(q.items) >= maxBatch {
		return 0
	}
	if q.waiting > 0 {
		// Callers wait: at once, unless commits run back to back; then
		// for up to the write window from the oldest record queued.
		if q.lastEnd.IsZero() || time.Since(q.lastEnd) >= writeWindow {
			return 0
		}
		return max(0, writeWindow-time.Since(q.items[0].queuedAt))
	}
	oldest := q.outboxSince
	if len(q.items) > 0 && (!outbox || q.items[0].queuedAt.Before(oldest)) {
		oldest = q.items[0].queuedAt
	}
	return max(0, window-time.Since(oldest))
}

// poke wakes Run to look at the queue again.
func (q *queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// settle counts n records settled and, if outbox is not 0, the outbox
// served up to that count.
func (q *queue) settle(n int, outbox uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.settled += uint64(n)
	q.lastEnd = time.Now()
	if outbox > q.outboxDone {
		q.outboxDone = outbox
		q.outboxSince = time.Time{}
		if q.outboxWanted > q.outboxDone {
			// Committed while the batch was in flight.
			q.outboxSince = time.Now()
		}
	}
	close(q.settledCh)
	q.settledCh = make(chan struct{})
}

// Run commits the appends queued by Append and Record, in batches, until
// ctx ends; then it stops queueing (later appends are committed one by
// one, each in its own transaction), commits what is still queued, and
// returns nil. Run it once, beside the servers whose calls it records,
// and stop it after them. It fails only if it is already running.
func (l *Log) Run(ctx context.Context) error {
	if l == nil {
		return nil
	}
	q := &l.q
	q.mu.Lock()
	if q.running {
		q.mu.Unlock()
		return errors.New("audit: the log's appender is already running")
	}
	q.running = true
	if l.outbox != nil {
		// Records a crash left in the outbox are chained first.
		q.outboxWanted++
		q.outboxSince = time.Time{}
	}
	q.mu.Unlock()
	gather := time.NewTimer(0)
	defer gather.Stop()
	<-gather.C
	for {
		if ctx.Err() != nil {
			q.mu.Lock()
			q.running = false
			q.mu.Unlock()
			for l.commitQueued(ctx) {
			}
			return nil
		}
		switch wait := q.due(l.opts.ReadWindow, l.opts.WriteWindow); {
		case wait == 0:
			l.commitQueued(ctx)
		case wait < 0:
			select {
			case <-ctx.Done():
			case <-q.wake:
			}
		default:
			// Only reads' records are queued: let more gather, unless a
			// write's record, a Flush or a full batch comes first.
			gather.Reset(wait)
			select {
			case <-ctx.Done():
			case <-q.wake:
			case <-gather.C:
			}
			gather.Stop()
		}
	}
}

// commitQueued commits one batch of what is queued, with the records of
// writes waiting in the outbox when this Log committed some there, and
// reports whether there was any.
func (l *Log) commitQueued(ctx context.Context) bool {
	batch, outbox := l.q.take()
	if len(batch) == 0 && outbox == 0 {
		return false
	}
	rs := make([]Record, len(batch))
	for i, p := range batch {
		rs[i] = p.r
	}
	// Like a lone append, a batch is not cancelled with Run: stopping
	// commits what is queued.
	var out []Record
	var err error
	var outboxServed uint64
	chained := false
	if limit := maxBatch - len(rs); outbox != 0 && limit > 0 {
		var moved int
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.opts.Timeout)
		out, moved, err = l.outbox.ChainAuditOutbox(bctx, rs, limit)
		cancel()
		switch {
		case err != nil:
			// The records stay in the outbox, committed with their
			// writes, for the next batch that looks (after a later
			// write's, or Run's next start); the queued records are
			// retried alone, so as not to share whatever is wrong.
			l.log.ErrorContext(ctx, "audit records of committed writes not chained; they wait in the store's outbox", "error", err)
			outboxServed = outbox
		case moved < limit:
			chained, outboxServed = true, outbox
		default:
			chained = true // more wait: the next batch goes at once
		}
	}
	if !chained && len(rs) > 0 {
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.opts.Timeout)
		out, err = l.st.AppendAuditBatch(bctx, rs)
		cancel()
	}
	if err == nil && len(out) != len(rs) {
		err = fmt.Errorf("the store returned %d audit records for %d appended", len(out), len(rs))
	}
	for i, p := range batch {
		if err != nil {
			p.err = err
		} else {
			p.out = out[i]
		}
		if p.done != nil {
			close(p.done) // the waiting caller logs a failure
		} else if err != nil {
			l.logFailure(ctx, p.r, err)
		}
	}
	l.metrics.batchCommitted(len(rs), err)
	l.q.settle(len(batch), outboxServed)
	return true
}

// Flush waits until every record queued before it was called is committed
// (or its batch failed: Append and the log say so), and every record of
// this Log's committed to the store's outbox before it was called is
// chained (or the attempt failed: the log says so, and Flush returns the
// error when it made the attempt itself, Run not running), or ctx ends.
func (l *Log) Flush(ctx context.Context) error {
	if l == nil {
		return nil
	}
	q := &l.q
	q.mu.Lock()
	target, outboxTarget := q.queued, q.outboxWanted
	q.flushing++
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		q.flushing--
		q.mu.Unlock()
	}()
	q.poke() // what is queued goes now, without waiting out the read window
	for {
		q.mu.Lock()
		queuedDone, outboxDone := q.settled >= target, q.outboxDone >= outboxTarget
		running, ch := q.running, q.settledCh
		q.mu.Unlock()
		switch {
		case queuedDone && outboxDone:
			return nil
		case !outboxDone && !running:
			// Nobody else will move them.
			if err := l.drainOutbox(ctx); err != nil {
				return err
			}
			q.settle(0, outboxTarget)
			continue
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
