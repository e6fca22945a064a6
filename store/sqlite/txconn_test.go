package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"path/filepath"
	"strings"
	"testing"
)

// openTxDB is a database on a fresh file through the writer's connector,
// with one connection, as the writer has.
func openTxDB(t *testing.T) *sql.DB {
	t.Helper()
	c, err := newTxConnector(filepath.Join(t.TempDir(), "tx.db") + "?_pragma=journal_mode(WAL)&_txlock=immediate&_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	ctx := t.Context()
	for _, q := range []string{
		`CREATE TABLE parent (id INTEGER PRIMARY KEY)`,
		`CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func count(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// conn is the txConn under db's one connection.
func conn(t *testing.T, db *sql.DB) *txConn {
	t.Helper()
	c, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var tc *txConn
	if err := c.Raw(func(dc any) error {
		tc, _ = dc.(*txConn)
		return nil
	}); err != nil || tc == nil {
		t.Fatalf("the connection is %v (%v), not a txConn", tc, err)
	}
	return tc
}

// Transactions commit and roll back through the prepared statements, which
// are prepared once per connection; a commit that fails leaves no
// transaction open.
func TestTxConn(t *testing.T) {
	ctx := t.Context()
	db := openTxDB(t)

	for i := range 2 {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO parent (id) VALUES (?)`, i+1); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, db, "parent"); n != 2 {
		t.Errorf("parents after two commits = %d, want 2", n)
	}
	tc := conn(t, db)
	begin, commit := tc.begin, tc.commit
	if begin == nil || commit == nil {
		t.Fatalf("BEGIN prepared %t, COMMIT prepared %t: want both", begin != nil, commit != nil)
	}

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO parent (id) VALUES (3)`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "parent"); n != 2 {
		t.Errorf("parents after a rollback = %d, want 2", n)
	}

	// A deferred foreign key fails the COMMIT itself, which leaves SQLite's
	// transaction open: Commit must end it.
	tx, err = db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO child (id, parent) VALUES (1, 99)`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err == nil || !strings.Contains(err.Error(), "FOREIGN KEY") {
		t.Fatalf("commit of a dangling reference = %v, want a foreign key error", err)
	}
	if n := count(t, db, "child"); n != 0 {
		t.Errorf("children after the failed commit = %d, want 0", n)
	}
	tx, err = db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("a transaction after the failed commit: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if tc := conn(t, db); tc.begin != begin || tc.commit != commit {
		t.Error("the statements were prepared again")
	}

	// modernc's own BeginTx, for what the prepared BEGIN IMMEDIATE is not.
	ro, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := ro.QueryRowContext(ctx, `SELECT count(*) FROM parent`).Scan(&n); err != nil || n != 2 {
		t.Errorf("parents in a read-only transaction = %d, %v; want 2", n, err)
	}
	if err := ro.Rollback(); err != nil {
		t.Fatal(err)
	}
}

// A closed connection finalizes its statements and refuses transactions
// as a bad connection, which database/sql replaces.
func TestTxConnClose(t *testing.T) {
	db := openTxDB(t)
	tc := conn(t, db)
	if _, err := tc.BeginTx(context.Background(), driver.TxOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := (txEnd{tc}).Commit(); err != nil {
		t.Fatal(err)
	}
	if err := tc.Close(); err != nil {
		t.Fatal(err)
	}
	if tc.begin != nil || tc.commit != nil {
		t.Error("statements kept after Close")
	}
	if _, err := tc.BeginTx(context.Background(), driver.TxOptions{}); err != driver.ErrBadConn {
		t.Errorf("BeginTx after Close = %v, want driver.ErrBadConn", err)
	}
}
