package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	a2a "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2acompat/a2av0"
	a2agrpc "github.com/a2aproject/a2a-go/v2/a2agrpc/v1"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/parleyhq/parley/adminapi"
	"github.com/parleyhq/parley/api"
	"github.com/parleyhq/parley/bench/internal/child"
	"github.com/parleyhq/parley/bench/internal/shipped"
	"github.com/parleyhq/parley/config"
	_ "github.com/parleyhq/parley/store/sqlite" // the "sqlite" driver, to count the recorded tasks
)

// The servers run in child processes of their own (this program started
// again, see package child), so that each one's CPU time is read from its
// own process, not mixed with the clients' or the others'.
const (
	childAgent  = "a2arelay-agent"  // the a2a-go v2 agent
	childProxy  = "a2arelay-proxy"  // a bare httputil.ReverseProxy in front of it
	childParley = "a2arelay-parley" // the gateway as shipped (app.Build), relaying to it
)

// Names of the servers in reports and profile file names.
const (
	serverAgent  = "agent"
	serverProxy  = "proxy"
	serverParley = "parley"
)

// serveFuncs are the child processes this program can be.
var serveFuncs = map[string]child.Func{
	childAgent:  serveAgent,
	childProxy:  serveProxy,
	childParley: serveParley,
}

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

func (e executor) Execute(_ context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2a.Event, error] {
	return func(yield func(a2a.Event, error) bool) {
		if e.answer == AnswerMessage {
			yield(a2a.NewMessage(a2a.MessageRoleAgent, a2a.NewTextPart("pong")), nil)
			return
		}
		now := time.Now()
		task := &a2a.Task{
			ID:        ec.TaskID,
			ContextID: ec.ContextID,
			Status: a2a.TaskStatus{
				State:     a2a.TaskStateCompleted,
				Message:   a2a.NewMessageForTask(a2a.MessageRoleAgent, ec, a2a.NewTextPart("pong")),
				Timestamp: &now,
			},
		}
		if ec.Message != nil {
			task.History = []*a2a.Message{ec.Message}
		}
		yield(task, nil)
	}
}

func (executor) Cancel(context.Context, *a2asrv.ExecutorContext) iter.Seq2[a2a.Event, error] {
	return func(yield func(a2a.Event, error) bool) { yield(nil, a2a.ErrTaskNotCancelable) }
}

// Paths of the agent's A2A 1.0 interfaces under its base URL. The root
// serves JSON-RPC in the version the request's A2A-Version header names
// (1.x, else 0.3); the card names it as the 0.3 interface.
const (
	agentJSONRPC10Path = "v1.0"
	agentRESTPath      = "rest"
)

// agentCard is the agent's card (a2a-go v2): A2A 1.0 JSON-RPC at
// url/v1.0 (first, so the one a client that takes the card's order
// picks), HTTP+JSON at url/rest, gRPC at grpcTarget, A2A 0.3 JSON-RPC at
// url. It is served with the 0.3 fields too, naming the 0.3 interface.
func agentCard(url, grpcTarget string) *a2a.AgentCard {
	base := strings.TrimSuffix(url, "/") + "/"
	return &a2a.AgentCard{
		Name:        agentName,
		Description: "answers every message at once (a2arelay benchmark)",
		Version:     "1.0.0",
		SupportedInterfaces: []*a2a.AgentInterface{
			a2a.NewAgentInterface(base+agentJSONRPC10Path, a2a.TransportProtocolJSONRPC),
			a2a.NewAgentInterface(base+agentRESTPath, a2a.TransportProtocolHTTPJSON),
			a2a.NewAgentInterface(grpcTarget, a2a.TransportProtocolGRPC),
			{URL: url, ProtocolBinding: a2a.TransportProtocolJSONRPC, ProtocolVersion: a2av0.Version},
		},
		Capabilities:       a2a.AgentCapabilities{Streaming: true},
		DefaultInputModes:  []string{"text/plain"},
		DefaultOutputModes: []string{"text/plain"},
		Skills: []a2a.AgentSkill{{
			ID: "pong", Name: "Pong", Description: "answers pong", Tags: []string{"bench"},
		}},
	}
}

