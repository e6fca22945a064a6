package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
	"github.com/parleyhq/parley/store/sqlstore"
	"github.com/parleyhq/parley/store/storetest"
)

// newDB gives each test its own database file. Instances that run poll for
// other instances' changes often, so the cross-instance tests are quick.
func newDB(t testing.TB, opts storetest.Options) func(t testing.TB) store.Store {
	path := filepath.Join(t.TempDir(), "parley.db")
	return func(t testing.TB) store.Store {
		s, err := sqlite.Open(t.Context(), path, sqlite.Options{Feed: sqlstore.Options{PollInterval: 20 * time.Millisecond, Now: opts.Now}})
		if err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

func TestContract(t *testing.T) { storetest.Run(t, newDB) }

func BenchmarkStore(b *testing.B) { storetest.Bench(b, newDB) }

func TestDurableAcrossReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "parley.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	if _, err := s.CreateTicket(ctx, store.Ticket{ID: "T-1", Status: "new", Data: json.RawMessage(`{"id":"T-1"}`), CreatedAt: at}, store.HistoryEntry{Actor: "a", Action: "create"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTask(ctx, store.Task{ID: "task-1", Type: "billing", Payload: json.RawMessage(`{}`), CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s, err = sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	got, err := s.GetTicket(ctx, "T-1")
	if err != nil || got.Version != 1 || string(got.Data) != `{"id":"T-1"}` || !got.CreatedAt.Equal(at) {
		t.Errorf("after reopen ticket = %+v, %v", got, err)
	}
	task, err := s.GetTask(ctx, "task-1")
	if err != nil || task.Status != store.TaskPending {
		t.Errorf("after reopen task = %+v, %v", task, err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.db")
	garbage := make([]byte, 8192)
	for i := range garbage {
		garbage[i] = byte(i*7 + 3)
	}
	if err := os.WriteFile(corrupt, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	notADir := filepath.Join(dir, "file")
	if err := os.WriteFile(notADir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want error
	}{
		{"corrupt file", corrupt, store.ErrCorrupt},
		{"parent is a file", filepath.Join(notADir, "parley.db"), store.ErrUnavailable},
		{"missing directory", filepath.Join(dir, "no", "such", "parley.db"), store.ErrUnavailable},
		{"empty path", "", store.ErrUnavailable},
		{"query in path", filepath.Join(dir, "x.db?mode=ro"), store.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := sqlite.Open(t.Context(), tt.path, sqlite.Options{})
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", tt.path)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Open(%q) = %v, want %v", tt.path, err, tt.want)
			}
		})
	}
}

// Run sweeps on its ticks only, never when it starts: a change committed
// just before Run starts, stamped years ago by its caller, is kept for the
// retention (24h by default) after its commit, by the store's clock, then
// swept. In a synctest bubble the store's clock (time.Now) and Run's ticker
// are the bubble's, so a day passes at once.
func TestRunSweepsOnItsTicks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		// An hourly poll: a day of ticks every 500ms would be slow to run.
		s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{Feed: sqlstore.Options{PollInterval: time.Hour}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		committed := time.Now()
		longAgo := committed.AddDate(-5, 0, 0)
		if _, err := s.CreateTicket(ctx, store.Ticket{ID: "T-1", Status: "new", Data: json.RawMessage(`{}`), CreatedAt: longAgo, UpdatedAt: longAgo},
			store.HistoryEntry{Actor: "a", Action: "create", At: longAgo}); err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- s.Run(runCtx) }()

		kept := func(when string) bool {
			t.Helper()
			synctest.Wait() // Run's goroutines are idle: any sweep is over
			subCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			ch, err := s.SubscribeAfter(subCtx, 0)
			if errors.Is(err, store.ErrEventsPurged) {
				return false
			}
			if err != nil {
				t.Fatalf("%s: SubscribeAfter: %v", when, err)
			}
			if c := <-ch; c.Key != "T-1" || !c.At.Equal(longAgo) {
				t.Fatalf("%s: change = %+v, want T-1 at its caller's time %v", when, c, longAgo)
			}
			return true
		}
		tests := []struct {
			after time.Duration // since the commit
			kept  bool
		}{
			{0, true},               // Run has started: no sweep at start
			{time.Hour, true},       // the first tick
			{24 * time.Hour, true},  // exactly the retention: not older yet
			{25 * time.Hour, false}, // the tick after the retention ended
			{26 * time.Hour, false}, // and it stays purged
		}
		for _, tt := range tests {
			time.Sleep(committed.Add(tt.after).Sub(time.Now()))
			if got := kept(fmt.Sprintf("%v after the commit", tt.after)); got != tt.kept {
				t.Errorf("%v after the commit: change kept = %v, want %v", tt.after, got, tt.kept)
			}
		}
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil once its ctx ends", err)
		}
	})
}

// A database made by the previous schema (before changes carried their
// commit time) upgrades in place: the changes in its feed are kept and
// count from the time they carry, the only one known for them.
func TestUpgradeKeepsFeed(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "parley.db")
	old := openMigratedThrough(t, path, 7)
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	if _, err := old.ExecContext(ctx, `INSERT INTO changes (kind, key, version, at) VALUES ('ticket', 'T-old', 1, ?)`, at.UnixMicro()); err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	clk := at.Add(time.Hour)
	s, err := sqlite.Open(ctx, path, sqlite.Options{Feed: sqlstore.Options{Now: func() time.Time { return clk }}})
	if err != nil {
		t.Fatalf("open the previous schema: %v", err)
	}
	defer s.Close()
	if n, err := s.SweepFeed(ctx); err != nil || n != 0 {
		t.Fatalf("SweepFeed an hour after the old change = %d, %v; want 0", n, err)
	}
	ch, err := s.SubscribeAfter(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if c := <-ch; c.Key != "T-old" || !c.At.Equal(at) {
		t.Errorf("old change = %+v, want T-old at %v", c, at)
	}
	clk = at.Add(25 * time.Hour)
	if n, err := s.SweepFeed(ctx); err != nil || n != 1 {
		t.Errorf("SweepFeed past its retention = %d, %v; want 1", n, err)
	}
}

// A database of the schema before migration 0018 keeps its sessions'
// deliverers and subscriptions.
func TestUpgradeKeepsDeliverers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	old := openMigratedThrough(t, path, storetest.UpgradeDeliverersBefore)
	defer old.Close()
	storetest.UpgradeDeliverers(t, old, nil, func(t testing.TB) store.Store {
		s, err := sqlite.Open(t.Context(), path, sqlite.Options{})
		if err != nil {
			t.Fatalf("open the previous schema: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// openMigratedThrough opens the database at path with the schema of
// migrations up to version: a database of an earlier release.
func openMigratedThrough(t *testing.T, path string, version int) *sql.DB {
	t.Helper()
	all, err := sqlstore.LoadMigrations(os.DirFS("."), "migrations")
	if err != nil {
		t.Fatal(err)
	}
	old, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlstore.Migrate(t.Context(), old, sqlstore.MigrationsThrough(all, version), "", nil); err != nil {
		old.Close()
		t.Fatalf("migrate to the schema of version %d: %v", version, err)
	}
	return old
}
