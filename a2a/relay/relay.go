// Package relay relays A2A from callers to the agents registered with
// Parley, keeping callers' tasks apart and recording them in the store
// (see Relay): JSON-RPC at /a2a/agents/{name}, in A2A 1.0 and 0.3
// (translated by package compat where the caller and the agent differ);
// and, through a forwarding a2asrv.RequestHandler that calls the agent
// with a pooled a2a-go v2 client (see forwarder), REST of both versions at
// /a2a/agents/{name}/rest and gRPC 1.0 on the gateway's gRPC port, the
// agent named by the request's tenant (TenantHandler), to agents of
// either version on any binding. A REST message:send in A2A 1.0 to an
// agent with a JSON-RPC interface takes the JSON-RPC relay instead, and is
// answered in REST's form (restsend.go): the hot path, without a typed
// client's decoding and encoding.
package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	a2ago "github.com/a2aproject/a2a-go/a2a"

	parleya2a "github.com/parleyhq/parley/a2a"
	"github.com/parleyhq/parley/a2a/compat"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/store"
)

// Path is where the relay is mounted. /a2a/agents/{name} relays A2A
// JSON-RPC to the agent registered as name, /a2a/agents/{name}/rest the
// A2A HTTP+JSON binding (1.0 at its root, 0.3 under /v1: see serveREST),
// and /a2a/agents/{name}/.well-known/agent-card.json serves that agent's
// card rewritten to point at the relay.
const Path = "/a2a/agents"

// Options configure a Relay.
type Options struct {
	// Registry finds the registered agents: agentcards.Registry. Required.
	Registry Directory
	// Transport carries the calls to the agents: the registry guard's
	// (agentcards.Guard.Transport), so that every connection is checked
	// against the server-side request forgery rules. Required.
	Transport http.RoundTripper
	// Tasks records the relayed tasks, and tells whose each is (see
	// Relay). Nil: nothing is recorded, and every caller reaches every
	// task.
	Tasks store.RelayedTasks
	// PublicURL is the base URL callers reach the gateway at; rewritten
	// cards point at PublicURL + Path + "/" + name. Required.
	PublicURL string
	Logger    *slog.Logger
	// Timeout bounds a non-streaming call (message/send, tasks/get, …)
	// from sending the request to the end of the answer, and a streaming
	// call until the agent starts its answer (the stream itself may last
	// as long as the task). Default 60s.
	Timeout time.Duration
	// Principal names the caller of each call from the HTTP request's
	// context, as for the gateway's own server
	// (auth.Service.A2APrincipal). Nil, or no name: the auth.Principal in
	// the request's context (auth.Service.A2A in front puts it there),
	// else Anonymous.
	Principal Principal
	// Outbound is called on every request to an agent just before it is
	// sent, with the agent's registered name, to add the gateway's own
	// credentials for that agent (auth.Outbound.Token). An error fails the
	// call. The caller's Authorization header is never forwarded. Nil:
	// requests go out without credentials.
	Outbound func(agent string, req *http.Request) error
	// SecuritySchemes and Security, when set, replace the agent's in the
	// rewritten cards: callers authenticate to Parley, not to the agent
	// (Parley presents its own credentials to it).
	SecuritySchemes a2ago.NamedSecuritySchemes
	Security        []a2ago.SecurityRequirements
	// Authorize decides whether the caller in ctx may message the agent
	// (auth: agent:NAME:message). An error refuses the call, naming the
	// agent and the reason. Nil: everyone may.
	Authorize func(ctx context.Context, agent string) error
	// RequestID returns the ID the gateway gave the request, forwarded to
	// the agent as X-Request-Id. Nil: the caller's X-Request-Id header.
	RequestID func(ctx context.Context) string
	// MaxBodyBytes bounds a caller's request. Default 8 MiB.
	MaxBodyBytes int64
	// MaxResponseBytes bounds an agent's non-streaming answer, and each
	// event of a streamed one. Default 64 MiB.
	MaxResponseBytes int64
	// Now reads the clock for the records' times. Default time.Now.
	Now func() time.Time
	// IsAdmin reports whether the caller may reach every caller's relayed
	// tasks; nil: nobody may (each caller reaches only the tasks it
	// started, and tasks Parley has no record of). See Relay.
	IsAdmin func(context.Context) bool
	// Guard checks the push-notification callback URLs of relayed
	// requests (see Relay), with its address policy and its AllowPrivate
	// setting. Default: the Registry's own guard when it has one
	// (agentcards.Registry), else a guard that refuses private and
	// internal addresses.
	Guard *agentcards.Guard
	// Changes, when set, lets the relay keep the agents it looks up in
	// memory, each dropped when the feed says it changed (store.KindAgent),
	// rather than read the registry on every call: the store the Registry
	// is over (store.Feed). Nil: every call reads the registry.
	Changes store.Feed
	// MaxIdleConnsPerHost bounds the idle connections kept to one agent
	// when Transport is an *http.Transport: the relay then calls through
	// its own clone of it (whose dialer keeps the guard's checks), so that
	// concurrent calls to one agent reuse connections rather than redial.
	// Default DefaultMaxIdleConnsPerHost.
	MaxIdleConnsPerHost int
	// Clients calls the agents for the relay's REST and gRPC faces (see
	// RESTHandler and TenantHandler): agentpool.Pool. Nil: the relay
	// serves JSON-RPC only, and its cards list no other interface.
	Clients Clients
	// GRPCTarget is the gateway's gRPC interface as clients dial it
	// (host:port), where TenantHandler serves: the relayed cards list it,
	// in A2A 1.0, with the agent's name as the tenant. Nil, or "": no
	// gRPC interface is listed.
	GRPCTarget func() string
}

