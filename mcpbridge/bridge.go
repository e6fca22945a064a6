// Package mcpbridge is Parley's MCP server: the shared workspace as MCP
// tools and resources at one Streamable HTTP endpoint that serves both
// protocol generations: 2026-07-28 (stateless: any request on any replica)
// and 2025-11-25 and older (sessions, resumable streams).
//
// Resource updates are driven by the store's change feed, not by the tool
// handlers, so that a subscriber hears of a change made through any
// protocol on any replica.
package mcpbridge

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/internal/jsonrpcedge"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/upstream"
	"github.com/parleyhq/parley/workspace"
)

// Implementation names the server to MCP clients.
var Implementation = &mcp.Implementation{Name: "parley", Title: "Parley gateway", Version: "0.1.0"}

// Options configure a Bridge.
type Options struct {
	Logger *slog.Logger
	// SDKLogger is what go-sdk's server and handlers log to. Default
	// Logger. (The gateway's lowers go-sdk's info lines, a few for every
	// session, to debug, where they are not even built.)
	SDKLogger *slog.Logger
	// MaxBodyBytes caps a request body; larger ones get HTTP 413 with a
	// JSON-RPC error. Default 4 MiB.
	MaxBodyBytes int64
	// StateKey signs the request state of multi round-trip tools. Replicas
	// must share it; empty means a random key (one replica only).
	StateKey []byte
	// EventStore makes session streams resumable. Default in memory.
	EventStore mcp.EventStore
	// SessionTimeout closes idle sessions. Default 30m.
	SessionTimeout time.Duration
	// ReplicaLease is, with Sessions, how long a replica not heard of is
	// still taken as running: after it, another replica takes over the
	// calls whose streams it wrote (takeover.go). Replicas beat every
	// ReplicaLease/4. Default 10s.
	ReplicaLease time.Duration
	// MaxWait caps wait_for_ticket's timeout. Default 10m.
	MaxWait time.Duration
	// Actor names the caller of a tool for the ticket history. Default: the
	// client's name from its initialize request, or "mcp-client".
	Actor func(ctx context.Context, req *mcp.CallToolRequest) string
	// Now reads the clock. Default time.Now.
	Now func() time.Time
	// Agents, if set, adds list_agents and get_agent_card; with
	// AgentClients too, every reachable registered agent becomes a tool.
	Agents       Agents
	AgentClients AgentClients
	// Negotiations, if set, adds start_negotiation, get_negotiation,
	// decide_negotiation and negotiation://{id}; save_ticket and escalate
	// then evaluate the escalation rules and return links to the
	// negotiations they start, and wait_for_ticket reports their moves.
	Negotiations Negotiations
	// Upstreams, if set, are the upstream MCP servers Parley fronts: their
	// tools, prompts and resources are mirrored into this server and
	// calls forwarded to them (federation.go).
	Upstreams *upstream.Manager
	// Sessions, if set, keeps sessions (2025-11-25 and older) in the store,
	// so that every replica sharing it serves every session, and idle ones
	// expire after SessionTimeout (sessions.go). Nil: a session lives in
	// the memory of the replica that opened it.
	Sessions store.MCPSessions
}

// Bridge is the MCP endpoint. It is an http.Handler; Run must be running
// for resource subscriptions and wait_for_ticket to hear of changes.
type Bridge struct {
	ws         *workspace.Workspace
	feed       store.Feed
	opts       Options
	log        *slog.Logger
	server     *mcp.Server
	stateful   http.Handler
	stateless  http.Handler
	signer     stateSigner
	watchers   watchers
	agentTools agentTools
	negTickets negotiationTickets
	fed        *federation      // nil without Options.Upstreams
	sessions   *durableSessions // nil without Options.Sessions
	// subs keeps sessions' subscriptions in the store and delivers their
	// updates (subscriptions.go); nil without Options.Sessions.
	subs *sessionSubscriptions
	args toolArgs
	// waitRead, if set (by tests), is called once a wait_for_ticket call
	// has read the ticket it waits on: every change after that is one the
	// call reports.
	waitRead func(ticketID string)
	// following, if set (by tests), is called once Run follows the change
	// feed: a change committed after that reaches Run, one before it not.
	following func()
}

