package a2astore_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv/eventqueue"
	"github.com/a2aproject/a2a-go/v2/a2asrv/push"
	"github.com/a2aproject/a2a-go/v2/a2asrv/taskstore"
	"github.com/a2aproject/a2a-go/v2/a2asrv/workqueue"
	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/a2a/a2astore"
	"github.com/parleyhq/parley/store"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

// clock is a test clock moved by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newTask(id, ctxID string, state a2a.TaskState, history, artifacts int) *a2a.Task {
	task := &a2a.Task{ID: a2a.TaskID(id), ContextID: ctxID, Status: a2a.TaskStatus{State: state}}
	for range history {
		task.History = append(task.History, a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart("m")))
	}
	for range artifacts {
		task.Artifacts = append(task.Artifacts, &a2a.Artifact{ID: a2a.NewArtifactID(), Parts: a2a.ContentParts{a2a.NewTextPart("a")}})
	}
	return task
}

func TestTaskStore(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)(t)
			clk := &clock{now: t0}
			ts := a2astore.NewTaskStore(s, a2astore.TaskStoreOptions{Now: clk.Now,
				IsAdmin: func(ctx context.Context) bool { return a2astore.CallerOf(ctx) == "admin" }})
			ctx := t.Context()
			alice, bob, admin := as(ctx, "alice"), as(ctx, "bob"), as(ctx, "admin")

			// t-0 … t-5 by alice a second apart, then one of bob's.
			for i, id := range []string{"t-0", "t-1", "t-2", "t-3", "t-4", "t-5"} {
				state := a2a.TaskStateWorking
				if i%2 == 0 {
					state = a2a.TaskStateCompleted
				}
				if v, err := ts.Create(alice, newTask(id, "ctx-"+string(rune('a'+i%2)), state, 3, 1)); err != nil || v != 1 {
					t.Fatalf("Create %s = %d, %v", id, v, err)
				}
				clk.Advance(time.Second)
			}
			if _, err := ts.Create(bob, newTask("t-bob", "ctx-a", a2a.TaskStateWorking, 0, 0)); err != nil {
				t.Fatal(err)
			}
			if _, err := ts.Create(bob, newTask("t-0", "x", a2a.TaskStateWorking, 0, 0)); !errors.Is(err, taskstore.ErrTaskAlreadyExists) {
				t.Errorf("Create of an existing ID = %v, want ErrTaskAlreadyExists", err)
			}

			// Get is scoped to the owner (admins see all).
			got, err := ts.Get(alice, "t-1")
			if err != nil || got.Version != 1 || got.User != "alice" || got.Task.ContextID != "ctx-b" || len(got.Task.History) != 3 {
				t.Errorf("Get t-1 = %+v, %v", got, err)
			}
			if _, err := ts.Get(bob, "t-1"); !errors.Is(err, a2a.ErrTaskNotFound) {
				t.Errorf("bob's Get of alice's task = %v, want ErrTaskNotFound", err)
			}
			if _, err := ts.Get(admin, "t-1"); err != nil {
				t.Errorf("admin's Get = %v", err)
			}
			if _, err := ts.Get(alice, "nope"); !errors.Is(err, a2a.ErrTaskNotFound) {
				t.Errorf("Get unknown = %v, want ErrTaskNotFound", err)
			}

			// Versions: a stale update conflicts; an unknown task is not found.
			clk.Advance(time.Second)
			t1 := newTask("t-1", "ctx-b", a2a.TaskStateCompleted, 3, 1)
			ev := a2a.NewStatusUpdateEvent(t1, a2a.TaskStateCompleted, nil)
			if v, err := ts.Update(alice, &taskstore.UpdateRequest{Task: t1, Event: ev, PrevVersion: 1}); err != nil || v != 2 {
				t.Fatalf("Update = %d, %v", v, err)
			}
			if _, err := ts.Update(alice, &taskstore.UpdateRequest{Task: t1, Event: ev, PrevVersion: 1}); !errors.Is(err, taskstore.ErrConcurrentModification) {
				t.Errorf("stale Update = %v, want ErrConcurrentModification", err)
			}
			if _, err := ts.Update(alice, &taskstore.UpdateRequest{Task: newTask("nope", "", a2a.TaskStateWorking, 0, 0), PrevVersion: 1}); !errors.Is(err, a2a.ErrTaskNotFound) {
				t.Errorf("Update unknown = %v, want ErrTaskNotFound", err)
			}

			ids := func(r *a2a.ListTasksResponse) []string {
				var out []string
				for _, task := range r.Tasks {
					out = append(out, string(task.ID))
				}
				return out
			}
			// Newest update first: t-1 was updated last.
			r, err := ts.List(alice, &a2a.ListTasksRequest{PageSize: 4})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"t-1", "t-5", "t-4", "t-3"}, ids(r)); diff != "" || r.TotalSize != 6 || r.PageSize != 4 || r.NextPageToken == "" {
				t.Errorf("first page %v, total %d, size %d, token %q (-want +got):\n%s", ids(r), r.TotalSize, r.PageSize, r.NextPageToken, diff)
			}
			// Listed tasks have no artifacts unless asked, and the default history.
			if len(r.Tasks) > 0 && (r.Tasks[0].Artifacts != nil || len(r.Tasks[0].History) != 3) {
				t.Errorf("listed task: %d artifacts, %d history", len(r.Tasks[0].Artifacts), len(r.Tasks[0].History))
			}
			r, err = ts.List(alice, &a2a.ListTasksRequest{PageSize: 4, PageToken: r.NextPageToken})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"t-2", "t-0"}, ids(r)); diff != "" || r.TotalSize != 6 || r.NextPageToken != "" {
				t.Errorf("second page %v, total %d, token %q (-want +got):\n%s", ids(r), r.TotalSize, r.NextPageToken, diff)
			}

			one, zero := 1, 0
			after := t0.Add(3 * time.Second)
			for _, tt := range []struct {
				name      string
				ctx       context.Context
				req       a2a.ListTasksRequest
				want      []string
				total     int
				history   int
				artifacts int
			}{
				{"by context", alice, a2a.ListTasksRequest{ContextID: "ctx-a"}, []string{"t-4", "t-2", "t-0"}, 3, 3, 0},
				{"by status", alice, a2a.ListTasksRequest{Status: a2a.TaskStateWorking}, []string{"t-5", "t-3"}, 2, 3, 0},
				{"status timestamp after", alice, a2a.ListTasksRequest{StatusTimestampAfter: &after}, []string{"t-1", "t-5", "t-4", "t-3"}, 4, 3, 0},
				{"history 1 with artifacts", alice, a2a.ListTasksRequest{ContextID: "ctx-b", HistoryLength: &one, IncludeArtifacts: true}, []string{"t-1", "t-5", "t-3"}, 3, 1, 1},
				{"history 0", alice, a2a.ListTasksRequest{ContextID: "ctx-b", HistoryLength: &zero}, []string{"t-1", "t-5", "t-3"}, 3, 0, 0},
				{"bob's", bob, a2a.ListTasksRequest{}, []string{"t-bob"}, 1, 0, 0},
				{"admin's", admin, a2a.ListTasksRequest{ContextID: "ctx-a"}, []string{"t-bob", "t-4", "t-2", "t-0"}, 4, -1, -1},
			} {
				t.Run(tt.name, func(t *testing.T) {
					r, err := ts.List(tt.ctx, &tt.req)
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(tt.want, ids(r)); diff != "" || r.TotalSize != tt.total {
						t.Errorf("List = %v, total %d; want total %d (-want +got):\n%s", ids(r), r.TotalSize, tt.total, diff)
					}
					for _, task := range r.Tasks {
						if tt.history >= 0 && len(task.History) != tt.history || tt.artifacts >= 0 && len(task.Artifacts) != tt.artifacts {
							t.Errorf("%s: %d history, %d artifacts; want %d, %d", task.ID, len(task.History), len(task.Artifacts), tt.history, tt.artifacts)
						}
					}
				})
			}
			for _, req := range []a2a.ListTasksRequest{{PageSize: -1}, {PageSize: 101}, {PageToken: "%%%"}, {PageToken: "bm90LWEtdG9rZW4"}} {
				if _, err := ts.List(alice, &req); !errors.Is(err, a2a.ErrInvalidRequest) {
					t.Errorf("List(%+v) = %v, want ErrInvalidRequest", req, err)
				}
			}
		})
	}
}

