package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/postgres"
	"github.com/parleyhq/parley/store/postgres/pgtest"
	"github.com/parleyhq/parley/store/storetest"
)

// newDB gives each test a fresh schema in the test database, so that tests
// run in isolation on one server.
func newDB(t testing.TB) func(t testing.TB) store.Store {
	u, err := url.Parse(pgtest.NewSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
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
