package postgres_test

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/postgres"
	"github.com/parleyhq/parley/store/postgres/pgtest"
	"github.com/parleyhq/parley/store/sqlstore"
	"github.com/parleyhq/parley/store/storetest"
)

// TestAuditTamper tampers with the schema through a connection of its own,
// as someone with database access would.
func TestAuditTamper(t *testing.T) {
	storetest.RunAuditTamper(t, func(t testing.TB) (func(t testing.TB) store.Store, storetest.ExecSQL) {
		url := pgtest.NewSchema(t)
		open := func(t testing.TB) store.Store {
			s, err := postgres.Open(t.Context(), url, postgres.Options{})
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		exec := func(t testing.TB, query string, args ...any) {
			t.Helper()
			conn, err := pgx.Connect(t.Context(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(t.Context())
			if _, err := conn.Exec(t.Context(), sqlstore.Rebind(query), args...); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
		}
		return open, exec
	})
}
