package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/store"
)

// gatedTasks saves a relayed task only when the test lets one through.
type gatedTasks struct {
	store.RelayedTasks // only SaveRelayedTask is called
	gate               chan struct{}
}

func (g gatedTasks) SaveRelayedTask(ctx context.Context, _ store.RelayedTask) error {
	<-g.gate
	return nil
}

// returned reports whether done has a result, and which.
func returned(done <-chan error) (error, bool) {
	select {
	case err := <-done:
		return err, true
	default:
		return nil, false
	}
}

// TestRecorderAwait: the ownership check waits for the saves of a task
// queued before it (so that a task is recorded before anyone can ask for
// it through this relay), not for another task's, not for saves queued
// after it began (a busy stream would keep it waiting), and not past its
// context.
func TestRecorderAwait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := gatedTasks{gate: make(chan struct{})}
		r := newRecorder(st, slog.New(slog.DiscardHandler))
		defer func() { close(st.gate); r.close() }() // let every save through, then stop
		ctx := t.Context()

		r.record(store.RelayedTask{Agent: "Billing", TaskID: "t1", Caller: "alice", State: "submitted"})
		done := make(chan error, 1)
		go func() { done <- r.await(ctx, "billing", "t1") }() // the agent's name in another case
		synctest.Wait()
		if _, ok := returned(done); ok {
			t.Fatal("await returned before the task's save")
		}
		if err := r.await(ctx, "billing", "t2"); err != nil {
			t.Fatalf("await of a task with no save waiting: %v", err)
		}

		// A save queued after the wait began is not waited for.
		r.record(store.RelayedTask{Agent: "billing", TaskID: "t1", Caller: "alice", State: "completed"})
		st.gate <- struct{}{} // the first save
		synctest.Wait()
		if err, ok := returned(done); !ok || err != nil {
			t.Fatalf("await after the task's save: returned %v, %v", ok, err)
		}

		// The second save is still waiting: a wait for it ends with its
		// context.
		short, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := r.await(short, "billing", "t1"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("await past its context: %v, want DeadlineExceeded", err)
		}
		st.gate <- struct{}{}
		synctest.Wait()
		if err := r.await(ctx, "billing", "t1"); err != nil {
			t.Errorf("await with nothing waiting: %v", err)
		}
		r.pendingMu.Lock()
		n := len(r.pending)
		r.pendingMu.Unlock()
		if n != 0 {
			t.Errorf("%d tasks still counted as waiting", n)
		}
	})
}

// batchTasks is a store that saves batches: the first save waits for the
// gate; every batch is reported, and fails while fail is set.
type batchTasks struct {
	store.RelayedTasks
	gate    chan struct{}
	batches chan []store.RelayedTask
	singles chan store.RelayedTask
	fail    bool
}

func (b *batchTasks) SaveRelayedTask(ctx context.Context, t store.RelayedTask) error {
	<-b.gate
	b.singles <- t
	return nil
}

func (b *batchTasks) SaveRelayedTasks(ctx context.Context, ts []store.RelayedTask) error {
	b.batches <- slices.Clone(ts)
	if b.fail {
		return errors.New("the store is down")
	}
	return nil
}

// TestRecorderBatches: what queues up while a worker saves goes in one
// batch, in the order seen, and the ownership check waits for it; a batch
// the store refuses is saved one by one.
func TestRecorderBatches(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail=%v", fail), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := &batchTasks{gate: make(chan struct{}), batches: make(chan []store.RelayedTask, 10), singles: make(chan store.RelayedTask, 10), fail: fail}
				r := newRecorder(st, slog.New(slog.DiscardHandler))
				defer r.close()
				ctx := t.Context()
				// The first save holds the worker; the next three queue
				// behind it (one task: one worker).
				first := store.RelayedTask{Agent: "billing", TaskID: "t1", Caller: "alice", State: "submitted"}
				r.record(first)
				synctest.Wait()
				var queued []store.RelayedTask
				for _, state := range []string{"working", "input-required", "completed"} {
					t1 := first
					t1.State = state
					queued = append(queued, t1)
					r.record(t1)
				}
				done := make(chan error, 1)
				go func() { done <- r.await(ctx, "billing", "t1") }()
				st.gate <- struct{}{}
				if got := <-st.singles; got != first {
					t.Errorf("first save %+v", got)
				}
				if got := <-st.batches; !cmp.Equal(got, queued) {
					t.Errorf("batch %+v, want %+v", got, queued)
				}
				if fail {
					for _, want := range queued {
						st.gate <- struct{}{}
						if got := <-st.singles; got != want {
							t.Errorf("after the batch failed, saved %+v, want %+v", got, want)
						}
					}
				}
				if err := <-done; err != nil {
					t.Errorf("await: %v", err)
				}
				synctest.Wait()
				select {
				case b := <-st.batches:
					t.Errorf("another batch %+v", b)
				case s := <-st.singles:
					t.Errorf("another save %+v", s)
				default:
				}
			})
		})
	}
}
