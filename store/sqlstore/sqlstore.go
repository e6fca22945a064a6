// Package sqlstore implements store.Store over database/sql once, for every
// SQL backend. A backend (store/sqlite, store/postgres) supplies the
// connections, its schema and a Dialect for the few places where SQL differs,
// and wakes the change feed when another process commits.
//
// The feed's retention is the one place the store reads a clock (Options.Now):
// each change is stamped with when the store committed it, and the sweeper
// deletes changes committed longer ago than the retention. The time a caller
// stamps a change with (store.Change.At) is data for consumers and never
// decides when the change is swept.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parleyhq/parley/store"
)

// Dialect is what differs between SQL backends.
type Dialect struct {
	Name string
	// Numbered placeholders ($1, $2, …) instead of ?.
	Numbered bool
	// SkipLocked is appended to the claim query's row selection, so that
	// concurrent claimers pass over rows another transaction is claiming.
	SkipLocked string
	// EmitChange appends to the change feed, with ? for kind, key,
	// version, the caller's time and the store's commit time. The backend
	// must make sequence numbers become visible in increasing order (a
	// reader that has seen seq N must never later find a smaller one
	// committed) and wake its other replicas. Empty means a plain insert,
	// right where writers are already serialized.
	EmitChange string
	// Classify turns a driver error into one wrapping a store error where it
	// can (store.ErrUnavailable, store.ErrCorrupt).
	Classify func(error) error
	// Listen, if set, runs for as long as DB.Run does and calls DB.Wake
	// whenever another process may have committed to the feed (a
	// PostgreSQL notification, say). It returns once ctx ends.
	Listen func(ctx context.Context)
	// CachesStatements says the driver keeps each connection's statements
	// prepared by their SQL text itself (pgx does by default): the store
	// then sends SQL text. Otherwise the store prepares its hot queries
	// once and keeps them (modernc's SQLite, say, caches a compiled
	// statement only in a prepared statement, and would parse and plan
	// SQL text on every call).
	CachesStatements bool
	// GroupCommit runs write transactions that wait at the same time as
	// one database transaction, each in a savepoint, committed once
	// (group.go). For a backend whose writes are serialized anyway, with a
	// commit that costs more than its statements (SQLite).
	GroupCommit bool
	// AuditInsert begins the audit log's multi-row INSERT; empty means
	// INSERT. SQLite keeps a statement journal for a statement that may
	// fail on a constraint after it changed rows (a copy of every page it
	// changes, to undo them), unless the statement says to end the whole
	// transaction on one: "INSERT OR ROLLBACK". An append's only
	// constraint is seq's key, which the chain head makes unique; if it
	// ever failed, nothing of the transaction would be kept either way.
	AuditInsert string
}

// Options tune a DB.
type Options struct {
	Logger *slog.Logger
	// PollInterval is how often the feed checks for changes committed by
	// other processes, as a fallback to backend wake-ups. Default 500ms.
	PollInterval time.Duration
	// Retention is how long the change feed keeps a change after the store
	// committed it. Default 24h.
	Retention time.Duration
	// Now is the store's clock: it stamps each change with when the store
	// committed it, and tells the sweeper which changes are past the
	// retention. Default time.Now.
	Now func() time.Time
}

// sweepEvery is how often Run sweeps the change feed.
const sweepEvery = time.Hour

// DB is a store.Store over SQL connections.
type DB struct {
	writer, reader *sql.DB
	dialect        Dialect
	log            *slog.Logger
	now            func() time.Time
	retention      time.Duration
	pollInterval   time.Duration

	wake waker
	// group queues write transactions for a group commit (group.go).
	group txGroup
	// feedReads shares reads of the feed among subscribers (feed.go).
	feedReads sharedReads
	// closing ends when Close is called; it stops Run and subscriptions.
	closing context.Context
	stop    context.CancelFunc
	closed  <-chan struct{}
	// mu guards isClosed and running, and orders wg.Add before Close's
	// wg.Wait: nothing is started once Close has begun.
	mu       sync.Mutex
	isClosed bool
	running  bool
	wg       sync.WaitGroup

	rebindMu    sync.RWMutex
	rebindCache map[string]string

	// stmts holds the prepared hot queries (see prepared); nil once
	// Close has begun.
	stmtMu sync.Mutex
	stmts  map[stmtKey]*sql.Stmt // nil values: preparing failed
	wanted []stmtKey             // asked for in a transaction, not prepared yet

	metrics *storeMetrics // nil until SetMetrics (metrics.go): nothing counted
}

// stmtKey names a prepared statement: its pool and its SQL text as
// written, with ? placeholders.
type stmtKey struct {
	pool  *sql.DB
	query string
}

