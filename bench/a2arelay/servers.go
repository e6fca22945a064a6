package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	a2ago "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"

	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/bench/internal/logcount"
	"github.com/parleyhq/parley/bench/internal/shipped"
	_ "github.com/parleyhq/parley/store/sqlite" // the "sqlite" driver, to count the recorded tasks
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

// env is the agent and the gateway in front of it.
type env struct {
	dir        string
	dbPath     string
	agent      *server
	gw         *shipped.Gateway
	relayConns atomic.Int64 // connections the gateway accepted
	logs       logcount.Counter
	relayURL   string // the relay's JSON-RPC endpoint for the agent

	closeOnce sync.Once
	stopOnce  sync.Once
	stopErr   error
}

// setup starts the agent, then the gateway as it ships (app.Build from
// config.Default(): SQLite in a temp dir, auth off, private agent URLs
// allowed, the agent prober off), and registers the agent by URL in its
// registry, as an operator does through the admin API.
func setup(ctx context.Context, cfg *Config) (_ *env, err error) {
	e := &env{}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if e.dir, err = os.MkdirTemp("", "a2arelay-*"); err != nil {
		return nil, err
	}
	e.dbPath = filepath.Join(e.dir, "parley.db")

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

	gcfg := shipped.Config("sqlite://" + e.dbPath)
	gcfg.AllowPrivateAgentURLs = true
	gcfg.Agents.HealthInterval = -1 // nothing here changes; no probes in the figures
	if e.gw, err = shipped.Start(ctx, gcfg, shipped.Options{
		Handler: e.logs.Handler,
		Labels:  pprof.Labels("role", "relay"),
		Listener: func(ln net.Listener) net.Listener {
			return &countingListener{Listener: ln, n: &e.relayConns}
		},
	}); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if _, err = e.gw.Registry.Register(ctx, agentcards.Registration{URL: e.agent.url}); err != nil {
		return nil, fmt.Errorf("register the agent: %w", err)
	}
	// What-if (off by default): production as it is.
	if cfg.RelayIdlePerHost > 0 {
		e.gw.Registry.Guard().Transport().MaxIdleConnsPerHost = cfg.RelayIdlePerHost
	}
	e.relayURL = e.gw.Relay.AgentURL(agentName)
	// The gateway's start-up warnings (no auth, private agent URLs) are
	// this setup's choice; what is counted is what the load causes.
	e.logs.Reset()
	return e, nil
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// stopGateway drains and closes the gateway (recording every relayed task
// still queued), once.
func (e *env) stopGateway() error {
	e.stopOnce.Do(func() {
		if e.gw != nil {
			e.stopErr = e.gw.Close()
		}
	})
	return e.stopErr
}

// close stops the gateway and the agent and removes the temp dir.
func (e *env) close() {
	e.closeOnce.Do(func() {
		_ = e.stopGateway()
		if e.agent != nil {
			e.agent.close()
		}
		if e.dir != "" {
			_ = os.RemoveAll(e.dir)
		}
	})
}

// recordedTasks counts the relayed tasks in the store (after
// stopGateway, which finishes recording).
func (e *env) recordedTasks(ctx context.Context) (int64, error) {
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
