package a2astore_test

import (
	"context"
	"errors"
	"iter"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/a2aproject/a2a-go/v2/a2asrv/eventqueue"
	"github.com/a2aproject/a2a-go/v2/a2asrv/workqueue"
	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/a2a/a2astore"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/postgres"
	"github.com/parleyhq/parley/store/postgres/pgtest"
	"github.com/parleyhq/parley/store/sqlite"
	"github.com/parleyhq/parley/store/sqlstore"
)

// blockingAgent starts a task, reports it, and works until released or
// canceled.
type blockingAgent struct {
	started chan a2a.TaskID
	release chan struct{}
	// done receives once per execution that returned.
	done chan struct{}
}

func newBlockingAgent() *blockingAgent {
	return &blockingAgent{started: make(chan a2a.TaskID, 1), release: make(chan struct{}), done: make(chan struct{}, 4)}
}

func (a *blockingAgent) Execute(ctx context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2a.Event, error] {
	return func(yield func(a2a.Event, error) bool) {
		defer func() { a.done <- struct{}{} }()
		if ec.StoredTask == nil && !yield(a2a.NewSubmittedTask(ec, ec.Message), nil) {
			return
		}
		if !yield(a2a.NewStatusUpdateEvent(ec, a2a.TaskStateWorking, nil), nil) {
			return
		}
		a.started <- ec.TaskID
		select {
		case <-a.release:
		case <-ctx.Done():
			return
		}
		yield(a2a.NewStatusUpdateEvent(ec, a2a.TaskStateCompleted, nil), nil)
	}
}

func (a *blockingAgent) Cancel(ctx context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2a.Event, error] {
	return func(yield func(a2a.Event, error) bool) {
		yield(a2a.NewStatusUpdateEvent(ec, a2a.TaskStateCanceled, nil), nil)
	}
}

// replica is one gateway replica's A2A stack in cluster mode over its own
// store instance.
type replica struct {
	handler a2asrv.RequestHandler
	// settled receives when an item of this replica's work queue was
	// completed or returned.
	settled chan struct{}
}

// newReplica builds a replica on s and runs s and its notifier until the
// test ends. The work queue is closed at the end (after the executions
// the test released have finished).
func newReplica(t *testing.T, name string, s store.Store, agent a2asrv.AgentExecutor) *replica {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	n := a2astore.NewNotifier(s)
	wg.Go(func() { _ = s.Run(ctx) })
	wg.Go(func() {
		if err := n.Run(ctx); err != nil {
			t.Errorf("notifier: %v", err)
		}
	})
	// Long fallback polls: the test proceeds on wake-ups, not on polling.
	wq := a2astore.NewWorkQueue(s, a2astore.WorkQueueOptions{Owner: name, Notifier: n, Poll: time.Minute})
	settled := make(chan struct{}, 16)
	a2astore.SetSettledHook(wq, func() { settled <- struct{}{} })
	ev := a2astore.NewEvents(s, a2astore.EventsOptions{Notifier: n, Poll: time.Minute, MaxWait: time.Minute})
	ts := a2astore.NewTaskStore(s, a2astore.TaskStoreOptions{IsAdmin: func(ctx context.Context) bool { return a2astore.CallerOf(ctx) == "admin" }})
	h := a2asrv.NewHandler(agent,
		a2asrv.WithPushNotifications(a2astore.NewPushConfigs(s, nil), nil),
		a2asrv.WithClusterMode(a2asrv.ClusterConfig{
			TaskStore:    ts,
			WorkQueue:    workqueue.NewPullQueue(wq, nil),
			QueueManager: eventqueue.NewPullQueueManager(ev.Provider, eventqueue.PullConfig{PollInterval: time.Millisecond}),
		}))
	t.Cleanup(func() {
		wq.Close()
		cancel()
		wg.Wait()
	})
	<-n.Ready()
	return &replica{handler: h, settled: settled}
}

