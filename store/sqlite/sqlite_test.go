package sqlite_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
	"github.com/parleyhq/parley/store/sqlstore"
	"github.com/parleyhq/parley/store/storetest"
)

// newDB gives each test its own database file. Instances poll for other
// instances' changes often, so the cross-instance tests are quick.
func newDB(t testing.TB) func(t testing.TB) store.Store {
	path := filepath.Join(t.TempDir(), "parley.db")
	return func(t testing.TB) store.Store {
		s, err := sqlite.Open(t.Context(), path, sqlite.Options{Feed: sqlstore.Options{PollInterval: 20 * time.Millisecond}})
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
