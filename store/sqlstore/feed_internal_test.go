package sqlstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/store"
)

// TestSharedReads: subscribers woken by the same wakes share one read of
// the feed; a subscriber that took its channel after a later wake, or
// reads from another cursor, reads for itself; a failed read is not
// shared.
func TestSharedReads(t *testing.T) {
	var reads atomic.Int64
	var gen atomic.Uint64
	fetchErr := errors.New("read failed")
	fail := false
	fetch := func(_ context.Context, after int64) ([]store.Change, error) {
		reads.Add(1)
		if fail {
			return nil, fetchErr
		}
		return []store.Change{{Seq: after + 1, Kind: "k"}}, nil
	}
	var s sharedReads
	read := func(cursor int64, g uint64) ([]store.Change, error) {
		return s.read(t.Context(), cursor, g, gen.Load, fetch)
	}

	steps := []struct {
		name      string
		cursor    int64
		gen       uint64 // the subscriber took its channel after this many wakes
		wakes     uint64 // the waker's count when the step runs
		fail      bool
		wantReads int64
		wantErr   error
	}{
		{"first read", 0, 0, 0, false, 1, nil},
		{"same cursor, same wakes: shared", 0, 0, 0, false, 1, nil},
		{"same cursor, a wake the read did not come after: reads", 0, 1, 1, false, 2, nil},
		{"that read is shared with an older subscriber", 0, 0, 1, false, 2, nil},
		{"another cursor: reads", 5, 1, 1, false, 3, nil},
		{"a failed read is returned to its reader", 7, 1, 1, true, 4, fetchErr},
		{"and is not shared", 7, 1, 1, false, 5, nil},
	}
	for _, st := range steps {
		gen.Store(st.wakes)
		fail = st.fail
		got, err := read(st.cursor, st.gen)
		if !errors.Is(err, st.wantErr) {
			t.Fatalf("%s: err = %v, want %v", st.name, err, st.wantErr)
		}
		if err == nil {
			if diff := cmp.Diff([]store.Change{{Seq: st.cursor + 1, Kind: "k"}}, got); diff != "" {
				t.Errorf("%s: changes (-want +got):\n%s", st.name, diff)
			}
		}
		if n := reads.Load(); n != st.wantReads {
			t.Errorf("%s: %d reads so far, want %d", st.name, n, st.wantReads)
		}
	}
}

// TestSubscribersShareFeedReads: several subscribers of one store hear
// every change, in order, while they share reads.
func TestSubscribersShareFeedReads(t *testing.T) {
	var s sharedReads
	var mu sync.Mutex
	var reads int
	started := make(chan struct{})
	release := make(chan struct{})
	fetch := func(context.Context, int64) ([]store.Change, error) {
		mu.Lock()
		reads++
		first := reads == 1
		mu.Unlock()
		if first {
			close(started)
			<-release // hold the read until every subscriber waits for it
		}
		return []store.Change{{Seq: 1}}, nil
	}
	const subscribers = 6
	var wg sync.WaitGroup
	got := make([][]store.Change, subscribers)
	wg.Add(1)
	go func() {
		defer wg.Done()
		got[0], _ = s.read(t.Context(), 0, 0, func() uint64 { return 0 }, fetch)
	}()
	<-started
	for i := 1; i < subscribers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = s.read(t.Context(), 0, 0, func() uint64 { return 0 }, fetch)
		}()
	}
	// The others find the first read as the latest, in flight or done:
	// none of them may read for itself.
	close(release)
	wg.Wait()
	if reads != 1 {
		t.Errorf("%d subscribers made %d reads, want 1", subscribers, reads)
	}
	for i, g := range got {
		if diff := cmp.Diff([]store.Change{{Seq: 1}}, g); diff != "" {
			t.Errorf("subscriber %d (-want +got):\n%s", i, diff)
		}
	}
}
