package a2a

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv/eventqueue"
	"github.com/a2aproject/a2a-go/v2/a2asrv/workqueue"
	"google.golang.org/grpc"

	"github.com/parleyhq/parley/a2a/a2astore"
	"github.com/parleyhq/parley/mcpbridge"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
	"github.com/parleyhq/parley/workspace"
)

// durableGateway is the face as the app builds it (see
// startDurableGateway), with its durable task store and work queue for
// tests that reach under the face.
type durableGateway struct {
	*gateway
	tasks *a2astore.TaskStore
	work  *a2astore.WorkQueue
}

// wiring is what the gateway's assembly puts around the face (app/a2a.go,
// app/app.go): middleware around the JSON-RPC and REST handlers, gRPC
// server options, and a loop that runs beside the servers (the audit
// log's group commit). Zero: nothing.
type wiring struct {
	jsonrpc, rest func(http.Handler) http.Handler
	grpc          []grpc.ServerOption
	run           func(ctx context.Context) error
}

// startDurableGateway is the face as the gateway assembles it
// (app/a2a.go) over st: tasks in the durable store (a2astore), their
// owners read from it, run through its work queue and followed through
// its event log; push-notification configs in it too. Its stop does not
// close st: the test does, so that a restart can open the file again.
// TestClusterMode, TestTasksSurviveRestart and the audit tests use it.
func startDurableGateway(t *testing.T, st *sqlite.Store, w wiring) *durableGateway {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ws := workspace.New(st, workspace.Options{})
	bridge, err := mcpbridge.New(ws, st, mcpbridge.Options{})
	if err != nil {
		t.Fatal(err)
	}
	notifier := a2astore.NewNotifier(st)
	tasks := a2astore.NewTaskStore(st, a2astore.TaskStoreOptions{IsAdmin: isRoot, Logger: logger})
	work := a2astore.NewWorkQueue(st, a2astore.WorkQueueOptions{Notifier: notifier, Logger: logger})
	events := a2astore.NewEvents(st, a2astore.EventsOptions{Notifier: notifier, Logger: logger})

	mux := http.NewServeMux()
	hs := httptest.NewServer(mux)
	srv, err := NewServer(Options{
		Tools: NewMCPTools(bridge.Server(), nil),
		Tasks: tasks,
		Owner: func(ctx context.Context, id string) (string, error) {
			task, err := st.GetA2ATask(ctx, id)
			return task.Caller, err
		},
		Cluster: &Cluster{
			WorkQueue: workqueue.NewPullQueue(work, nil),
			Events:    eventqueue.NewPullQueueManager(events.Provider, eventqueue.PullConfig{PollInterval: 10 * time.Millisecond}),
		},
		PushConfigs:       a2astore.NewPushConfigs(st, logger),
		PushClient:        &http.Client{},
		PublicURL:         hs.URL,
		GRPCListen:        "127.0.0.1:0",
		Principal:         headerPrincipal,
		IsAdmin:           isRoot,
		GRPCServerOptions: w.grpc,
		Logger:            logger,
	})
	if err != nil {
		hs.Close()
		t.Fatal(err)
	}
	if err := mount(t.Context(), mux, srv, w); err != nil {
		hs.Close()
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := notifier.Run(ctx); err != nil {
			t.Errorf("notifier: %v", err)
		}
	})
	wg.Go(func() {
		if err := srv.Run(ctx); err != nil {
			t.Errorf("gRPC Run: %v", err)
		}
	})
	if w.run != nil {
		wg.Go(func() {
			if err := w.run(ctx); err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
	// Work queued before the notifier listens waits for the queue's poll
	// (seconds); the test's first message must not.
	select {
	case <-notifier.Ready():
	case <-t.Context().Done():
	}
	var once sync.Once
	g := &gateway{st: st, srv: srv, http: hs}
	g.stop = func() {
		once.Do(func() {
			hs.CloseClientConnections()
			hs.Close()
			cancel()
			// As app.closeA2AWorkOnEnd: the SDK's pull loop ends once the
			// tasks it runs finish, and they finish before the store closes.
			work.Close()
			dctx, dcancel := context.WithTimeout(context.Background(), 30*time.Second) // a hang guard
			if err := work.Drain(dctx); err != nil {
				t.Errorf("drain the work queue: %v", err)
			}
			dcancel()
			wg.Wait()
		})
	}
	t.Cleanup(g.stop)
	return &durableGateway{gateway: g, tasks: tasks, work: work}
}

// openStore opens the SQLite file at path, closed when the test ends
// unless the test closed it before.
func openStore(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { st.Close() }) })
	return st
}