// DefaultMaxIdleConnsPerHost is Options.MaxIdleConnsPerHost's default:
// well above net/http's 2, as concurrent calls to one agent beyond it
// redial.
const DefaultMaxIdleConnsPerHost = 64

// Relay relays A2A JSON-RPC from callers to registered agents, at the
// JSON-RPC level: requests and answers are passed on as they are (fields
// Parley does not know survive) except where the caller and the agent
// speak different A2A versions, in which case package compat translates
// them, and except for the caller's identity, which is added to the
// metadata of every message sent (metadata.parley = {"caller", "via"}).
// Streamed answers are passed on event by event as they arrive.
//
// A request carrying a push-notification callback URL (a push config being
// set, or a message sent with one, in either version: see
// compat.PushNotificationURLs) is relayed only if the guard allows that
// URL, as it would an agent's: the agent would otherwise be made to call
// an address of Parley's network (server-side request forgery). A refused
// callback is an invalid-params error, and nothing is forwarded. Failures
// of the agent (unreachable, too slow, answering nonsense) come back as
// JSON-RPC errors naming the agent, in the caller's version; the agent's
// own JSON-RPC errors pass through, their message prefixed with the
// agent's name and their data carrying it.
//
// Every task seen passing through (in an answer or a streamed event) is
// recorded with its agent, caller and state, in the background: recording
// never delays or fails a call, and a failure to record is logged. Close
// the relay to finish recording.
//
// The agent sees every caller as Parley, so the relay keeps callers apart:
// a call naming a task recorded for another caller (reading, cancelling,
// following or continuing it, or its push configs, in either version) is
// answered "task not found" and not forwarded, and is noted as denied for
// its audit record, as the gateway's own face does; ListTasks answers keep
// only the caller's tasks. An administrator (IsAdmin) reaches every task.
// A task Parley has no record of (created at the agent directly) is
// forwarded; a task's record is awaited before the check, so a task
// relayed through this relay is never taken for one. Without Tasks nothing
// is recorded and no caller is told from another.
type Relay struct {
	opts   Options
	log    *slog.Logger
	client *http.Client
	rec    *recorder
	base   string          // PublicURL + Path, without a trailing slash
	agents *agentCache     // Registry, cached when Changes is set
	own    *http.Transport // the relay's clone of Transport, if any
	stop   context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool

	rest http.Handler // the REST face of every agent (see serveREST)

	mu        sync.Mutex
	endpoints map[string]cachedEndpoints // by lower-cased agent name
}

type cachedEndpoints struct {
	hash string
	eps  []endpoint
}

// endpoint is a JSON-RPC interface of an agent.
type endpoint struct {
	url     string
	version compat.Version
}

var _ http.Handler = (*Relay)(nil)

