package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
	"github.com/parleyhq/parley/store/storetest"
)

// TestAuditTamper tampers with the file through a connection of its own,
// as someone with the file in hand would.
func TestAuditTamper(t *testing.T) {
	storetest.RunAuditTamper(t, func(t testing.TB) (func(t testing.TB) store.Store, storetest.ExecSQL) {
		path := filepath.Join(t.TempDir(), "parley.db")
		open := func(t testing.TB) store.Store {
			s, err := sqlite.Open(t.Context(), path, sqlite.Options{})
			if err != nil {
				t.Fatalf("open %s: %v", path, err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		exec := func(t testing.TB, query string, args ...any) {
			t.Helper()
			db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.ExecContext(t.Context(), query, args...); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
		}
		return open, exec
	})
}
