package a2a

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/a2aproject/a2a-go/v2/a2asrv/eventqueue"
	"github.com/a2aproject/a2a-go/v2/a2asrv/workqueue"

	"github.com/parleyhq/parley/a2a/a2astore"
	"github.com/parleyhq/parley/mcpbridge"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
	"github.com/parleyhq/parley/workspace"
)

// clusterGateway is the face as the app builds it: durable tasks, and
// every message run through the work queue and followed through the event
// log, both over a SQLite store.
type clusterGateway struct {
	*gateway
	tasks *a2astore.TaskStore
	work  *a2astore.WorkQueue
}

func startClusterGateway(t *testing.T) *clusterGateway {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ws := workspace.New(st, workspace.Options{})
	bridge, err := mcpbridge.New(ws, st, mcpbridge.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	notifier := a2astore.NewNotifier(st)
	notified := make(chan error, 1)
	go func() { notified <- notifier.Run(ctx) }()
	tasks := a2astore.NewTaskStore(st, a2astore.TaskStoreOptions{IsAdmin: isRoot})
	work := a2astore.NewWorkQueue(st, a2astore.WorkQueueOptions{Notifier: notifier})
	events := a2astore.NewEvents(st, a2astore.EventsOptions{Notifier: notifier})
	mux := http.NewServeMux()
	hs := httptest.NewServer(mux)
	srv, err := NewServer(Options{
		Tools: NewMCPTools(bridge.Server(), nil),
		Tasks: tasks,
		Owner: func(ctx context.Context, id string) (string, error) {
			t, err := st.GetA2ATask(ctx, id)
			return t.Caller, err
		},
		Cluster: &Cluster{
			WorkQueue: workqueue.NewPullQueue(work, nil),
			Events:    eventqueue.NewPullQueueManager(events.Provider, eventqueue.PullConfig{PollInterval: 10 * time.Millisecond}),
		},
		PublicURL:  hs.URL,
		GRPCListen: "127.0.0.1:0",
		Principal:  headerPrincipal,
		IsAdmin:    isRoot,
		Logger:     slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(JSONRPCPath, srv.JSONRPCHandler())
	mux.Handle(RESTPath+"/", http.StripPrefix(RESTPath, srv.RESTHandler()))
	mux.Handle(a2asrv.WellKnownAgentCardPath, srv.CardHandler())
	if err := srv.ListenGRPC(t.Context()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-notifier.Ready():
	case <-t.Context().Done():
		t.Fatal("the notifier did not start")
	}
	g := &gateway{st: st, srv: srv, http: hs}
	g.stop = func() {
		hs.CloseClientConnections()
		hs.Close()
		cancel()
		_ = work.Close()
		if err := <-done; err != nil {
			t.Errorf("gRPC Run: %v", err)
		}
		<-notified
		st.Close()
	}
	t.Cleanup(g.stop)
	return &clusterGateway{gateway: g, tasks: tasks, work: work}
}

// TestClusterMode: with tasks run through the work queue and followed
// through the event log, every binding sends, streams and gets as without.
func TestClusterMode(t *testing.T) {
	g := startClusterGateway(t)
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
	g := startClusterGateway(t)
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