// agentHandler serves the agent's HTTP bindings (a2a-go v2) and the card
// card gives.
func agentHandler(h a2asrv.RequestHandler, card func() *a2a.AgentCard) http.Handler {
	jsonrpc10, jsonrpc03 := a2asrv.NewJSONRPCHandler(h), a2av0.NewJSONRPCHandler(h)
	mux := http.NewServeMux()
	mux.Handle(a2asrv.WellKnownAgentCardPath, a2asrv.NewAgentCardHandler(a2av0.NewAgentCardProducer(
		a2asrv.AgentCardProducerFn(func(context.Context) (*a2a.AgentCard, error) { return card(), nil }))))
	mux.Handle("/"+agentRESTPath+"/", http.StripPrefix("/"+agentRESTPath, a2asrv.NewRESTHandler(h)))
	mux.Handle("/"+agentJSONRPC10Path, jsonrpc10)
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get(a2a.SvcParamVersion), "1") {
			jsonrpc10.ServeHTTP(w, r)
			return
		}
		jsonrpc03.ServeHTTP(w, r)
	}))
	return mux
}

// agentReady is what the agent child reports: its HTTP base URL and its
// gRPC target (host:port).
type agentReady struct {
	URL  string `json:"url"`
	GRPC string `json:"grpc"`
}

// serveAgent is the agent's child: a2a-go v2's JSON-RPC (1.0 and 0.3) and
// REST handlers on one port, its gRPC service on another, one executor.
func serveAgent(ctx context.Context, args []string, ready func(any) error) error {
	fs := flag.NewFlagSet(childAgent, flag.ContinueOnError)
	answer := fs.String("answer", AnswerTask, "task or message")
	stopProfile, err := child.ParseFlags(fs, args)
	if err != nil {
		return err
	}
	defer stopProfile()
	h := a2asrv.NewHandler(executor{answer: *answer})
	var card atomic.Pointer[a2a.AgentCard]
	httpLn, err := listen(ctx)
	if err != nil {
		return err
	}
	grpcLn, err := listen(ctx)
	if err != nil {
		httpLn.Close()
		return err
	}
	base := "http://" + httpLn.Addr().String()
	card.Store(agentCard(base+"/", grpcLn.Addr().String()))
	gs := grpc.NewServer()
	a2agrpc.NewHandler(h).RegisterWith(gs)
	return serveUntil(ctx, []serving{
		httpServing(newHTTPServer(agentHandler(h, card.Load)), httpLn),
		{serve: func() error { return gs.Serve(grpcLn) }, stop: func(context.Context) { gs.Stop() }},
	}, func() error { return ready(agentReady{URL: base, GRPC: grpcLn.Addr().String()}) })
}

// proxyReady is what the proxy child reports: the base URL of its HTTP
// proxy (in front of the agent's HTTP port) and the target of its h2c
// proxy (in front of the agent's gRPC port).
type proxyReady struct {
	URL  string `json:"url"`
	GRPC string `json:"grpc"`
}

// serveProxy is the reference: httputil.ReverseProxy, nothing else, in
// front of the agent's HTTP port (HTTP/1.1, connections kept alive, as
// many idle ones per host as the clients need, so that the reference
// never redials) and, over h2c (unencrypted HTTP/2, prior knowledge, as
// gRPC speaks it), in front of its gRPC port.
func serveProxy(ctx context.Context, args []string, ready func(any) error) error {
	fs := flag.NewFlagSet(childProxy, flag.ContinueOnError)
	agentURL := fs.String("agent", "", "the agent's HTTP base URL")
	agentGRPC := fs.String("agent-grpc", "", "the agent's gRPC target (host:port)")
	stopProfile, err := child.ParseFlags(fs, args)
	if err != nil {
		return err
	}
	defer stopProfile()
	target, err := url.Parse(*agentURL)
	if err != nil || target.Host == "" {
		return fmt.Errorf("-agent %q: want the agent's base URL", *agentURL)
	}
	if _, _, err := net.SplitHostPort(*agentGRPC); err != nil {
		return fmt.Errorf("-agent-grpc %q: want host:port", *agentGRPC)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 1024
	httpProxy := httputil.NewSingleHostReverseProxy(target)
	httpProxy.Transport = tr
	httpProxy.ErrorLog = log.New(io.Discard, "", 0)

	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	grpcProxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: *agentGRPC})
	grpcProxy.Transport = &http.Transport{Protocols: &h2c, MaxIdleConnsPerHost: 1024}
	grpcProxy.FlushInterval = -1
	grpcProxy.ErrorLog = log.New(io.Discard, "", 0)

	httpLn, err := listen(ctx)
	if err != nil {
		return err
	}
	grpcLn, err := listen(ctx)
	if err != nil {
		httpLn.Close()
		return err
	}
	grpcSrv := newHTTPServer(grpcProxy)
	grpcSrv.Protocols = &h2c
	return serveUntil(ctx, []serving{
		httpServing(newHTTPServer(httpProxy), httpLn),
		httpServing(grpcSrv, grpcLn),
	}, func() error {
		return ready(proxyReady{URL: "http://" + httpLn.Addr().String(), GRPC: grpcLn.Addr().String()})
	})
}