func as(ctx context.Context, user string) context.Context {
	ctx, cc := a2asrv.NewCallContext(ctx, nil)
	cc.User = &a2asrv.User{Name: user, Authenticated: true}
	return ctx
}

type eventOrErr struct {
	ev  a2a.Event
	err error
}

// collect runs seq in a goroutine, sending what it yields; the channel is
// closed when seq ends.
func collect(t *testing.T, seq func(func(a2a.Event, error) bool)) <-chan eventOrErr {
	out := make(chan eventOrErr, 16)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(out)
		for ev, err := range seq {
			out <- eventOrErr{ev, err}
		}
	})
	t.Cleanup(wg.Wait)
	return out
}

// describe names an event by its kind and state, for comparisons.
func describe(e eventOrErr) string {
	switch ev := e.ev.(type) {
	case *a2a.Task:
		return "task " + string(ev.Status.State)
	case *a2a.TaskStatusUpdateEvent:
		return "status " + string(ev.Status.State)
	case nil:
		if e.err != nil {
			return "error"
		}
		return "nil"
	default:
		return "other"
	}
}

func drain(t *testing.T, ch <-chan eventOrErr) []string {
	t.Helper()
	var got []string
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return got
			}
			if e.err != nil {
				t.Errorf("stream error: %v", e.err)
			}
			got = append(got, describe(e))
		case <-timeout:
			t.Fatalf("stream did not end; so far %v", got)
		}
	}
}

func next(t *testing.T, ch <-chan eventOrErr) string {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("stream ended")
		}
		if e.err != nil {
			t.Fatalf("stream error: %v", e.err)
		}
		return describe(e)
	case <-time.After(30 * time.Second):
		t.Fatal("no event")
	}
	return ""
}

type backend struct {
	name string
	// open returns a new store instance on one shared database.
	open func(t *testing.T) func(t *testing.T) store.Store
}

