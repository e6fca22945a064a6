package a2a

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/a2aproject/a2a-go/v2/a2asrv/eventqueue"
	"github.com/a2aproject/a2a-go/v2/a2asrv/workqueue"
	"google.golang.org/grpc"

	"github.com/parleyhq/parley/a2a/a2astore"
	"github.com/parleyhq/parley/mcpbridge"
	"github.com/parleyhq/parley/store/sqlite"
	"github.com/parleyhq/parley/workspace"
)

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
func startDurableGateway(t *testing.T, st *sqlite.Store, w wiring) *gateway {
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
	wrap := func(m func(http.Handler) http.Handler, h http.Handler) http.Handler {
		if m == nil {
			return h
		}
		return m(h)
	}
	mux.Handle(JSONRPCPath, wrap(w.jsonrpc, srv.JSONRPCHandler()))
	// The middleware sees the path relative to RESTPath, as app.go mounts
	// it (audit's describe reads it with RESTMethod).
	mux.Handle(RESTPath+"/", http.StripPrefix(RESTPath, wrap(w.rest, srv.RESTHandler())))
	mux.Handle(a2asrv.WellKnownAgentCardPath, srv.CardHandler())
	if err := srv.ListenGRPC(t.Context()); err != nil {
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
			// tasks it runs finish.
			work.Close()
			wg.Wait()
		})
	}
	t.Cleanup(g.stop)
	return g
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

// TestTasksSurviveRestart: on every binding, a task finished through one
// server is read after that server and its store are closed and a new
// server is opened on the same SQLite file: whole, with its owner (who
// alone reaches it still).
func TestTasksSurviveRestart(t *testing.T) {
	for _, b := range bindings {
		t.Run(b.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "parley.db")
			st := openStore(t, path)
			first := startDurableGateway(t, st, wiring{})
			task := send(t, first.client(t, b, "alice"),
				toolMessage(mcpbridge.ToolSaveTicket, map[string]any{"customer": "Persisted"}))
			if task.Status.State != a2ago.TaskStateCompleted {
				t.Fatalf("state = %s (%s)", task.Status.State, statusText(task.Status))
			}
			first.stop()
			if err := st.Close(); err != nil {
				t.Fatalf("closing the first store: %v", err)
			}

			second := startDurableGateway(t, openStore(t, path), wiring{})
			got, err := second.client(t, b, "alice").GetTask(t.Context(), &a2ago.GetTaskRequest{ID: task.ID})
			if err != nil {
				t.Fatalf("GetTask after restart: %v", err)
			}
			data, _ := artifactData(t, got, mcpbridge.ToolSaveTicket)
			ticket, _ := data["ticket"].(map[string]any)
			if ticket["customer"] != "Persisted" || got.ID != task.ID || got.ContextID != task.ContextID {
				t.Errorf("after restart task = %+v, data %v; want task %s in context %s with the ticket of Persisted",
					got, data, task.ID, task.ContextID)
			}
			// The owner survives too: another caller still finds nothing.
			if _, err := second.client(t, b, "bob").GetTask(t.Context(), &a2ago.GetTaskRequest{ID: task.ID}); !isNotFound(err) {
				t.Errorf("bob's GetTask of alice's task after restart: %v, want task not found", err)
			}
		})
	}
}