var _ store.Store = (*DB)(nil)

// New returns a DB over writer and reader (which may be the same pool). It
// starts nothing: the owner runs the background work with Run. Close stops
// Run and subscriptions; it does not close the connections, which belong to
// the backend.
func New(writer, reader *sql.DB, d Dialect, opts Options) *DB {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 500 * time.Millisecond
	}
	if opts.Retention <= 0 {
		opts.Retention = 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if d.Classify == nil {
		d.Classify = func(err error) error { return err }
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &DB{
		writer: writer, reader: reader, dialect: d,
		log: opts.Logger, now: opts.Now, retention: opts.Retention, pollInterval: opts.PollInterval,
		wake: newWaker(), closing: ctx, stop: cancel, closed: ctx.Done(),
		rebindCache: map[string]string{},
		stmts:       map[stmtKey]*sql.Stmt{},
	}
}

// Run does the store's background work until ctx ends or the store is
// closed, then returns nil: it polls the feed for changes that other
// processes committed, runs the backend's listener (Dialect.Listen), and
// sweeps the feed every hour, the first time an hour after it starts.
// Without Run, subscribers still get every change this DB commits, but
// learn of other processes' commits late or never, and the feed is never
// swept. Run may be called again once it has returned, but not after Close.
func (db *DB) Run(ctx context.Context) error {
	db.mu.Lock()
	switch {
	case db.isClosed:
		db.mu.Unlock()
		return fmt.Errorf("%s store: run after close: %w", db.dialect.Name, store.ErrUnavailable)
	case db.running:
		db.mu.Unlock()
		return fmt.Errorf("%s store: already running", db.dialect.Name)
	}
	db.running = true
	db.wg.Add(1)
	db.mu.Unlock()
	defer func() {
		db.mu.Lock()
		db.running = false
		db.mu.Unlock()
		db.wg.Done()
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopOnClose := context.AfterFunc(db.closing, cancel)
	defer stopOnClose()
	var wg sync.WaitGroup
	wg.Go(func() { db.pollFeed(ctx, db.pollInterval) })
	wg.Go(func() { db.sweepFeed(ctx, sweepEvery) })
	if db.dialect.Listen != nil {
		wg.Go(func() { db.dialect.Listen(ctx) })
	}
	wg.Wait()
	return nil
}

// track counts a goroutine that Close must wait for, unless Close has
// begun; then it reports false and the goroutine must not start.
func (db *DB) track() bool {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.isClosed {
		return false
	}
	db.wg.Add(1)
	return true
}

// Wake tells feed subscribers that changes may have been committed.
func (db *DB) Wake() { db.wake.wake() }

// Close stops Run and every subscription, and waits for them.
func (db *DB) Close() error {
	db.mu.Lock()
	db.isClosed = true
	db.mu.Unlock()
	db.stop()
	db.wg.Wait()
	db.stmtMu.Lock()
	stmts := db.stmts
	db.stmts, db.wanted = nil, nil
	db.stmtMu.Unlock()
	for _, st := range stmts {
		if st != nil {
			st.Close()
		}
	}
	return nil
}

// Ping checks that the store answers a query.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.reader.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return db.fail("ping", err)
	}
	return nil
}

// fail wraps a driver error with the operation and the backend's
// classification.
func (db *DB) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	var vc *store.VersionConflictError
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExists) || errors.As(err, &vc) ||
		errors.Is(err, store.ErrNoTask) || errors.Is(err, store.ErrNoNegotiation) || errors.Is(err, store.ErrLeaseLost) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%s store: %s: %w", db.dialect.Name, op, db.dialect.Classify(err))
}

// q rewrites a query written with ? placeholders for the dialect.
func (db *DB) q(query string) string {
	if !db.dialect.Numbered {
		return query
	}
	db.rebindMu.RLock()
	out, ok := db.rebindCache[query]
	db.rebindMu.RUnlock()
	if ok {
		return out
	}
	out = Rebind(query)
	db.rebindMu.Lock()
	db.rebindCache[query] = out
	db.rebindMu.Unlock()
	return out
}

// prepared returns query (written with ? placeholders) prepared on pool,
// prepared once per DB and kept: database/sql prepares it again on each of
// the pool's connections as it first runs there. It returns nil, and the
// caller sends SQL text, when the driver caches statements itself
// (Dialect.CachesStatements), after Close, or when preparing failed (the
// query with text then reports the error). The caller must not hold a
// connection of pool: preparing may need one.
func (db *DB) prepared(ctx context.Context, pool *sql.DB, query string) *sql.Stmt {
	if db.dialect.CachesStatements {
		return nil
	}
	key := stmtKey{pool, query}
	db.stmtMu.Lock()
	st, ok := db.stmts[key]
	closed := db.stmts == nil
	db.stmtMu.Unlock()
	if ok || closed {
		return st
	}
	return db.prepare(ctx, key)
}

