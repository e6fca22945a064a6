package a2a

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

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
