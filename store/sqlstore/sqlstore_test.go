package sqlstore_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"modernc.org/sqlite"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlstore"
)

// countingConnector opens modernc SQLite connections that count the
// statements they prepare. Its connections offer database/sql only
// Prepare and BeginTx, so every query sent as SQL text is prepared on
// the spot and counted too.
type countingConnector struct {
	dsn      string
	prepares *atomic.Int64
}

func (c countingConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := (&sqlite.Driver{}).Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return countingConn{conn: conn, prepares: c.prepares}, nil
}

func (c countingConnector) Driver() driver.Driver { return &sqlite.Driver{} }

type countingConn struct {
	conn     driver.Conn
	prepares *atomic.Int64
}

func (c countingConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c countingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	c.prepares.Add(1)
	return c.conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
}

func (c countingConn) Close() error { return c.conn.Close() }

func (c countingConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

// TestHotQueriesArePreparedOnce: reading a ticket and writing stream
// events over and over prepares their statements once per connection, not
// per call, also with a writer pool of one connection (a statement is never
// prepared on the pool while a transaction holds its connection).
func TestHotQueriesArePreparedOnce(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "parley.db")
	var prepares atomic.Int64
	pragmas := "?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)"
	writer := sql.OpenDB(countingConnector{dsn: path + pragmas + "&_pragma=journal_mode(WAL)&_txlock=immediate", prepares: &prepares})
	writer.SetMaxOpenConns(1)
	defer writer.Close()
	migrations, err := sqlstore.LoadMigrations(os.DirFS("../sqlite"), "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlstore.Migrate(ctx, writer, migrations, "", nil); err != nil {
		t.Fatal(err)
	}
	reader := sql.OpenDB(countingConnector{dsn: path + pragmas + "&_pragma=query_only(1)", prepares: &prepares})
	reader.SetMaxOpenConns(1)
	defer reader.Close()
	db := sqlstore.New(writer, reader, sqlstore.Dialect{Name: "sqlite"}, sqlstore.Options{})
	defer db.Close()

	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if _, err := db.CreateTicket(ctx, store.Ticket{ID: "T-1", Status: "new", Data: []byte(`{}`), CreatedAt: at}, store.HistoryEntry{Actor: "test", Action: "create"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		op   func(i int) error
	}{
		{"get ticket", func(int) error {
			_, err := db.GetTicket(ctx, "T-1")
			return err
		}},
		{"write stream events", func(i int) error {
			writes := []store.StreamEventWrite{{Op: store.StreamAppend, Session: "sess", Stream: "s", Index: int64(i), Data: []byte("e"), At: at}}
			if i == 0 {
				writes = append([]store.StreamEventWrite{{Op: store.StreamOpen, Session: "sess", Stream: "s", At: at}}, writes...)
			}
			res, err := db.WriteEvents(ctx, writes)
			for _, r := range res {
				if err == nil {
					err = r.Err
				}
			}
			return err
		}},
		{"open, hand over and close sessions", func(i int) error {
			id := fmt.Sprintf("session-%d", i)
			if err := db.CreateMCPSession(ctx, store.MCPSession{ID: id, ProtocolVersion: "2025-11-25", InitializeParams: []byte(`{}`), CreatedAt: at}); err != nil {
				return err
			}
			if _, err := db.GetMCPSession(ctx, id); err != nil {
				return err
			}
			if _, err := db.SetMCPSessionDeliverer(ctx, id, "replica-a", false); err != nil {
				return err
			}
			if err := db.TouchMCPSession(ctx, id, at.Add(time.Minute)); err != nil {
				return err
			}
			return db.DeleteMCPSession(ctx, id)
		}},
		{"read stream events", func(int) error {
			_, err := db.EventsAfter(ctx, "sess", "s", -1, 10)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The first calls prepare; later ones must not.
			for i := range 2 {
				if err := tt.op(i); err != nil {
					t.Fatal(err)
				}
			}
			before := prepares.Load()
			const calls = 20
			for i := 2; i < 2+calls; i++ {
				if err := tt.op(i); err != nil {
					t.Fatal(err)
				}
			}
			if n := prepares.Load() - before; n != 0 {
				t.Errorf("%d calls prepared %d statements, want none", calls, n)
			}
		})
	}
}