// New returns a relay; mount it at Path (it serves the paths
// under it, whatever the router in front strips).
func New(opts Options) (*Relay, error) {
	if opts.Registry == nil {
		return nil, errors.New("relay: Options.Registry is required")
	}
	if opts.Transport == nil {
		return nil, errors.New("relay: Options.Transport is required (the agent registry guard's transport)")
	}
	if u, err := url.Parse(opts.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("relay: Options.PublicURL %q must be an absolute http(s) URL", opts.PublicURL)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 8 << 20
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = 64 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxIdleConnsPerHost <= 0 {
		opts.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	if opts.Guard == nil {
		if g, ok := opts.Registry.(interface{ Guard() *agentcards.Guard }); ok {
			opts.Guard = g.Guard()
		} else {
			opts.Guard = agentcards.NewGuard(agentcards.GuardOptions{})
		}
	}
	transport := opts.Transport
	var own *http.Transport
	if t, ok := transport.(*http.Transport); ok {
		own = t.Clone()
		own.MaxIdleConnsPerHost = opts.MaxIdleConnsPerHost
		own.MaxIdleConns = 0 // no overall bound: per agent, and IdleConnTimeout
		transport = own
	}
	rl := &Relay{
		opts:   opts,
		log:    opts.Logger,
		agents: newAgentCache(opts.Registry),
		own:    own,
		client: &http.Client{
			Transport: tracedTransport(transport), // a client span per call, its context to the agent (trace.go)
			// No total timeout: streams last as long as their task. A
			// redirect is not followed: an agent's JSON-RPC endpoint does
			// not move, and re-sending a POST elsewhere is not ours to do.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		base:      strings.TrimRight(opts.PublicURL, "/") + Path,
		endpoints: map[string]cachedEndpoints{},
	}
	if opts.Changes != nil {
		ctx, stop := context.WithCancel(context.Background())
		changes, err := opts.Changes.Subscribe(ctx)
		if err != nil {
			stop()
			return nil, fmt.Errorf("relay: following the store's changes: %w", err)
		}
		rl.stop = stop
		rl.wg.Go(func() {
			rl.agents.follow(changes, rl.closed.Load, func(msg string) { rl.log.Warn(msg) })
		})
	}
	if opts.Tasks != nil {
		rl.rec = newRecorder(opts.Tasks, opts.Logger)
	}
	// Both versions of REST on one base, as the gateway's own face.
	rl.rest = parleya2a.NewRESTHandler(forwarder{rl: rl})
	return rl, nil
}

// Close finishes recording the relayed tasks already seen and stops
// recording. Calls relayed after Close are not recorded. Call it after the
// HTTP server has drained, before closing the store.
func (rl *Relay) Close() error {
	if rl.closed.Swap(true) {
		return nil
	}
	if rl.stop != nil {
		rl.stop()
	}
	rl.wg.Wait()
	if rl.rec != nil {
		rl.rec.close()
	}
	if rl.own != nil {
		rl.own.CloseIdleConnections()
	}
	return nil
}

// AgentURL is where the relay serves the named agent: its JSON-RPC
// endpoint, and the base URL of its rewritten card.
func (rl *Relay) AgentURL(name string) string { return rl.base + "/" + url.PathEscape(name) }

// ServeHTTP implements http.Handler.
func (rl *Relay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, Path+"/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	name, sub, _ := strings.Cut(rest, "/")
	switch {
	case name == "":
		http.NotFound(w, r)
	case sub == "":
		rl.serveJSONRPC(w, r, name)
	case sub == restSub || strings.HasPrefix(sub, restSub+"/"):
		rl.serveREST(w, r, name, strings.TrimPrefix(sub, restSub))
	case "/"+sub == agentcards.WellKnownPath:
		rl.serveCard(w, r, name)
	case name == ".well-known":
		// A client resolved the card relative to /a2a/agents/NAME without a
		// trailing slash (A2A SDKs resolve ".well-known/…" against the URL
		// given): the agent's name is lost, so say how to ask.
		writePlainError(w, http.StatusNotFound, "no agent named in the card URL: use "+Path+
			"/{name}/ (with the trailing slash) as the agent's base URL, or "+Path+"/{name}"+agentcards.WellKnownPath)
	default:
		http.NotFound(w, r)
	}
}

func writePlainError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