// TestClusterMode: with tasks run through the work queue and followed
// through the event log, every binding sends, streams and gets as without.
func TestClusterMode(t *testing.T) {
	g := startDurableGateway(t, openStore(t, filepath.Join(t.TempDir(), "parley.db")), wiring{})
	for _, b := range bindings {
		t.Run(b.name, func(t *testing.T) {
			c := g.client(t, b, "alice")
			task := send(t, c, toolMessage(mcpbridge.ToolGetStatus, nil))
			artifactData(t, task, mcpbridge.ToolGetStatus)
			var states []a2ago.TaskState
			for ev, err := range c.SendStreamingMessage(t.Context(), toolMessage(mcpbridge.ToolGetStatus, nil)) {
				if err != nil {
					t.Fatalf("stream: %v", err)
				}
				switch ev := ev.(type) {
				case *a2ago.Task:
					states = append(states, ev.Status.State)
				case *a2ago.TaskStatusUpdateEvent:
					states = append(states, ev.Status.State)
				}
			}
			if len(states) == 0 || states[len(states)-1] != a2ago.TaskStateCompleted {
				t.Errorf("streamed states %v, want them to end completed", states)
			}
			got, err := c.GetTask(t.Context(), &a2ago.GetTaskRequest{ID: task.ID})
			if err != nil || got.Status.State != a2ago.TaskStateCompleted {
				t.Errorf("get: %v, %v", got, err)
			}
		})
	}
}

// TestInterruptedTaskIsNotRunAgain: a message whose replica stopped while
// it ran comes back from the work queue when its lease lapses, with its
// task stored and not ended. The tool is not called a second time (it may
// have run, and written); the task fails, saying so.
func TestInterruptedTaskIsNotRunAgain(t *testing.T) {
	g := startDurableGateway(t, openStore(t, filepath.Join(t.TempDir(), "parley.db")), wiring{})
	ctx := t.Context()
	msg := a2ago.NewMessage(a2ago.MessageRoleUser, a2ago.NewDataPart(map[string]any{
		"tool": mcpbridge.ToolSaveTicket, "arguments": map[string]any{"customer": "ACME", "category": "billing", "summary": "twice"},
	}))
	task := a2ago.NewSubmittedTask(a2ago.TaskInfo{TaskID: a2ago.NewTaskID(), ContextID: a2ago.NewContextID()}, msg)
	msg.TaskID, msg.ContextID = task.ID, task.ContextID
	task.History = []*a2ago.Message{msg}
	task.Status = a2ago.TaskStatus{State: a2ago.TaskStateWorking}
	if _, err := g.tasks.Create(ctx, task); err != nil { // anonymous, as the queued call below
		t.Fatal(err)
	}
	c := g.client(t, bindings[0], "")
	var last *a2ago.TaskStatusUpdateEvent
	queued := false
	for ev, err := range c.SubscribeToTask(ctx, &a2ago.SubscribeToTaskRequest{ID: task.ID}) {
		if err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		if u, ok := ev.(*a2ago.TaskStatusUpdateEvent); ok {
			last = u
		}
		// The subscription starts with the task as stored: only then does
		// the message come back from the queue, so that its end is seen.
		if !queued {
			queued = true
			if _, err := g.work.Write(ctx, &workqueue.Payload{Type: workqueue.PayloadTypeExecute, TaskID: task.ID,
				ExecuteRequest: &a2ago.SendMessageRequest{Message: msg}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if last == nil || last.Status.State != a2ago.TaskStateFailed || !strings.Contains(statusText(last.Status), "stopped before it finished") {
		t.Fatalf("last event %+v, want the task failed as interrupted", last)
	}
	tickets, _, err := g.st.ListTickets(ctx, store.TicketFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tickets) != 0 {
		t.Errorf("%d tickets saved: the interrupted tool ran again", len(tickets))
	}
}