// New builds the MCP server over ws; feed is the store's change feed.
func New(ws *workspace.Workspace, feed store.Feed, opts Options) (*Bridge, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 4 << 20
	}
	if len(opts.StateKey) == 0 {
		opts.StateKey = []byte(rand.Text() + rand.Text())
	}
	if opts.EventStore == nil {
		opts.EventStore = mcp.NewMemoryEventStore(nil)
	}
	if opts.SessionTimeout <= 0 {
		opts.SessionTimeout = 30 * time.Minute
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = 10 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Actor == nil {
		opts.Actor = clientName
	}
	b := &Bridge{
		ws: ws, feed: feed, opts: opts, log: opts.Logger,
		signer:     stateSigner{key: opts.StateKey, now: opts.Now, ttl: 15 * time.Minute},
		watchers:   watchers{byTicket: map[string]map[chan struct{}]struct{}{}},
		agentTools: agentTools{hash: map[string]string{}, agent: map[string]string{}},
		negTickets: negotiationTickets{m: map[string]string{}},
	}
	instructions := "Parley is the shared state of a support pipeline. Agents coordinate through tickets " +
		"(save_ticket, get_ticket, escalate, save_resolution), per-agent analysis namespaces (save_analysis, " +
		"get_all_analysis) and a task queue (create_task, claim_task, complete_task). Read ticket://{id} and " +
		"subscribe to it to hear of every change."
	if opts.Negotiations != nil {
		instructions += " When a decision needs a conversation between agents (a refund over the limit), escalation rules or " +
			"start_negotiation start a negotiation; its outcome lands in the ticket's approval and negotiation://{id} holds the transcript. " +
			"A negotiation that needs a person waits for decide_negotiation."
	}
	// Completion is offered only for what upstreams serve: Parley's own
	// prompts and templates have none.
	var completion func(context.Context, *mcp.CompleteRequest) (*mcp.CompleteResult, error)
	if opts.Upstreams != nil {
		b.fed = newFederation(b, opts.Upstreams)
		completion = b.fed.complete
	}
	var ids *sessionIDs
	var getSessionID func() string // go-sdk's default: random
	if opts.Sessions != nil {
		ids = &sessionIDs{}
		getSessionID = ids.next
	}
	sdkLog := opts.SDKLogger
	if sdkLog == nil {
		sdkLog = opts.Logger
	}
	b.server = mcp.NewServer(Implementation, &mcp.ServerOptions{
		GetSessionID:       getSessionID,
		Instructions:       instructions,
		Logger:             sdkLog,
		SubscribeHandler:   b.subscribe,
		UnsubscribeHandler: b.unsubscribe,
		CompletionHandler:  completion,
		Capabilities: &mcp.ServerCapabilities{
			Tools:     &mcp.ToolCapabilities{ListChanged: true},
			Resources: &mcp.ResourceCapabilities{Subscribe: true, ListChanged: true},
			Logging:   &mcp.LoggingCapabilities{},
		},
	})
	// Innermost, so that middleware added later (auth, audit) sees its
	// refusals like any tool error.
	b.server.AddReceivingMiddleware(b.argumentsMiddleware)
	if opts.Sessions != nil {
		b.sessions = newDurableSessions(b, opts.Sessions, ids)
		b.server.AddReceivingMiddleware(b.sessions.sessionMiddleware)
		if st, ok := opts.Sessions.(store.MCPSessionSubscriptions); ok {
			b.subs = newSessionSubscriptions(b, st)
			b.server.AddSendingMiddleware(b.subs.sendingMiddleware)
			b.sessions.handlerEvents = subscribedEvents{b.sessions.handlerEvents, b.subs}
			b.sessions.streamOpened = b.subs.streamOpened
			b.sessions.delivering = b.subs.delivering
		}
	}
	b.addTools()
	b.addAgentTools()
	b.addNegotiationTools()
	b.addResources()
	getServer := func(*http.Request) *mcp.Server { return b.server }
	// DNS-rebinding protection is the gateway's (gateway.New checks Host
	// and Origin on every endpoint against the configured allow-list): the
	// SDK's own check knows only loopback names, and would refuse the
	// public name a proxy on the same machine forwards that the operator
	// allowed.
	statefulEvents := opts.EventStore
	if b.sessions != nil {
		statefulEvents = b.sessions.handlerEvents
	}
	b.stateful = mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{
		DisableLocalhostProtection: true,
		EventStore:                 statefulEvents,
		SessionTimeout:             opts.SessionTimeout,
		Logger:                     sdkLog,
		MaxRequestBodyBytes:        opts.MaxBodyBytes,
	})
	b.stateless = mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{
		DisableLocalhostProtection:   true,
		Stateless:                    true,
		Logger:                       sdkLog,
		MaxRequestBodyBytes:          opts.MaxBodyBytes,
		PropagateRequestCancellation: true,
	})
	if b.sessions != nil {
		b.sessions.stateful = b.stateful
	}
	return b, nil
}

