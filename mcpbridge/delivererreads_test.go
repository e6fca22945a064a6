package mcpbridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/store"
)

// countingDeliverers answers GetMCPSessionDeliverers from a map and
// records each call's IDs.
type countingDeliverers struct {
	store.MCPSessionSubscriptions
	named map[string]string
	err   error

	mu    sync.Mutex
	calls [][]string
}

func (c *countingDeliverers) GetMCPSessionDeliverers(_ context.Context, ids []string) (map[string]string, error) {
	c.mu.Lock()
	c.calls = append(c.calls, append([]string(nil), ids...))
	c.mu.Unlock()
	if c.err != nil {
		return nil, c.err
	}
	out := map[string]string{}
	for _, id := range ids {
		if r, ok := c.named[id]; ok {
			out[id] = r
		}
	}
	return out, nil
}

func TestDelivererReadsShareARead(t *testing.T) {
	type result struct {
		named  string
		exists bool
	}
	synctest.Test(t, func(t *testing.T) {
		st := &countingDeliverers{named: map[string]string{"s-1": "r-a", "s-2": "r-b", "s-3": ""}}
		r := &delivererReads{store: st, linger: delivererLinger}
		ids := []string{"s-1", "s-2", "s-3", "gone"}
		got := make([]result, len(ids))
		var wg sync.WaitGroup
		start := time.Now()
		for i, id := range ids {
			wg.Go(func() {
				named, exists, err := r.read(t.Context(), id)
				if err != nil {
					t.Errorf("read(%s): %v", id, err)
				}
				got[i] = result{named, exists}
			})
		}
		wg.Wait()
		if d := time.Since(start); d != delivererLinger {
			t.Errorf("the reads took %v, want the linger, %v", d, delivererLinger)
		}
		want := []result{{"r-a", true}, {"r-b", true}, {"", true}, {"", false}}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(result{})); diff != "" {
			t.Errorf("reads (-want +got):\n%s", diff)
		}
		if len(st.calls) != 1 || len(st.calls[0]) != len(ids) {
			t.Errorf("store calls = %q, want one with the %d IDs", st.calls, len(ids))
		}

		// A later stream starts a batch of its own.
		if named, exists, err := r.read(t.Context(), "s-1"); err != nil || named != "r-a" || !exists {
			t.Errorf("read(s-1) again = %q, %v, %v", named, exists, err)
		}
		if len(st.calls) != 2 {
			t.Errorf("store calls = %d, want 2", len(st.calls))
		}
	})
}

func TestDelivererReadsFullBatchReadsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &countingDeliverers{named: map[string]string{}}
		r := &delivererReads{store: st, linger: time.Hour}
		start := time.Now()
		var wg sync.WaitGroup
		for i := range maxDelivererBatch {
			wg.Go(func() {
				if _, _, err := r.read(t.Context(), fmt.Sprintf("s-%d", i)); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if d := time.Since(start); d != 0 {
			t.Errorf("a full batch waited %v, want no wait", d)
		}
		if len(st.calls) != 1 {
			t.Errorf("store calls = %d, want 1", len(st.calls))
		}
	})
}

func TestDelivererReadsErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		broken := errors.New("store down")
		r := &delivererReads{store: &countingDeliverers{err: broken}, linger: delivererLinger}
		if _, _, err := r.read(t.Context(), "s-1"); !errors.Is(err, broken) {
			t.Errorf("read with the store failing = %v, want %v", err, broken)
		}

		// A stream that gives up stops waiting; the batch goes on for the
		// others.
		st := &countingDeliverers{named: map[string]string{"s-1": "r-a"}}
		r = &delivererReads{store: st, linger: delivererLinger}
		var wg sync.WaitGroup
		wg.Go(func() {
			if named, _, err := r.read(t.Context(), "s-1"); err != nil || named != "r-a" {
				t.Errorf("the first stream's read = %q, %v", named, err)
			}
		})
		synctest.Wait() // the first stream leads and lingers
		ctx, cancel := context.WithCancel(t.Context())
		wg.Go(func() {
			if _, _, err := r.read(ctx, "s-2"); !errors.Is(err, context.Canceled) {
				t.Errorf("a cancelled wait = %v, want context.Canceled", err)
			}
		})
		synctest.Wait()
		cancel()
		wg.Wait()
		if diff := cmp.Diff([][]string{{"s-1", "s-2"}}, st.calls); diff != "" {
			t.Errorf("store calls (-want +got):\n%s", diff)
		}
	})
}