func TestPushConfigs(t *testing.T) {
	s := backends(t)[0].open(t)(t)
	ps := a2astore.NewPushConfigs(s, nil)
	ctx := t.Context()
	saved, err := ps.Save(ctx, "task-1", &a2a.PushConfig{URL: "https://example.com/hook", Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	if saved.ID == "" || saved.TaskID != "task-1" {
		t.Errorf("Save gave %+v, want a generated ID and the task", saved)
	}
	if _, err := ps.Save(ctx, "task-1", &a2a.PushConfig{ID: "mine", TaskID: "other", URL: "https://example.com/2"}); err != nil {
		t.Fatal(err)
	}
	list, err := ps.List(ctx, "task-1")
	if err != nil {
		t.Fatal(err)
	}
	want := []*a2a.PushConfig{saved, {ID: "mine", TaskID: "task-1", URL: "https://example.com/2"}}
	if diff := cmp.Diff(want, list); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if got, err := ps.Get(ctx, "task-1", "mine"); err != nil || got.URL != "https://example.com/2" {
		t.Errorf("Get = %+v, %v", got, err)
	}
	if _, err := ps.Get(ctx, "task-2", "mine"); !errors.Is(err, push.ErrPushConfigNotFound) {
		t.Errorf("Get of another task's = %v, want ErrPushConfigNotFound", err)
	}
	for _, bad := range []*a2a.PushConfig{nil, {}, {URL: "not a url"}} {
		if _, err := ps.Save(ctx, "task-1", bad); !errors.Is(err, a2a.ErrInvalidParams) {
			t.Errorf("Save(%+v) = %v, want ErrInvalidParams", bad, err)
		}
	}
	if err := ps.Delete(ctx, "task-1", saved.ID); err != nil {
		t.Fatal(err)
	}
	if list, _ := ps.List(ctx, "task-1"); len(list) != 1 {
		t.Errorf("after Delete: %d configs", len(list))
	}
	if err := ps.DeleteAll(ctx, "task-1"); err != nil {
		t.Fatal(err)
	}
	if list, err := ps.List(ctx, "task-1"); err != nil || list == nil || len(list) != 0 {
		t.Errorf("after DeleteAll: %v, %v; want an empty list", list, err)
	}
}

// runNotifier runs a notifier on s until the test ends.
func runNotifier(t *testing.T, s store.Store) *a2astore.Notifier {
	n := a2astore.NewNotifier(s)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.Run(ctx) })
	wg.Go(func() { _ = n.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	<-n.Ready()
	return n
}

func TestWorkQueue(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			open := b.open(t)
			sa, sb := open(t), open(t)
			clk := &clock{now: t0}
			// Polls never come in time: the test relies on wake-ups.
			qa := a2astore.NewWorkQueue(sa, a2astore.WorkQueueOptions{Owner: "a", Lease: time.Minute, Poll: time.Hour, Notifier: runNotifier(t, sa), Now: clk.Now})
			qb := a2astore.NewWorkQueue(sb, a2astore.WorkQueueOptions{Owner: "b", Lease: time.Minute, Poll: time.Hour, Notifier: runNotifier(t, sb), Now: clk.Now})
			ctx := t.Context()

			// A Read waiting on B is woken by a Write on A.
			waiting := make(chan struct{}, 1)
			a2astore.SetWaitHook(qb, func() {
				select {
				case waiting <- struct{}{}:
				default:
				}
			})
			read := make(chan workqueue.Message, 1)
			var wg sync.WaitGroup
			wg.Go(func() {
				m, err := qb.Read(ctx)
				if err != nil {
					t.Errorf("Read: %v", err)
				}
				read <- m
			})
			payload := &workqueue.Payload{Type: workqueue.PayloadTypeExecute, TaskID: "task-1",
				ExecuteRequest: &a2a.SendMessageRequest{Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart("hi"))},
				CallContext:    map[string]any{"k": "v"}}
			<-waiting
			if tid, err := qa.Write(ctx, payload); err != nil || tid != "task-1" {
				t.Fatalf("Write = %q, %v", tid, err)
			}
			var m workqueue.Message
			select {
			case m = <-read:
			case <-time.After(30 * time.Second):
				t.Fatal("the waiting Read was not woken")
			}
			wg.Wait()
			if m == nil {
				t.FailNow()
			}
			if diff := cmp.Diff(payload, m.Payload()); diff != "" {
				t.Errorf("payload round trip (-want +got):\n%s", diff)
			}
			hb, ok := m.(workqueue.Heartbeater)
			if !ok || hb.HeartbeatInterval() != 20*time.Second {
				t.Fatalf("message is no Heartbeater with a third of the lease: %v", ok)
			}

			// B heartbeats at +50s: at +90s its lease still runs, so A finds
			// nothing; at +111s the lease ended and A takes the item over.
			clk.Advance(50 * time.Second)
			if err := hb.Heartbeat(ctx); err != nil {
				t.Fatal(err)
			}
			clk.Advance(40 * time.Second)
			if _, err := sa.ClaimA2AWork(ctx, "probe", clk.Now(), time.Second); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("claim during the extended lease = %v, want ErrNotFound", err)
			}
			clk.Advance(21 * time.Second)
			ma, err := qa.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ma.Payload().TaskID != "task-1" {
				t.Errorf("A took over %q", ma.Payload().TaskID)
			}
			if err := hb.Heartbeat(ctx); err == nil {
				t.Error("B's heartbeat after losing the item succeeded")
			}
			if err := m.Complete(ctx); err == nil {
				t.Error("B completed an item it lost")
			}
			// A returns it; B gets it back at once, then completes it.
			if err := ma.Return(ctx, errors.New("test")); err != nil {
				t.Fatal(err)
			}
			mb, err := qb.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := mb.Complete(ctx); err != nil {
				t.Fatal(err)
			}

			// Close ends a waiting Read with ErrQueueClosed; so does ctx.
			done := make(chan error, 1)
			go func() { _, err := qa.Read(context.Background()); done <- err }()
			qa.Close()
			if err := <-done; !errors.Is(err, workqueue.ErrQueueClosed) {
				t.Errorf("Read after Close = %v, want ErrQueueClosed", err)
			}
			cctx, cancel := context.WithCancel(ctx)
			go func() { _, err := qb.Read(cctx); done <- err }()
			cancel()
			if err := <-done; !errors.Is(err, workqueue.ErrQueueClosed) {
				t.Errorf("Read after its ctx ended = %v, want ErrQueueClosed", err)
			}
		})
	}
}

