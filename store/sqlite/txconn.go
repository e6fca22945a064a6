package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync"

	"modernc.org/sqlite"
)

// The writer's connection begins, commits and rolls back its transactions
// with statements prepared once per connection. modernc's driver sends
// "begin immediate", "commit" and "rollback" as SQL text, which SQLite
// parses again for every transaction: on a small write (opening an MCP
// session, say) that parse is a fifth of the transaction's CPU. The
// statements, the lock they take and what SQLite does at commit are the
// same; only the parse is gone.

// sqliteConn is what modernc's connection implements and database/sql
// looks for; txConn passes all of it through but BeginTx.
type sqliteConn interface {
	driver.Conn
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.ConnBeginTx
	driver.SessionResetter
	driver.Validator
	driver.Pinger
}

// txConnector opens modernc's connections as txConns.
type txConnector struct{ inner driver.Connector }

// newTxConnector is modernc's connector for dsn, whose connections begin
// their transactions with "BEGIN IMMEDIATE" (the writer's _txlock) from a
// prepared statement.
func newTxConnector(dsn string) (driver.Connector, error) {
	inner, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return txConnector{inner}, nil
}

func (c txConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := conn.(sqliteConn)
	if !ok {
		return conn, nil // a driver unlike the one this was written for: its own path
	}
	return &txConn{sqliteConn: sc}, nil
}

func (c txConnector) Driver() driver.Driver { return c.inner.Driver() }

// txConn is one of the writer's connections. database/sql uses a
// connection from one goroutine at a time, but Close may come from the
// pool's cleaner: mu guards the statements.
type txConn struct {
	sqliteConn
	mu                      sync.Mutex
	begin, commit, rollback driver.Stmt
	closed                  bool
}

// stmt prepares query once and keeps it in *slot.
func (c *txConn) stmt(ctx context.Context, slot *driver.Stmt, query string) (driver.StmtExecContext, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, driver.ErrBadConn // database/sql discards the connection
	}
	if *slot == nil {
		st, err := c.sqliteConn.PrepareContext(ctx, query)
		if err != nil {
			return nil, err
		}
		*slot = st
	}
	st, ok := (*slot).(driver.StmtExecContext)
	if !ok {
		return nil, errors.New("sqlite: a prepared statement cannot be run with a context")
	}
	return st, nil
}

func (c *txConn) exec(ctx context.Context, slot *driver.Stmt, query string) error {
	st, err := c.stmt(ctx, slot, query)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, nil)
	return err
}

// BeginTx begins a write transaction (BEGIN IMMEDIATE, as the writer's
// _txlock=immediate asks of modernc's own BeginTx). A read-only
// transaction or an isolation level goes to modernc's BeginTx.
func (c *txConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if opts.ReadOnly || opts.Isolation != driver.IsolationLevel(0) {
		return c.sqliteConn.BeginTx(ctx, opts)
	}
	if err := c.exec(ctx, &c.begin, "BEGIN IMMEDIATE"); err != nil {
		return nil, err
	}
	return txEnd{c}, nil
}

// txEnd ends the transaction BeginTx began.
type txEnd struct{ c *txConn }

// Commit commits. If the commit fails (a full disk), SQLite may have left
// the transaction open; database/sql expects a connection with none after
// Commit, so it is rolled back, as modernc's own Commit does.
func (t txEnd) Commit() error {
	err := t.c.exec(context.Background(), &t.c.commit, "COMMIT")
	if err != nil {
		_ = t.c.exec(context.Background(), &t.c.rollback, "ROLLBACK") // fails harmlessly with no transaction open
	}
	return err
}

func (t txEnd) Rollback() error {
	return t.c.exec(context.Background(), &t.c.rollback, "ROLLBACK")
}

// Close finalizes the prepared statements, then closes the connection.
func (c *txConn) Close() error {
	c.mu.Lock()
	c.closed = true
	var errs []error
	for _, st := range []driver.Stmt{c.begin, c.commit, c.rollback} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	c.begin, c.commit, c.rollback = nil, nil, nil
	c.mu.Unlock()
	return errors.Join(append(errs, c.sqliteConn.Close())...)
}
