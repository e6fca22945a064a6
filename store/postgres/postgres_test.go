package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/postgres"
	"github.com/parleyhq/parley/store/postgres/pgtest"
	"github.com/parleyhq/parley/store/sqlstore"
	"github.com/parleyhq/parley/store/storetest"
)

// newDB gives each test a fresh schema in the test database, so that tests
// run in isolation on one server.
func newDB(t testing.TB, opts storetest.Options) func(t testing.TB) store.Store {
	u, err := url.Parse(pgtest.NewSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", "20")
	u.RawQuery = q.Encode()
	return func(t testing.TB) store.Store {
		s, err := postgres.Open(t.Context(), u.String(), postgres.Options{Feed: sqlstore.Options{Now: opts.Now}})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

func TestContract(t *testing.T) { storetest.Run(t, newDB) }

func BenchmarkStore(b *testing.B) { storetest.Bench(b, newDB) }

// Replicas that start together migrate the schema once between them.
func TestConcurrentStartMigratesOnce(t *testing.T) {
	open := newDB(t, storetest.Options{})
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			defer func() {
				if r := recover(); r != nil {
					errs <- fmt.Errorf("panic: %v", r)
				}
			}()
			s := open(t)
			errs <- s.Ping(t.Context())
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// Port 1 on loopback: nothing listens there.
	_, err := postgres.Open(ctx, "postgres://parley@127.0.0.1:1/parley?sslmode=disable&connect_timeout=2", postgres.Options{})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Open of an unreachable server = %v, want ErrUnavailable", err)
	}
	_, err = postgres.Open(ctx, "postgres://%zz", postgres.Options{})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Open of a malformed URL = %v, want ErrUnavailable", err)
	}
}

// A database made by the previous schema (before changes carried their
// commit time) upgrades in place: the changes in its feed are kept and
// count from the time they carry, and a replica of the previous release,
// still running during a rolling upgrade, can still emit changes.
func TestUpgradeKeepsFeed(t *testing.T) {
	ctx := t.Context()
	url := pgtest.NewSchema(t)
	old := openMigratedThrough(t, url, 7)
	defer old.Close()
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	if _, err := old.ExecContext(ctx, `SELECT parley_emit('ticket', 'T-old', 1, $1)`, at.UnixMicro()); err != nil {
		t.Fatal(err)
	}

	clk := at.Add(time.Hour)
	s, err := postgres.Open(ctx, url, postgres.Options{Feed: sqlstore.Options{Now: func() time.Time { return clk }}})
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
	// The previous release's call, on the upgraded schema: another
	// process's commit, which s hears of through Run.
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go s.Run(runCtx)
	if _, err := old.ExecContext(ctx, `SELECT parley_emit('ticket', 'T-compat', 1, $1)`, at.UnixMicro()); err != nil {
		t.Fatalf("previous release's parley_emit after the upgrade: %v", err)
	}
	select {
	case c := <-ch:
		if c.Key != "T-compat" {
			t.Errorf("change from the previous release = %+v, want T-compat", c)
		}
	case <-time.After(10 * time.Second): // a hang guard
		t.Fatal("the change from the previous release never arrived")
	}
}

// A database of the schema before migration 0018 keeps its sessions'
// deliverers and subscriptions.
func TestUpgradeKeepsDeliverers(t *testing.T) {
	url := pgtest.NewSchema(t)
	old := openMigratedThrough(t, url, storetest.UpgradeDeliverersBefore)
	defer old.Close()
	storetest.UpgradeDeliverers(t, old, sqlstore.Rebind, func(t testing.TB) store.Store {
		s, err := postgres.Open(t.Context(), url, postgres.Options{})
		if err != nil {
			t.Fatalf("open the previous schema: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// openMigratedThrough opens the database at url with the schema of
// migrations up to version: a database of an earlier release.
func openMigratedThrough(t *testing.T, url string, version int) *sql.DB {
	t.Helper()
	all, err := sqlstore.LoadMigrations(os.DirFS("."), "migrations")
	if err != nil {
		t.Fatal(err)
	}
	old, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlstore.Migrate(t.Context(), old, sqlstore.MigrationsThrough(all, version), "", sqlstore.Rebind); err != nil {
		old.Close()
		t.Fatalf("migrate to the schema of version %d: %v", version, err)
	}
	return old
}
