package sqlstore_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/parleyhq/parley/observe"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
)

// TestMetrics: with SetMetrics, write transactions are timed by operation
// and each change handed to a feed subscriber has its lag observed.
func TestMetrics(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := observe.NewMetrics()
	st.SetMetrics(m)
	ran := make(chan error, 1)
	go func() { ran <- st.Run(ctx) }()
	defer func() { cancel(); <-ran }()

	changes, err := st.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"T-1", "T-2"} {
		now := time.Now()
		data, _ := json.Marshal(map[string]any{"id": id, "status": "new"})
		if _, err := st.CreateTicket(ctx, store.Ticket{ID: id, Status: "new", Data: data, CreatedAt: now, UpdatedAt: now},
			store.HistoryEntry{Actor: "test", Action: "create", Detail: json.RawMessage(`{}`)}); err != nil {
			t.Fatal(err)
		}
		select {
		case c := <-changes:
			if c.Key != id {
				t.Fatalf("change of %s, want %s", c.Key, id)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("no change on the feed")
		}
	}
	// The subscriber's goroutine observes a change's lag once it was
	// taken, before it reads on: the second change taken means the first
	// was observed.
	count := func(name string) uint64 {
		families, err := m.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		var n uint64
		for _, f := range families {
			if f.GetName() == name {
				for _, mt := range f.GetMetric() {
					if len(mt.GetLabel()) == 0 || mt.GetLabel()[0].GetValue() == "create ticket" {
						n += mt.GetHistogram().GetSampleCount()
					}
				}
			}
		}
		return n
	}
	if n := count("parley_store_transaction_duration_seconds"); n != 2 {
		t.Errorf(`transactions observed for op "create ticket": %d, want 2`, n)
	}
	if n := count("parley_store_feed_delivery_lag_seconds"); n < 1 {
		t.Errorf("feed deliveries observed: %d, want at least 1", n)
	}
	if n, err := testutil.GatherAndCount(m.Registry(), "parley_store_transaction_duration_seconds"); err != nil || n == 0 {
		t.Errorf("transaction series: %d, %v", n, err)
	}
}