// Server is the underlying MCP server, for adding tools (agents as tools).
func (b *Bridge) Server() *mcp.Server { return b.server }

// statelessVersion is the first protocol revision without sessions.
const statelessVersion = "2026-07-28"

// ServeHTTP serves /mcp. Requests of a session (Mcp-Session-Id) and
// requests without a 2026-07-28-or-later protocol header (initialize, the
// GET stream, older clients) go to the session handler; the rest to the
// stateless one, which any replica can answer.
func (b *Bridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	version := r.Header.Get("Mcp-Protocol-Version")
	var body []byte // a POST's, to serve it again after a session's rebuild
	if r.Method == http.MethodPost {
		if r.ContentLength > b.opts.MaxBodyBytes {
			b.tooLarge(w, r.ContentLength)
			return
		}
		if eb, ok := r.Body.(*jsonrpcedge.Body); ok {
			// The gateway's JSON-RPC edge read the body already: take its
			// bytes rather than copying them again.
			if body = eb.Unread(); int64(len(body)) > b.opts.MaxBodyBytes {
				b.tooLarge(w, int64(len(body)))
				return
			}
		} else {
			var err error
			body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, b.opts.MaxBodyBytes))
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				b.tooLarge(w, -1)
				return
			}
			if err != nil {
				writeRPCError(w, http.StatusBadRequest, -32700, "reading request body: "+err.Error())
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		if version >= statelessVersion && b.refuseBadArguments(w, body) {
			return
		}
		// A POST's response leaves with the end of its body, and in a
		// session with the stream's priming event, when it comes quickly
		// (see primeHold).
		if pw := newPrimeWriter(w); pw != nil {
			defer pw.finish()
			w = pw
		}
	}
	if version >= statelessVersion && r.Header.Get("Mcp-Session-Id") == "" {
		b.stateless.ServeHTTP(w, r)
		return
	}
	if b.sessions != nil {
		if body != nil && r.Header.Get("Mcp-Session-Id") != "" {
			// The call a stream of this POST answers is recorded with the
			// stream, should it outlive its response (EventStore.Open).
			r = r.WithContext(withPostBody(r.Context(), body))
		}
		b.sessions.serve(w, r, body)
		return
	}
	b.stateful.ServeHTTP(w, r)
}

func (b *Bridge) tooLarge(w http.ResponseWriter, size int64) {
	msg := fmt.Sprintf("request body too large: the limit is %d bytes", b.opts.MaxBodyBytes)
	if size > 0 {
		msg = fmt.Sprintf("request body too large: %d bytes exceeds the limit of %d bytes", size, b.opts.MaxBodyBytes)
	}
	writeRPCError(w, http.StatusRequestEntityTooLarge, -32600, msg)
}

func writeRPCError(w http.ResponseWriter, status int, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"jsonrpc": "2.0", "id": nil,
		"error": map[string]any{"code": code, "message": msg},
	})
}