// parleyReady is what the gateway child reports: its base URL.
type parleyReady struct {
	URL string `json:"url"`
}

// serveParley is the gateway's child (shipped.ServeChild): config.Default()
// with the SQLite store -store, auth off, private agent URLs allowed (the
// agent is on loopback), the agent prober off (nothing changes; no probes
// in the figures) and the gRPC binding on a free port of 127.0.0.1, built
// by app.Build and run as serve runs it, logging as serve does to -log.
func serveParley(ctx context.Context, args []string, readyFn func(any) error) error {
	return shipped.ServeChild(ctx, childParley, args, readyFn, shipped.ChildOptions{
		Configure: func(cfg *config.Config) {
			cfg.AllowPrivateAgentURLs = true
			cfg.Agents.HealthInterval = -1
			cfg.GRPCListen = "127.0.0.1:0"
		},
		Ready: func(_ context.Context, g *shipped.Gateway) (any, error) {
			return parleyReady{URL: g.URL}, nil
		},
	})
}

func listen(ctx context.Context) (net.Listener, error) {
	return (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
}

// newHTTPServer is an http.Server with the gateway's server timeouts.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second, // the gateway's (gateway.New)
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
}

// serving is one server of a child: serve blocks until stop is called.
type serving struct {
	serve func() error
	stop  func(ctx context.Context)
}

func httpServing(srv *http.Server, ln net.Listener) serving {
	return serving{
		serve: func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
		stop: func(ctx context.Context) {
			if srv.Shutdown(ctx) != nil {
				_ = srv.Close()
			}
		},
	}
}

// serveUntil runs every server until ctx ends (or one fails), calling
// ready once they all run, then stops them all (5 s for calls in flight).
func serveUntil(ctx context.Context, servers []serving, ready func() error) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, s := range servers {
		g.Go(s.serve)
	}
	err := ready()
	if err == nil {
		<-gctx.Done()
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, s := range servers {
		s.stop(sctx)
	}
	return errors.Join(err, g.Wait())
}

// server is one of the three processes, as the parent sees it.
type server struct {
	name string
	proc *child.Process
}

// env is what a run loads: the agent, the proxy and the gateway in front
// of it, and the endpoints of each binding through each.
type env struct {
	dir     string
	dbPath  string
	logPath string // the gateway's log
	agent   *server
	proxy   *server
	parley  *server

	agentURL, agentGRPC string
	proxyURL, proxyGRPC string
	parleyURL           string
	// relayCardURL is where the relayed card is (its base).
	relayCardURL string
	// logOffset is the gateway log's size when the load began: what
	// follows is the load's.
	logOffset int64
}