func backends(t *testing.T) []backend {
	bs := []backend{{"sqlite", func(t *testing.T) func(t *testing.T) store.Store {
		path := filepath.Join(t.TempDir(), "parley.db")
		return func(t *testing.T) store.Store {
			s, err := sqlite.Open(t.Context(), path, sqlite.Options{Feed: sqlstore.Options{PollInterval: 10 * time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	}}}
	if os.Getenv("PARLEY_TEST_POSTGRES_URL") != "" {
		bs = append(bs, backend{"postgres", func(t *testing.T) func(t *testing.T) store.Store {
			url := pgtest.NewSchema(t)
			return func(t *testing.T) store.Store {
				s, err := postgres.Open(t.Context(), url, postgres.Options{Feed: sqlstore.Options{PollInterval: 10 * time.Millisecond}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
		}})
	}
	return bs
}

// TestTwoReplicas runs the SDK in cluster mode twice over one shared store:
// a task started on A is streamed, listed, read and canceled on B.
func TestTwoReplicas(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			open := b.open(t)
			agent := newBlockingAgent()
			ra := newReplica(t, "replica-a", open(t), agent)
			rb := newReplica(t, "replica-b", open(t), agent)
			ctx := t.Context()
			alice, bob := as(ctx, "alice"), as(ctx, "bob")

			stream := collect(t, ra.handler.SendStreamingMessage(alice, &a2a.SendMessageRequest{
				Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart("hello")),
			}))
			var tid a2a.TaskID
			select {
			case tid = <-agent.started:
			case <-time.After(30 * time.Second):
				t.Fatal("the agent never started")
			}
			// The work queue may run the message before the stream
			// subscribes to its events: the stream then opens with the task
			// as it is (A2A lets a stream start in any state).
			switch got := next(t, stream); got {
			case "task TASK_STATE_WORKING":
			case "task TASK_STATE_SUBMITTED":
				if got := next(t, stream); got != "status TASK_STATE_WORKING" {
					t.Errorf("second streamed event = %s", got)
				}
			default:
				t.Errorf("first streamed event = %s, want the task submitted, or working already", got)
			}

			// B streams the running task: its snapshot first.
			sub := collect(t, rb.handler.SubscribeToTask(alice, &a2a.SubscribeToTaskRequest{ID: tid}))
			if got := next(t, sub); got != "task TASK_STATE_WORKING" {
				t.Errorf("subscription's first event = %s", got)
			}

			// Others do not see it; alice lists it on B.
			if _, err := rb.handler.GetTask(bob, &a2a.GetTaskRequest{ID: tid}); !errors.Is(err, a2a.ErrTaskNotFound) {
				t.Errorf("bob's GetTask = %v, want ErrTaskNotFound", err)
			}
			if l, err := rb.handler.ListTasks(bob, &a2a.ListTasksRequest{}); err != nil || len(l.Tasks) != 0 || l.TotalSize != 0 {
				t.Errorf("bob's ListTasks = %+v, %v; want none", l, err)
			}
			l, err := rb.handler.ListTasks(alice, &a2a.ListTasksRequest{})
			if err != nil || len(l.Tasks) != 1 || l.TotalSize != 1 || l.Tasks[0].ID != tid {
				t.Errorf("alice's ListTasks = %+v, %v; want her task", l, err)
			}
			if l, err := rb.handler.ListTasks(as(ctx, "admin"), &a2a.ListTasksRequest{}); err != nil || l.TotalSize != 1 {
				t.Errorf("admin's ListTasks = %+v, %v; want every task", l, err)
			}

			// alice cancels on B: both streams end with the cancelation.
			task, err := rb.handler.CancelTask(alice, &a2a.CancelTaskRequest{ID: tid})
			if err != nil || task.Status.State != a2a.TaskStateCanceled {
				t.Fatalf("CancelTask = %+v, %v", task, err)
			}
			if diff := cmp.Diff([]string{"status TASK_STATE_CANCELED"}, drain(t, sub)); diff != "" {
				t.Errorf("B's subscription after cancel (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"status TASK_STATE_CANCELED"}, drain(t, stream)); diff != "" {
				t.Errorf("A's stream after cancel (-want +got):\n%s", diff)
			}
			// The execution, released, loses to the cancelation.
			close(agent.release)
			select {
			case <-agent.done:
			case <-time.After(30 * time.Second):
				t.Fatal("the execution never returned")
			}
			// Both items, the execution and the cancelation, are settled
			// (on either replica) before the stores close.
			for range 2 {
				select {
				case <-ra.settled:
				case <-rb.settled:
				case <-time.After(30 * time.Second):
					t.Fatal("the work items were never settled")
				}
			}

			got, err := rb.handler.GetTask(alice, &a2a.GetTaskRequest{ID: tid})
			if err != nil || got.Status.State != a2a.TaskStateCanceled {
				t.Errorf("GetTask on B = %+v, %v; want canceled", got, err)
			}
			got, err = ra.handler.GetTask(alice, &a2a.GetTaskRequest{ID: tid})
			if err != nil || got.Status.State != a2a.TaskStateCanceled {
				t.Errorf("GetTask on A = %+v, %v; want canceled", got, err)
			}

			// Subscribing to a finished task: in cluster mode the SDK yields
			// the task's final state and ends, without an error.
			if diff := cmp.Diff([]string{"task TASK_STATE_CANCELED"}, drain(t, collect(t, ra.handler.SubscribeToTask(alice, &a2a.SubscribeToTaskRequest{ID: tid})))); diff != "" {
				t.Errorf("subscription to the finished task (-want +got):\n%s", diff)
			}
			if _, err := ra.handler.GetTask(alice, &a2a.GetTaskRequest{ID: "no-such-task"}); !errors.Is(err, a2a.ErrTaskNotFound) {
				t.Errorf("GetTask unknown = %v, want ErrTaskNotFound", err)
			}
		})
	}
}