func TestEventsPull(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			open := b.open(t)
			sw, sr := open(t), open(t)
			ts := a2astore.NewTaskStore(sw, a2astore.TaskStoreOptions{})
			ctx := t.Context()
			task := newTask("task-1", "ctx", a2a.TaskStateSubmitted, 0, 0)
			if _, err := ts.Create(ctx, task); err != nil {
				t.Fatal(err)
			}
			// The puller starts after the events that exist when it is made.
			ev := a2astore.NewEvents(sr, a2astore.EventsOptions{Notifier: runNotifier(t, sr), Poll: time.Hour, MaxWait: time.Hour})
			p, err := ev.Provider(ctx, "task-1")
			if err != nil {
				t.Fatal(err)
			}
			type result struct {
				resp *eventqueue.PullResponse
				err  error
			}
			waiting := make(chan struct{}, 1)
			a2astore.SetPullWaitHook(ev, func() {
				select {
				case waiting <- struct{}{}:
				default:
				}
			})
			pulled := make(chan result, 1)
			go func() { r, err := p.Pull(ctx, "task-1", nil); pulled <- result{r, err} }()
			<-waiting
			// A write on the other instance wakes the waiting pull.
			working := a2a.NewStatusUpdateEvent(task, a2a.TaskStateWorking, nil)
			task.Status.State = a2a.TaskStateWorking
			if _, err := ts.Update(ctx, &taskstore.UpdateRequest{Task: task, Event: working, PrevVersion: 0}); err != nil {
				t.Fatal(err)
			}
			var r result
			select {
			case r = <-pulled:
			case <-time.After(30 * time.Second):
				t.Fatal("the waiting pull was not woken")
			}
			if r.err != nil || len(r.resp.Messages) != 1 {
				t.Fatalf("Pull = %+v, %v; want the one new event", r.resp, r.err)
			}
			msg := r.resp.Messages[0]
			if se, ok := msg.Event.(*a2a.TaskStatusUpdateEvent); !ok || se.Status.State != a2a.TaskStateWorking || msg.TaskVersion != 2 {
				t.Errorf("pulled %#v at version %d; want the working update at version 2", msg.Event, msg.TaskVersion)
			}
			// A user message added to the history is not an event; the
			// next status is, after the cursor.
			if _, err := ts.Update(ctx, &taskstore.UpdateRequest{Task: task, Event: a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart("more")), PrevVersion: 2}); err != nil {
				t.Fatal(err)
			}
			task.Status.State = a2a.TaskStateCompleted
			if _, err := ts.Update(ctx, &taskstore.UpdateRequest{Task: task, Event: a2a.NewStatusUpdateEvent(task, a2a.TaskStateCompleted, nil), PrevVersion: 3}); err != nil {
				t.Fatal(err)
			}
			resp, err := p.Pull(ctx, "task-1", r.resp.Cursor)
			if err != nil || len(resp.Messages) != 1 || resp.Messages[0].TaskVersion != 4 {
				t.Fatalf("second Pull = %+v, %v; want the completion at version 4", resp, err)
			}
			if data, _ := json.Marshal(resp.Messages[0]); !json.Valid(data) {
				t.Errorf("pulled message does not marshal: %s", data)
			}

			// With nothing new, a pull returns empty after MaxWait, keeping
			// its cursor; ending ctx ends it at once.
			short := a2astore.NewEvents(sr, a2astore.EventsOptions{MaxWait: time.Millisecond, Poll: time.Hour})
			ps, err := short.Provider(ctx, "task-1")
			if err != nil {
				t.Fatal(err)
			}
			resp, err = ps.Pull(ctx, "task-1", int64(1<<40))
			if err != nil || len(resp.Messages) != 0 || resp.Cursor != int64(1<<40) {
				t.Errorf("idle Pull = %+v, %v; want empty at the same cursor", resp, err)
			}
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if _, err := p.Pull(cctx, "task-1", int64(1<<40)); !errors.Is(err, context.Canceled) {
				t.Errorf("Pull with an ended ctx = %v", err)
			}
		})
	}
}