// Run follows the store's change feed until ctx ends: it tells resource
// subscribers on this replica of every change, wherever it was made, and
// wakes wait_for_ticket calls.
func (b *Bridge) Run(ctx context.Context) error {
	if b.fed != nil {
		var wg sync.WaitGroup
		defer wg.Wait()
		fedCtx, stop := context.WithCancel(ctx)
		defer stop()
		wg.Go(func() { b.fed.run(fedCtx) })
	}
	if b.sessions != nil {
		var wg sync.WaitGroup
		defer wg.Wait()
		sweepCtx, stop := context.WithCancel(ctx)
		defer stop()
		wg.Go(func() { b.sessions.run(sweepCtx) })
	}
	changes, err := b.feed.Subscribe(ctx)
	if err != nil {
		return fmt.Errorf("mcp bridge: follow change feed: %w", err)
	}
	if b.following != nil {
		b.following()
	}
	if b.sessions != nil {
		b.sessions.follow()
	}
	// Agents registered before we subscribed become tools now; later ones
	// as their changes arrive.
	if err := b.syncAgentTools(ctx); err != nil && ctx.Err() == nil {
		b.log.Warn("agent tools", "error", err)
	}
	for c := range changes {
		var uris []string
		switch c.Kind {
		case store.KindTicket:
			uris = []string{ticketURI(c.Key), statusURI}
			b.watchers.wake(c.Key)
		case store.KindAnalysis:
			id, _, _ := strings.Cut(c.Key, "/")
			uris = []string{ticketURI(id)}
			b.watchers.wake(id)
		case store.KindTask:
			uris = []string{statusURI}
		case store.KindNegotiation:
			uris = b.negotiationChanged(ctx, c.Key)
		case store.KindAgent:
			if err := b.syncAgentTools(ctx); err != nil && ctx.Err() == nil {
				b.log.Warn("agent tools", "error", err)
			}
		case store.KindMCPSession:
			if b.sessions != nil {
				b.sessions.ended(ctx, c.Key)
			}
		case store.KindMCPSessionLevel:
			if b.sessions != nil {
				b.sessions.leveled(ctx, c.Key)
			}
		case store.KindMCPSessionResponse:
			if b.sessions != nil {
				b.sessions.responded(ctx, c.Key)
			}
		}
		nctx, span := startNotifySpan(ctx, c, uris) // under the span that made the change (trace.go)
		for _, u := range uris {
			if err := b.server.ResourceUpdated(nctx, &mcp.ResourceUpdatedNotificationParams{URI: u}); err != nil && ctx.Err() == nil {
				b.log.Warn("notify resource subscribers", "uri", u, "error", err)
			}
		}
		if b.subs != nil {
			// Sessions' subscriptions: from one replica each.
			b.subs.deliver(nctx, c.Seq, uris)
		}
		span.End()
	}
	return ctx.Err()
}

// watchers wakes wait_for_ticket calls when their ticket changes.
type watchers struct {
	mu       sync.Mutex
	byTicket map[string]map[chan struct{}]struct{}
}

// watch returns a channel that receives when the ticket changes, and a
// function that stops watching.
func (w *watchers) watch(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	if w.byTicket[id] == nil {
		w.byTicket[id] = map[chan struct{}]struct{}{}
	}
	w.byTicket[id][ch] = struct{}{}
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		delete(w.byTicket[id], ch)
		if len(w.byTicket[id]) == 0 {
			delete(w.byTicket, id)
		}
		w.mu.Unlock()
	}
}

// empty reports whether no call is waiting on any ticket.
func (w *watchers) empty() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.byTicket) == 0
}

func (w *watchers) wake(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.byTicket[id] {
		select {
		case ch <- struct{}{}:
		default: // already pending: the watcher re-reads the ticket anyway
		}
	}
}

func clientName(_ context.Context, req *mcp.CallToolRequest) string {
	if req != nil && req.Session != nil {
		if p := req.Session.InitializeParams(); p != nil && p.ClientInfo != nil && p.ClientInfo.Name != "" {
			return p.ClientInfo.Name
		}
	}
	return "mcp-client"
}