// prepare prepares key's query and keeps it (a failure as nil, unless ctx
// ended, so that the query is not prepared again and again).
func (db *DB) prepare(ctx context.Context, key stmtKey) *sql.Stmt {
	st, err := key.pool.PrepareContext(ctx, db.q(key.query))
	if err != nil {
		if ctx.Err() == nil {
			db.log.Warn("preparing a query failed; it runs as text", "dialect", db.dialect.Name, "error", err)
			db.stmtMu.Lock()
			if db.stmts != nil {
				db.stmts[key] = nil
			}
			db.stmtMu.Unlock()
		}
		return nil
	}
	db.stmtMu.Lock()
	defer db.stmtMu.Unlock()
	if db.stmts == nil {
		st.Close()
		return nil
	}
	if other, ok := db.stmts[key]; ok {
		// Prepared meanwhile by another caller.
		st.Close()
		return other
	}
	db.stmts[key] = st
	return st
}

// prepareWanted prepares the writer's statements that transactions asked
// for (txStmt) before they were prepared. inTx calls it with no
// transaction open: the writer may have a single connection.
func (db *DB) prepareWanted(ctx context.Context) {
	db.stmtMu.Lock()
	wanted := db.wanted
	db.wanted = nil
	db.stmtMu.Unlock()
	for _, key := range wanted {
		db.prepare(context.WithoutCancel(ctx), key)
	}
}

