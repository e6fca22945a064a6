package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	a2ago "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"
	"github.com/go-chi/chi/v5"

	"github.com/parleyhq/parley/a2a"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
)

// agentName is the registry name of the benchmark's agent.
const agentName = "bench-agent"

// Answers the agent gives.
const (
	// AnswerTask: a completed task (one event: the task, state completed,
	// with the agent's reply as its status message). The relay records
	// each one in the store, as in production.
	AnswerTask = "task"
	// AnswerMessage: a message. No task, so the relay records nothing.
	AnswerMessage = "message"
)

// executor answers every message at once, without waiting on anything.
type executor struct{ answer string }

func (e executor) Execute(ctx context.Context, reqCtx *a2asrv.RequestContext, q eventqueue.Queue) error {
	if e.answer == AnswerMessage {
		return q.Write(ctx, a2ago.NewMessage(a2ago.MessageRoleAgent, a2ago.TextPart{Text: "pong"}))
	}
	now := time.Now()
	task := &a2ago.Task{
		ID:        reqCtx.TaskID,
		ContextID: reqCtx.ContextID,
		Status: a2ago.TaskStatus{
			State:     a2ago.TaskStateCompleted,
			Message:   a2ago.NewMessageForTask(a2ago.MessageRoleAgent, reqCtx, a2ago.TextPart{Text: "pong"}),
			Timestamp: &now,
		},
	}
	if reqCtx.Message != nil {
		task.History = []*a2ago.Message{reqCtx.Message}
	}
	return q.Write(ctx, task)
}

func (executor) Cancel(context.Context, *a2asrv.RequestContext, eventqueue.Queue) error {
	return a2ago.ErrTaskNotCancelable
}

// agentCard is the agent's A2A 0.3 card: JSON-RPC at url.
func agentCard(url string) *a2ago.AgentCard {
	return &a2ago.AgentCard{
		Name:               agentName,
		Description:        "answers every message at once (a2arelay benchmark)",
		URL:                url,
		PreferredTransport: a2ago.TransportProtocolJSONRPC,
		ProtocolVersion:    "0.3.0",
		Version:            "1.0.0",
		Capabilities:       a2ago.AgentCapabilities{Streaming: true},
		DefaultInputModes:  []string{"text/plain"},
		DefaultOutputModes: []string{"text/plain"},
		Skills: []a2ago.AgentSkill{{
			ID: "pong", Name: "Pong", Description: "answers pong", Tags: []string{"bench"},
		}},
	}
}

// server is an http.Server on a 127.0.0.1 listener that counts the
// connections it accepts.
type server struct {
	srv   *http.Server
	url   string // http://127.0.0.1:port
	conns atomic.Int64
	done  chan error
	once  sync.Once
}

// startServer serves h on a fresh 127.0.0.1 port. With labels, the
// server's goroutines (and the connection goroutines they start) carry
// them in CPU profiles.
func startServer(ctx context.Context, h http.Handler, labels pprof.LabelSet) (*server, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &server{url: "http://" + ln.Addr().String(), done: make(chan error, 1)}
	s.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.conns.Add(1)
			}
		},
	}
	go pprof.Do(context.Background(), labels, func(context.Context) {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	})
	return s, nil
}

// close shuts the server down (at most 5s for calls in flight), once.
func (s *server) close() {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			_ = s.srv.Close()
		}
		<-s.done
	})
}

// env is the agent and Parley's relay in front of it.
type env struct {
	dir      string
	dbPath   string
	st       *sqlite.Store
	reg      *agentcards.Registry
	relay    *a2a.Relay
	agent    *server
	gateway  *server
	logs     *countingHandler
	relayURL string // the relay's JSON-RPC endpoint for the agent

	closeOnce sync.Once
}