// TestWorkQueueDrain: Drain waits for the items the queue handed out to
// be completed or returned, and gives up when its context ends.
func TestWorkQueueDrain(t *testing.T) {
	st := backends(t)[0].open(t)(t)
	q := a2astore.NewWorkQueue(st, a2astore.WorkQueueOptions{Owner: "a", Lease: time.Minute, Poll: time.Hour, Notifier: runNotifier(t, st)})
	ctx := t.Context()
	if err := q.Drain(ctx); err != nil {
		t.Fatalf("Drain of a queue that handed nothing out: %v", err)
	}
	for _, id := range []string{"task-1", "task-2"} {
		if _, err := q.Write(ctx, &workqueue.Payload{Type: workqueue.PayloadTypeExecute, TaskID: a2a.TaskID(id),
			ExecuteRequest: &a2a.SendMessageRequest{Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart("hi"))}}); err != nil {
			t.Fatal(err)
		}
	}
	var held []workqueue.Message
	for range 2 {
		m, err := q.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, m)
	}
	q.Close()
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if err := q.Drain(gone); !errors.Is(err, context.Canceled) {
		t.Errorf("Drain with two items held and its context ended = %v, want context.Canceled", err)
	}
	drained := make(chan error, 1)
	go func() { drained <- q.Drain(ctx) }()
	if err := held[0].Complete(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-drained:
		t.Fatalf("Drain returned (%v) with an item still held", err)
	default:
	}
	if err := held[1].Return(ctx, errors.New("stopping")); err != nil {
		t.Fatal(err)
	}
	if err := <-drained; err != nil {
		t.Errorf("Drain after both items settled: %v", err)
	}
}
