package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"runtime"
	"sync"

	"github.com/parleyhq/parley/store"
)

// Group commit of write transactions (Dialect.GroupCommit).
//
// SQLite has one writer: write transactions run one after the other
// anyway, and most of a small transaction's cost is its commit, which
// writes every page it changed to the WAL, one write call each. When
// several goroutines want to write at once (16 clients opening sessions,
// the audit appender, the relay's recorder, …), the first one leads: it
// runs the functions of every transaction queued at that moment in one
// database transaction, each inside a savepoint of its own, and commits
// once. Pages the transactions share (a table's last leaf, the feed's)
// are written once per group instead of once per transaction.
//
// Each caller still gets its own outcome: a function that fails is rolled
// back to its savepoint and gets its error, while the others commit. A
// caller's answer is given only once the group's commit is done, so every
// acknowledged write is as durable as before. If the commit fails, every
// transaction of the group fails. A transaction that runs alone takes the
// plain path (runTx): no savepoint.
//
// Leadership is handed on after each group to the first caller still
// queued, so no caller waits for more than the group before its own.

// maxGroup bounds how many transactions share a commit.
const maxGroup = 64

// txOp is one caller's write transaction.
type txOp struct {
	ctx context.Context
	op  string
	f   func(tx *sql.Tx) (bool, error)

	err  error
	done chan struct{} // closed once err is set
	lead chan struct{} // closed when this caller must lead the next group
}

// txGroup queues write transactions for the leader.
type txGroup struct {
	mu      sync.Mutex
	queue   []*txOp
	leading bool
	// observe, if set, is told the size of each group as it runs (set it
	// before the DB is used).
	observe func(size int)
}

// groupTx runs f in a write transaction shared with the others queued
// with it, and returns its own outcome.
func (db *DB) groupTx(ctx context.Context, op string, f func(tx *sql.Tx) (bool, error)) error {
	o := &txOp{ctx: ctx, op: op, f: f, done: make(chan struct{}), lead: make(chan struct{})}
	g := &db.group
	g.mu.Lock()
	g.queue = append(g.queue, o)
	follow := g.leading
	g.leading = true
	g.mu.Unlock()
	if follow {
		select {
		case <-o.done:
			return o.err
		case <-o.lead:
		}
	}
	// Leading: o is at the head of the queue (it was empty when no one
	// led, and leadership goes to the head). Let the goroutines that are
	// ready to run reach their own writes first, so that they join this
	// group rather than wait for the next: it costs nothing when no one
	// else is ready.
	runtime.Gosched()
	g.mu.Lock()
	n := min(len(g.queue), maxGroup)
	batch := g.queue[:n:n]
	g.queue = g.queue[n:]
	g.mu.Unlock()

	db.runGroup(batch)

	g.mu.Lock()
	if len(g.queue) > 0 {
		close(g.queue[0].lead)
	} else {
		g.leading = false
		g.queue = nil
	}
	g.mu.Unlock()
	<-o.done
	return o.err
}

// runGroup runs batch's transactions as one and settles each.
func (db *DB) runGroup(batch []*txOp) {
	if db.group.observe != nil {
		db.group.observe(len(batch))
	}
	if len(batch) == 1 {
		o := batch[0]
		o.err = db.runTx(o.ctx, o.op, o.f)
		close(o.done)
		return
	}
	defer func() {
		for _, o := range batch {
			close(o.done)
		}
	}()
	// Not a caller's context: the transaction outlives any one of them.
	ctx := context.WithoutCancel(batch[0].ctx)
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		for _, o := range batch {
			o.err = db.fail(o.op, err)
		}
		return
	}
	type pending struct {
		o       *txOp
		intent  *store.AuditIntent
		changed bool
	}
	var ok []pending
	broken := false
	for _, o := range batch {
		if broken {
			o.err = db.fail(o.op, errGroupLost)
			continue
		}
		if err := o.ctx.Err(); err != nil {
			o.err = err
			continue
		}
		if _, err := db.txExec(ctx, tx, `SAVEPOINT parley_tx`); err != nil {
			o.err = db.fail(o.op, err)
			broken = true
			continue
		}
		changed, err := o.f(tx)
		var intent *store.AuditIntent
		if err == nil && changed {
			if in := store.AuditIntentFrom(o.ctx); in != nil {
				if r, claimed := in.Claim(); claimed {
					intent = in
					err = db.insertAuditOutbox(o.ctx, tx, r)
				}
			}
		}
		if err != nil {
			intent.Settle(false)
			o.err = db.fail(o.op, err)
			// SQLite ends the whole transaction on some errors (a full
			// disk, an I/O error): then the savepoint is gone, and so is
			// the others' work.
			if _, rerr := db.txExec(ctx, tx, `ROLLBACK TO parley_tx`); rerr != nil {
				broken = true
				continue
			}
		}
		if _, err := db.txExec(ctx, tx, `RELEASE parley_tx`); err != nil {
			broken = true
			if o.err == nil {
				o.err = db.fail(o.op, err)
				intent.Settle(false)
			}
			continue
		}
		if o.err == nil {
			ok = append(ok, pending{o, intent, changed})
		}
	}
	fail := func(err error) {
		for _, p := range ok {
			p.intent.Settle(false)
			p.o.err = db.fail(p.o.op, err)
		}
	}
	if broken {
		_ = tx.Rollback()
		fail(errGroupLost)
		db.prepareWanted(ctx)
		return
	}
	if err := tx.Commit(); err != nil {
		// As in runTx: perhaps committed after all; the callers then
		// record their calls again rather than lose a record.
		fail(err)
		return
	}
	changed := false
	for _, p := range ok {
		p.intent.Settle(true)
		changed = changed || p.changed
	}
	db.prepareWanted(ctx)
	if changed {
		db.wake.wake()
	}
}

// errGroupLost fails the transactions of a group whose database
// transaction ended under them.
var errGroupLost = errors.New("the transaction was lost to another one's error; nothing was written: retry")