// setup starts the agent, registers it by URL in a registry over a fresh
// SQLite file, and starts the relay in front of it as cmd/gateway mounts
// it: in a chi router at a2a.RelayPath, with the registry guard's
// transport and the relayed tasks recorded in the store.
func setup(ctx context.Context, cfg *Config) (_ *env, err error) {
	e := &env{logs: &countingHandler{}}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if e.dir, err = os.MkdirTemp("", "a2arelay-*"); err != nil {
		return nil, err
	}
	e.dbPath = filepath.Join(e.dir, "parley.db")
	if e.st, err = sqlite.Open(ctx, e.dbPath, sqlite.Options{}); err != nil {
		return nil, err
	}

	// The agent: a2a-go's JSON-RPC server at the root, its card at the
	// well-known path.
	var card atomic.Pointer[a2ago.AgentCard]
	mux := http.NewServeMux()
	mux.Handle(a2asrv.WellKnownAgentCardPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a2asrv.NewStaticAgentCardHandler(card.Load()).ServeHTTP(w, r)
	}))
	var rpc http.Handler = a2asrv.NewJSONRPCHandler(a2asrv.NewHandler(executor{answer: cfg.Answer}))
	if cfg.Labels {
		rpc = viaLabel(rpc)
	}
	mux.Handle("/", rpc)
	if e.agent, err = startServer(ctx, mux, pprof.Labels("role", "agent")); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	card.Store(agentCard(e.agent.url + "/"))

	// Parley: registry, relay, router, server. The listener is bound
	// before the relay is built, as serve does, so that the rewritten
	// card names the port.
	e.reg = agentcards.New(e.st, agentcards.Options{AllowPrivate: true, HealthInterval: -1})
	if _, err = e.reg.Register(ctx, agentcards.Registration{URL: e.agent.url}); err != nil {
		return nil, fmt.Errorf("register the agent: %w", err)
	}
	// What-if experiments (off by default): production as it is.
	if cfg.RelayIdlePerHost > 0 {
		e.reg.Guard().Transport().MaxIdleConnsPerHost = cfg.RelayIdlePerHost
	}
	var dir a2a.Directory = e.reg
	if cfg.CacheAgents {
		dir = &cachedDirectory{next: e.reg, agents: map[string]agentcards.Agent{}}
	}
	var tasks store.RelayedTasks = e.st
	if cfg.NoRecord {
		tasks = nil
	}
	router := chi.NewRouter()
	if e.gateway, err = startServer(ctx, router, pprof.Labels("role", "relay")); err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	// The relay's recorder starts its workers here: they carry the label.
	pprof.Do(ctx, pprof.Labels("role", "recorder"), func(context.Context) {
		e.relay, err = a2a.NewRelay(a2a.RelayOptions{
			Registry:  dir,
			Transport: e.reg.Guard().Transport(),
			Tasks:     tasks,
			PublicURL: e.gateway.url,
			Logger:    slog.New(e.logs),
		})
	})
	if err != nil {
		return nil, err
	}
	router.Mount(a2a.RelayPath, e.relay)
	e.relayURL = e.relay.AgentURL(agentName)
	return e, nil
}

// close stops the servers, finishes recording, closes the store and
// removes the temp dir.
func (e *env) close() {
	e.closeOnce.Do(func() {
		if e.gateway != nil {
			e.gateway.close()
		}
		if e.relay != nil {
			_ = e.relay.Close()
		}
		if e.agent != nil {
			e.agent.close()
		}
		if e.st != nil {
			_ = e.st.Close()
		}
		if e.dir != "" {
			_ = os.RemoveAll(e.dir)
		}
	})
}

// recordedTasks finishes recording (closing the relay: call it after the
// load) and counts the relayed tasks in the store.
func (e *env) recordedTasks(ctx context.Context) (int64, error) {
	_ = e.relay.Close()
	db, err := sql.Open("sqlite", e.dbPath+"?_pragma=query_only(1)&_pragma=busy_timeout(5000)")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int64
	err = db.QueryRowContext(ctx, "SELECT count(*) FROM relayed_tasks").Scan(&n)
	return n, err
}

// viaLabel labels the agent's work on a call by who made it, so that a
// CPU profile tells the agent's share of direct and relayed calls apart
// (the relay calls as User-Agent parley-gateway).
func viaLabel(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		via := "direct"
		if r.Header.Get("User-Agent") == "parley-gateway" {
			via = "relay"
		}
		pprof.Do(r.Context(), pprof.Labels("role", "agent", "via", via), func(ctx context.Context) {
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	})
}

// cachedDirectory keeps every agent it has looked up, forever: the
// -cache-agents experiment, standing for a registry cache that the store's
// change feed (store.KindAgent) would keep fresh. The benchmark's agent
// never changes, so nothing goes stale here.
type cachedDirectory struct {
	next   a2a.Directory
	mu     sync.RWMutex
	agents map[string]agentcards.Agent // by lower-cased name
}

func (d *cachedDirectory) Get(ctx context.Context, name string) (agentcards.Agent, error) {
	key := strings.ToLower(name)
	d.mu.RLock()
	a, ok := d.agents[key]
	d.mu.RUnlock()
	if ok {
		return a, nil
	}
	a, err := d.next.Get(ctx, name)
	if err != nil {
		return a, err
	}
	d.mu.Lock()
	d.agents[key] = a
	d.mu.Unlock()
	return a, nil
}

// countingHandler is the relay's slog handler: it counts warnings and
// errors (an agent call that failed, a relayed task that could not be
// recorded or was dropped from a full queue) and keeps the first.
type countingHandler struct {
	warnings atomic.Int64
	mu       sync.Mutex
	first    string
}

func (h *countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if h.warnings.Add(1) == 1 {
		msg := r.Level.String() + " " + r.Message
		r.Attrs(func(a slog.Attr) bool {
			msg += " " + a.String()
			return true
		})
		h.mu.Lock()
		h.first = msg
		h.mu.Unlock()
	}
	return nil
}

func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

func (h *countingHandler) firstWarning() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.first
}