// queryRow runs a query expected to return at most one row on pool, with
// its prepared statement where the store keeps one, and lookupCtx.
func (db *DB) queryRow(ctx context.Context, pool *sql.DB, query string, args ...any) *sql.Row {
	ctx = db.lookupCtx(ctx)
	if st := db.prepared(ctx, pool, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return pool.QueryRowContext(ctx, db.q(query), args...)
}

// query runs a query on pool, with its prepared statement where the store
// keeps one.
func (db *DB) query(ctx context.Context, pool *sql.DB, query string, args ...any) (*sql.Rows, error) {
	if st := db.prepared(ctx, pool, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return pool.QueryContext(ctx, db.q(query), args...)
}

// exec runs a statement on pool, with its prepared statement where the
// store keeps one. The caller must not hold a connection of pool.
func (db *DB) exec(ctx context.Context, pool *sql.DB, query string, args ...any) (sql.Result, error) {
	if st := db.prepared(ctx, pool, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return pool.ExecContext(ctx, db.q(query), args...)
}

// txStmt returns query's prepared statement bound to tx (a transaction on
// the writer pool), or nil where the store keeps none: the caller then
// sends SQL text. It never prepares on the pool, which would wait for a
// connection while tx holds one (SQLite's writer has only one): a query not
// yet prepared is prepared by inTx once the transaction is over.
func (db *DB) txStmt(ctx context.Context, tx *sql.Tx, query string) *sql.Stmt {
	ctx = db.writeCtx(ctx)
	if db.dialect.CachesStatements {
		return nil
	}
	key := stmtKey{db.writer, query}
	db.stmtMu.Lock()
	st, ok := db.stmts[key]
	if !ok && db.stmts != nil && !slices.Contains(db.wanted, key) {
		db.wanted = append(db.wanted, key)
	}
	db.stmtMu.Unlock()
	if st == nil {
		return nil
	}
	// Bound to tx's connection, where it is prepared already, or is
	// prepared now.
	return tx.StmtContext(ctx, st)
}

// txExec runs a statement in tx (on the writer pool), prepared where the
// store keeps it so.
func (db *DB) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	ctx = db.writeCtx(ctx)
	if st := db.txStmt(ctx, tx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, db.q(query), args...)
}

// txQueryRow runs a query returning at most one row in tx (on the writer
// pool), prepared where the store keeps it so.
func (db *DB) txQueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	ctx = db.writeCtx(ctx)
	if st := db.txStmt(ctx, tx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, db.q(query), args...)
}

// lookupCtx is the context of a read that looks rows up by key. On SQLite,
// not the caller's cancellation: such a read is over before a cancellation
// could matter, and a context that can be cancelled costs two goroutines
// per query (database/sql's watch of the rows and modernc's of the
// statement).
func (db *DB) lookupCtx(ctx context.Context) context.Context {
	if db.dialect.GroupCommit && ctx.Done() != nil {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// writeCtx is the context a write transaction's statements run with. On a
// backend with group commit (SQLite), not the caller's cancellation: the
// transaction may be a group's, which outlives any one caller (a caller
// that gives up before its turn is skipped, runGroup), and modernc's driver
// starts a goroutine per statement to watch a context that can be
// cancelled, a cost on every write for a statement that cannot be slow
// enough to be worth interrupting behind a single writer.
func (db *DB) writeCtx(ctx context.Context) context.Context {
	if db.dialect.GroupCommit && ctx.Done() != nil {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// Rebind rewrites ? placeholders as $1, $2, ….
func Rebind(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// inTx runs f in a write transaction and wakes local subscribers after a
// commit that appended to the feed. A transaction that changed something
// (f reports it, having emitted on the feed) commits the audit record of
// the call in ctx with it, if ctx carries an AuditIntent not yet
// committed: the record goes into the audit outbox, and if that fails the
// write fails too.
func (db *DB) inTx(ctx context.Context, op string, f func(tx *sql.Tx) (changed bool, err error)) error {
	if m := db.metrics; m != nil {
		defer m.txDone(op, time.Now())
	}
	if db.dialect.GroupCommit {
		return db.groupTx(ctx, op, f)
	}
	return db.runTx(ctx, op, f)
}

// runTx runs f in a write transaction of its own (see inTx).
func (db *DB) runTx(ctx context.Context, op string, f func(tx *sql.Tx) (changed bool, err error)) error {
	// A caller that gave up is not started on (as in runGroup); once
	// started, the transaction runs to its end (writeCtx).
	if err := ctx.Err(); err != nil {
		return db.fail(op, err)
	}
	tx, err := db.writer.BeginTx(db.writeCtx(ctx), nil)
	if err != nil {
		return db.fail(op, err)
	}
	changed, err := f(tx)
	var intent *store.AuditIntent
	if err == nil && changed {
		if in := store.AuditIntentFrom(ctx); in != nil {
			if r, ok := in.Claim(); ok {
				intent = in
				err = db.insertAuditOutbox(ctx, tx, r)
			}
		}
	}
	if err != nil {
		_ = tx.Rollback()
		intent.Settle(false)
		db.prepareWanted(ctx)
		return db.fail(op, err)
	}
	if err := tx.Commit(); err != nil {
		// Perhaps committed after all (a connection lost in the commit):
		// the caller then records the call again, a duplicate rather
		// than a write without a record.
		intent.Settle(false)
		return db.fail(op, err)
	}
	intent.Settle(true)
	db.prepareWanted(ctx)
	if changed {
		db.wake.wake()
	}
	return nil
}

// emit appends a change to the feed inside tx. at is the caller's time,
// passed on to subscribers; the change's retention counts from now on the
// store's clock, whatever at says.
func (db *DB) emit(ctx context.Context, tx *sql.Tx, kind, key string, version int64, at time.Time) error {
	query := db.dialect.EmitChange
	if query == "" {
		query = `INSERT INTO changes (kind, key, version, at, committed_at) VALUES (?, ?, ?, ?, ?)`
	}
	if _, err := db.txExec(ctx, tx, query, kind, key, version, micros(at), micros(db.now())); err != nil {
		return fmt.Errorf("append change: %w", err)
	}
	return nil
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// placeholders returns "?, ?, …" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// waker is a broadcast: every wake releases everyone waiting. It counts
// its wakes, so that a feed read can tell which wakes it came after.
type waker struct {
	mu  sync.Mutex
	ch  chan struct{}
	gen uint64
}

func newWaker() waker { return waker{ch: make(chan struct{})} }

// wait returns the channel the next wake closes, and how many wakes came
// before it.
func (w *waker) wait() (<-chan struct{}, uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ch, w.gen
}

// generation returns how many wakes came so far.
func (w *waker) generation() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gen
}

func (w *waker) wake() {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.ch)
	w.ch = make(chan struct{})
	w.gen++
}

// queryPage runs a listing: query (a SELECT … FROM …) with the conditions
// in where, then order (" ORDER BY … LIMIT ?"). It asks for limit+1 rows
// to learn whether more follow, and returns at most limit of them.
func queryPage[T any](ctx context.Context, db *DB, op, query string, where []string, order string, args []any, limit int,
	scan func(interface{ Scan(...any) error }) (T, error)) ([]T, bool, error) {
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := db.reader.QueryContext(ctx, db.q(query+order), append(args, limit+1)...)
	if err != nil {
		return nil, false, db.fail(op, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, false, db.fail(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, false, db.fail(op, err)
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}
