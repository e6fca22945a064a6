package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	_ "modernc.org/sqlite"
)

// groupDB opens a bare SQLite database with one table, under a DB that
// commits in groups, as the SQLite store does.
func groupDB(t *testing.T) *DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "group.db")
	writer, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)&_txlock=immediate&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	writer.SetMaxOpenConns(1)
	reader, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writer.Exec(`CREATE TABLE items (name TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	db := New(writer, reader, Dialect{Name: "sqlite", GroupCommit: true}, Options{})
	t.Cleanup(func() {
		db.Close()
		writer.Close()
		reader.Close()
	})
	return db
}

// queued waits until n transactions wait for the leader.
func (g *txGroup) queued(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second) // a hang guard
	for {
		g.mu.Lock()
		got := len(g.queue)
		g.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d transactions queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// Transactions that wait while another runs commit together, each with its
// own outcome: one that fails is rolled back to its savepoint, and the
// others' writes stand; one whose caller gave up is not run.
func TestGroupCommit(t *testing.T) {
	db := groupDB(t)
	var sizes []int // only leaders append, one at a time
	db.group.observe = func(n int) { sizes = append(sizes, n) }
	ctx := t.Context()
	insert := func(name string, fail error) func(tx *sql.Tx) (bool, error) {
		return func(tx *sql.Tx) (bool, error) {
			if _, err := db.txExec(ctx, tx, `INSERT INTO items (name) VALUES (?)`, name); err != nil {
				return false, err
			}
			return true, fail
		}
	}
	errRefused := errors.New("refused")

	// The first holds the writer until the others wait behind it.
	started, release := make(chan struct{}), make(chan struct{})
	firstDone := make(chan error, 1)
	go func() {
		firstDone <- db.inTx(ctx, "first", func(tx *sql.Tx) (bool, error) {
			close(started)
			<-release
			return insert("first", nil)(tx)
		})
	}()
	<-started
	gone, cancel := context.WithCancel(ctx)
	cancel()
	ops := []struct {
		name    string
		ctx     context.Context
		fail    error
		wantErr error
	}{
		{"a", ctx, nil, nil},
		{"b", ctx, errRefused, errRefused},
		{"c", gone, nil, context.Canceled},
		{"d", ctx, nil, nil},
		{"a", ctx, nil, nil}, // a's row again: a constraint error, rolled back alone
	}
	errs := make([]error, len(ops))
	var wg sync.WaitGroup
	for i, op := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.inTx(op.ctx, op.name, insert(op.name, op.fail))
		}()
		db.group.queued(t, i+1)
	}
	close(release)
	wg.Wait()
	if err := <-firstDone; err != nil {
		t.Fatalf("first: %v", err)
	}
	for i, op := range ops {
		switch {
		case i == 4:
			if errs[i] == nil {
				t.Errorf("inserting a twice: no error")
			}
		case !errors.Is(errs[i], op.wantErr):
			t.Errorf("%s: %v, want %v", op.name, errs[i], op.wantErr)
		}
	}
	var got []string
	rows, err := db.reader.QueryContext(ctx, `SELECT name FROM items ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		got = append(got, name)
	}
	if diff := cmp.Diff([]string{"a", "d", "first"}, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{1, len(ops)}, sizes); diff != "" {
		t.Errorf("group sizes (-want +got):\n%s", diff)
	}
}
