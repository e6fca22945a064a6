package postgres_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/postgres"
	"github.com/parleyhq/parley/store/storetest"
)

// baseURL is the server the tests use, from PARLEY_TEST_POSTGRES_URL. In CI
// (CI set) a missing URL fails the run: the PostgreSQL contract must execute
// there, not skip.
func baseURL(t testing.TB) string {
	u := os.Getenv("PARLEY_TEST_POSTGRES_URL")
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("PARLEY_TEST_POSTGRES_URL is not set in CI; .ci/run starts a server and sets it")
		}
		t.Skip("PARLEY_TEST_POSTGRES_URL not set; run .ci/run or point it at a PostgreSQL database")
	}
	return u
}

// newDB gives each test a fresh schema in the test database, so that tests
// run in isolation on one server, and drops it afterwards.
func newDB(t testing.TB) func(t testing.TB) store.Store {
	base := baseURL(t)
	schema := "t_" + rand.Text()[:12]
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect %s: %v", base, err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Errorf("drop schema: %v", err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("pool_max_conns", "20")
	u.RawQuery = q.Encode()
	return func(t testing.TB) store.Store {
		s, err := postgres.Open(t.Context(), u.String(), postgres.Options{})
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
	open := newDB(t)
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