// servers are the processes, the agent first.
func (e *env) servers() []*server {
	var out []*server
	for _, s := range []*server{e.agent, e.proxy, e.parley} {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

// setup starts the agent, the proxy in front of it and the gateway, and
// registers the agent in the gateway's registry through the admin API, as
// an operator does.
func setup(ctx context.Context, cfg *Config) (e *env, err error) {
	e = &env{}
	defer func() {
		if err != nil {
			err = errors.Join(err, e.close())
		}
	}()
	if e.dir, err = os.MkdirTemp("", "a2arelay-*"); err != nil {
		return nil, err
	}
	e.dbPath = filepath.Join(e.dir, "parley.db")
	e.logPath = filepath.Join(e.dir, "parley.log")

	var ar agentReady
	p, err := child.Start(ctx, childAgent, append([]string{"-answer", cfg.Answer}, cfg.childArgs(serverAgent)...), cfg.Stderr, &ar)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", serverAgent, err)
	}
	e.agent, e.agentURL, e.agentGRPC = &server{name: serverAgent, proc: p}, ar.URL, ar.GRPC
	cfg.progress("%s at %s, gRPC %s (pid %d)", serverAgent, ar.URL, ar.GRPC, p.Pid)

	var pr proxyReady
	p, err = child.Start(ctx, childProxy, append([]string{"-agent", ar.URL, "-agent-grpc", ar.GRPC}, cfg.childArgs(serverProxy)...), cfg.Stderr, &pr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", serverProxy, err)
	}
	e.proxy, e.proxyURL, e.proxyGRPC = &server{name: serverProxy, proc: p}, pr.URL, pr.GRPC
	cfg.progress("%s at %s, h2c %s (pid %d)", serverProxy, pr.URL, pr.GRPC, p.Pid)

	var gr parleyReady
	args := append([]string{"-store", "sqlite://" + e.dbPath, "-log", e.logPath}, cfg.childArgs(serverParley)...)
	if p, err = child.Start(ctx, childParley, args, cfg.Stderr, &gr); err != nil {
		return nil, fmt.Errorf("%s: %w", serverParley, err)
	}
	e.parley, e.parleyURL = &server{name: serverParley, proc: p}, gr.URL
	cfg.progress("%s at %s (pid %d)", serverParley, gr.URL, p.Pid)

	admin, err := adminapi.NewClient(gr.URL, adminapi.ClientOptions{})
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := admin.Register(rctx, api.RegisterAgentRequest{URL: ar.URL}); err != nil {
		return nil, fmt.Errorf("register the agent through the admin API: %w", err)
	}
	// The relayed card's base: the relay's path for the agent, with the
	// trailing slash, so that the well-known path resolves under it.
	e.relayCardURL = gr.URL + "/a2a/agents/" + agentName + "/"
	return e, nil
}

// childArgs are the profile flags of the server called name.
func (c *Config) childArgs(name string) []string {
	if c.ServerCPUProfile == "" {
		return nil
	}
	return []string{"-cpuprofile", c.profilePath(name)}
}

// profilePath is where the server called name writes its CPU profile.
func (c *Config) profilePath(name string) string { return c.ServerCPUProfile + "." + name + ".prof" }

// markLoad notes the gateway log's size: warnings after it are the load's
// (those before, no auth and private agent URLs, are this setup's choice).
func (e *env) markLoad() {
	if fi, err := os.Stat(e.logPath); err == nil {
		e.logOffset = fi.Size()
	}
}

// stopGateway drains and stops the gateway (recording every relayed task
// still queued).
func (e *env) stopGateway() error {
	if e.parley == nil {
		return nil
	}
	return e.parley.proc.Stop()
}

// close stops the children, the gateway first (so that it does not see
// its agent go away), and removes the temp dir.
func (e *env) close() error {
	var errs []error
	for _, s := range []*server{e.parley, e.proxy, e.agent} {
		if s != nil {
			errs = append(errs, s.proc.Stop())
		}
	}
	if e.dir != "" {
		errs = append(errs, os.RemoveAll(e.dir))
	}
	return errors.Join(errs...)
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

// loadWarnings counts the gateway's log lines at warning level or above
// written since markLoad (serve's text handler: level=WARN, level=ERROR),
// and returns the first.
func (e *env) loadWarnings() (n int64, first string, err error) {
	data, err := os.ReadFile(e.logPath)
	if err != nil {
		return 0, "", err
	}
	if e.logOffset <= int64(len(data)) {
		data = data[e.logOffset:]
	}
	for line := range strings.Lines(string(data)) {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			if n == 0 {
				first = strings.TrimSpace(line)
			}
			n++
		}
	}
	return n, first, nil
}
