package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
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
				// The first save, once the linger is over, holds the
				// worker; the next three queue behind it.
				first := store.RelayedTask{Agent: "billing", TaskID: "t1", Caller: "alice", State: "submitted"}
				r.record(first)
				time.Sleep(recorderLinger)
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

// TestRecorderLingers: the worker waits up to recorderLinger for more saves
// before it commits a batch, unless a reader waits for a task in it
// (await) or the recorder closes; saves that come in the linger go in the
// same batch, in order.
func TestRecorderLingers(t *testing.T) {
	t1 := store.RelayedTask{Agent: "billing", TaskID: "t1", Caller: "alice", State: "submitted"}
	t2 := store.RelayedTask{Agent: "shipping", TaskID: "t2", Caller: "bob", State: "working"}
	t3 := store.RelayedTask{Agent: "billing", TaskID: "t3", Caller: "carol", State: "completed"}
	tests := []struct {
		name string
		// act records and returns when the batch must be saved, as time
		// since the first record.
		act  func(t *testing.T, r *recorder) time.Duration
		want []store.RelayedTask
	}{
		{"one save waits out the linger", func(t *testing.T, r *recorder) time.Duration {
			r.record(t1)
			return recorderLinger
		}, []store.RelayedTask{t1}},
		{"saves within the linger go in one batch", func(t *testing.T, r *recorder) time.Duration {
			r.record(t1)
			time.Sleep(recorderLinger / 4)
			r.record(t2)
			time.Sleep(recorderLinger / 2)
			r.record(t3)
			return recorderLinger
		}, []store.RelayedTask{t1, t2, t3}},
		{"a reader cuts the linger short", func(t *testing.T, r *recorder) time.Duration {
			r.record(t1)
			r.record(t2)
			if err := r.await(t.Context(), "shipping", "t2"); err != nil {
				t.Errorf("await: %v", err)
			}
			return 0
		}, []store.RelayedTask{t1, t2}},
		{"close saves what is queued at once", func(t *testing.T, r *recorder) time.Duration {
			r.record(t1)
			synctest.Wait() // the worker lingers with t1
			r.record(t2)
			r.close()
			return 0
		}, []store.RelayedTask{t1, t2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := &timedTasks{}
				r := newRecorder(st, slog.New(slog.DiscardHandler))
				defer r.close()
				start := time.Now()
				after := tt.act(t, r)
				time.Sleep(time.Hour) // long past any linger
				want := []timedBatch{{at: start.Add(after), tasks: tt.want}}
				if diff := cmp.Diff(want, st.saved(), cmp.AllowUnexported(timedBatch{})); diff != "" {
					t.Errorf("batches (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// timedTasks is a store that saves batches and notes when each came.
type timedTasks struct {
	store.RelayedTasks
	mu      sync.Mutex
	batches []timedBatch
}

type timedBatch struct {
	at    time.Time
	tasks []store.RelayedTask
}

func (s *timedTasks) SaveRelayedTask(ctx context.Context, t store.RelayedTask) error {
	return s.SaveRelayedTasks(ctx, []store.RelayedTask{t})
}

func (s *timedTasks) SaveRelayedTasks(_ context.Context, ts []store.RelayedTask) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, timedBatch{at: time.Now(), tasks: slices.Clone(ts)})
	return nil
}

func (s *timedTasks) saved() []timedBatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.batches)
}
