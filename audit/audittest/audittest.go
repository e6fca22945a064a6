// Package audittest has what the audit packages' tests share: a real
// SQLite store, a write to record, and the chain's and outbox's sizes.
package audittest

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
)

// T0 is the tests' fixed time.
var T0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

// OpenSQLite opens a store in a file of the test's temporary directory,
// closed at the test's end.
func OpenSQLite(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// CreateTicket is a store write: it emits on the feed, so an audit record
// waiting in the context is committed with it.
func CreateTicket(ctx context.Context, st store.Store, id string) error {
	_, err := st.CreateTicket(ctx, store.Ticket{ID: id, Status: "new", Data: json.RawMessage(`{}`), CreatedAt: T0, UpdatedAt: T0},
		store.HistoryEntry{Actor: "test", At: T0, Action: "create"})
	return err
}

// Counts returns how many records are chained and how many wait in the
// outbox.
func Counts(t testing.TB, st store.Store) (chained, pending int64) {
	t.Helper()
	head, err := st.AuditHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	pending, err = st.AuditOutboxLen(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return head.Seq, pending
}
