package a2a

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	a2ago "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"

	"github.com/parleyhq/parley/a2a/compat"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/store"
)

// RelayPath is where the relay is mounted. /a2a/agents/{name} relays A2A
// JSON-RPC to the agent registered as name, and
// /a2a/agents/{name}/.well-known/agent-card.json serves that agent's card
// rewritten to point at the relay.
const RelayPath = "/a2a/agents"

// RelayOptions configure a Relay.
type RelayOptions struct {
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
	// cards point at PublicURL + RelayPath + "/" + name. Required.
	PublicURL string
	Logger    *slog.Logger
	// Timeout bounds a non-streaming call (message/send, tasks/get, …)
	// from sending the request to the end of the answer, and a streaming
	// call until the agent starts its answer (the stream itself may last
	// as long as the task). Default 60s.
	Timeout time.Duration
	// Principal names the caller of each call, as for the gateway's own
	// server (auth.Service.A2APrincipal; its context carries an a2asrv
	// call context with the request's headers). Nil, or no name: the
	// auth.Principal in the request's context (auth.Service.A2A in front
	// puts it there), else CallerFrom (Anonymous).
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
}

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
	opts   RelayOptions
	log    *slog.Logger
	client *http.Client
	rec    *recorder
	base   string // PublicURL + RelayPath, without a trailing slash

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

// NewRelay returns a relay; mount it at RelayPath (it serves the paths
// under it, whatever the router in front strips).
func NewRelay(opts RelayOptions) (*Relay, error) {
	if opts.Registry == nil {
		return nil, errors.New("a2a: RelayOptions.Registry is required")
	}
	if opts.Transport == nil {
		return nil, errors.New("a2a: RelayOptions.Transport is required (the agent registry guard's transport)")
	}
	if u, err := url.Parse(opts.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("a2a: RelayOptions.PublicURL %q must be an absolute http(s) URL", opts.PublicURL)
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
	if opts.Guard == nil {
		if g, ok := opts.Registry.(interface{ Guard() *agentcards.Guard }); ok {
			opts.Guard = g.Guard()
		} else {
			opts.Guard = agentcards.NewGuard(agentcards.GuardOptions{})
		}
	}
	rl := &Relay{
		opts: opts,
		log:  opts.Logger,
		client: &http.Client{
			Transport: opts.Transport,
			// No total timeout: streams last as long as their task. A
			// redirect is not followed: an agent's JSON-RPC endpoint does
			// not move, and re-sending a POST elsewhere is not ours to do.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		base:      strings.TrimRight(opts.PublicURL, "/") + RelayPath,
		endpoints: map[string]cachedEndpoints{},
	}
	if opts.Tasks != nil {
		rl.rec = newRecorder(opts.Tasks, opts.Logger)
	}
	return rl, nil
}

// Close finishes recording the relayed tasks already seen and stops
// recording. Calls relayed after Close are not recorded. Call it after the
// HTTP server has drained, before closing the store.
func (rl *Relay) Close() error {
	if rl.rec != nil {
		rl.rec.close()
	}
	return nil
}

// AgentURL is where the relay serves the named agent: its JSON-RPC
// endpoint, and the base URL of its rewritten card.
func (rl *Relay) AgentURL(name string) string { return rl.base + "/" + url.PathEscape(name) }

// ServeHTTP implements http.Handler.
func (rl *Relay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, RelayPath+"/")
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
	case "/"+sub == agentcards.WellKnownPath:
		rl.serveCard(w, r, name)
	case name == ".well-known":
		// A client resolved the card relative to /a2a/agents/NAME without a
		// trailing slash (A2A SDKs resolve ".well-known/…" against the URL
		// given): the agent's name is lost, so say how to ask.
		writePlainError(w, http.StatusNotFound, "no agent named in the card URL: use "+RelayPath+
			"/{name}/ (with the trailing slash) as the agent's base URL, or "+RelayPath+"/{name}"+agentcards.WellKnownPath)
	default:
		http.NotFound(w, r)
	}
}

// ---------------------------------------------------------------- card

func (rl *Relay) serveCard(w http.ResponseWriter, r *http.Request, name string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writePlainError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on an agent card")
		return
	}
	agent, err := rl.opts.Registry.Get(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		writePlainError(w, http.StatusNotFound, fmt.Sprintf("agent %q is not registered with Parley", name))
		return
	}
	if err != nil {
		rl.log.ErrorContext(r.Context(), "relay: agent card", "agent", name, "err", err)
		writePlainError(w, http.StatusServiceUnavailable, fmt.Sprintf("agent %q: the agent registry is unavailable", name))
		return
	}
	if len(rl.agentEndpoints(agent)) == 0 {
		writePlainError(w, http.StatusBadGateway, fmt.Sprintf("agent %q offers no A2A JSON-RPC interface Parley can relay", agent.Name))
		return
	}
	doc, err := rl.rewriteCard(agent.Card.Raw, agent.Name)
	if err != nil {
		rl.log.ErrorContext(r.Context(), "relay: agent card", "agent", agent.Name, "err", err)
		writePlainError(w, http.StatusBadGateway, fmt.Sprintf("agent %q: its card cannot be rewritten: %v", agent.Name, err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	_, _ = w.Write(doc)
}

// RewriteCard rewrites an agent card (A2A 0.3, 1.0 or both) to point at
// relayURL, the relay's JSON-RPC endpoint for the agent: the 0.3 url
// becomes relayURL with preferredTransport JSONRPC and a 0.3
// protocolVersion, additionalInterfaces (gRPC, HTTP+JSON: not relayed) are
// dropped, and supportedInterfaces lists relayURL for A2A 1.0 and 0.3.
// Signatures, which the rewrite would break, are dropped. Everything else
// is kept, security schemes included: they are still the agent's.
func RewriteCard(card []byte, relayURL string) ([]byte, error) {
	c03, err := compat.CardTo03(card)
	if err != nil {
		return nil, err
	}
	v, err := decodeJSON(c03)
	if err != nil {
		return nil, err
	}
	c, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("an agent card must be a JSON object")
	}
	c["url"] = relayURL
	c["preferredTransport"] = compat.BindingJSONRPC
	if pv, _ := c["protocolVersion"].(string); pv == "" || compat.ParseVersion(pv) != compat.V03 {
		c["protocolVersion"] = "0.3.0"
	}
	delete(c, "additionalInterfaces")
	delete(c, "supportedInterfaces")
	delete(c, "signatures")
	doc, err := encodeJSON(c)
	if err != nil {
		return nil, err
	}
	return compat.CardWith10(doc, compat.InterfacesFor(relayURL, compat.BindingJSONRPC, compat.V10, compat.V03))
}

// rewriteCard is RewriteCard with Parley's security schemes in place of
// the agent's, when the relay has them.
func (rl *Relay) rewriteCard(card []byte, agent string) ([]byte, error) {
	if rl.opts.SecuritySchemes != nil {
		v, err := decodeJSON(card)
		if err != nil {
			return nil, err
		}
		c, ok := v.(map[string]any)
		if !ok {
			return nil, errors.New("an agent card must be a JSON object")
		}
		// Both versions' spellings of the agent's schemes go; the 0.3 ones
		// of Parley's come in, and CardWith10 adds their 1.0 form.
		delete(c, "securitySchemes")
		delete(c, "security")
		delete(c, "securityRequirements")
		schemes, err := json.Marshal(rl.opts.SecuritySchemes)
		if err != nil {
			return nil, err
		}
		security, err := json.Marshal(rl.opts.Security)
		if err != nil {
			return nil, err
		}
		c["securitySchemes"], c["security"] = json.RawMessage(schemes), json.RawMessage(security)
		if card, err = json.Marshal(c); err != nil {
			return nil, err
		}
	}
	return RewriteCard(card, rl.AgentURL(agent))
}

// agentEndpoints lists the agent's JSON-RPC interfaces in a version Parley
// speaks, in the card's order, cached per card.
func (rl *Relay) agentEndpoints(agent agentcards.Agent) []endpoint {
	if agent.Card == nil {
		return nil
	}
	key := strings.ToLower(agent.Name)
	rl.mu.Lock()
	c, ok := rl.endpoints[key]
	rl.mu.Unlock()
	if ok && c.hash == agent.Card.Hash {
		return c.eps
	}
	var eps []endpoint
	add := func(u, binding string, v compat.Version) {
		if u == "" || !strings.EqualFold(binding, compat.BindingJSONRPC) || !v.Supported() {
			return
		}
		for _, e := range eps {
			if e.url == u && e.version == v {
				return
			}
		}
		eps = append(eps, endpoint{url: u, version: v})
	}
	// compat reads every interface with its own version (the registry
	// keeps one per URL and transport).
	if ifaces, err := compat.CardInterfaces(agent.Card.Raw); err == nil {
		for _, i := range ifaces {
			add(i.URL, i.ProtocolBinding, i.Version())
		}
	}
	for _, i := range agent.Card.Interfaces {
		v := i.ProtocolVersion
		if v == "" {
			v = agent.Card.ProtocolVersion
		}
		add(i.URL, i.Transport, compat.ParseVersion(v))
	}
	rl.mu.Lock()
	rl.endpoints[key] = cachedEndpoints{hash: agent.Card.Hash, eps: eps}
	rl.mu.Unlock()
	return eps
}

// pickEndpoint prefers an interface in the caller's version, so that
// nothing needs translating.
func pickEndpoint(eps []endpoint, v compat.Version) (endpoint, bool) {
	for _, e := range eps {
		if e.version == v {
			return e, true
		}
	}
	if len(eps) > 0 {
		return eps[0], true
	}
	return endpoint{}, false
}

// ---------------------------------------------------------------- JSON-RPC

// Reasons a relayed call failed, in the error data's "cause".
const (
	causeNotRegistered = "not_registered"
	causeForbidden     = "forbidden"
	causeNoInterface   = "no_jsonrpc_interface"
	causeRegistry      = "registry_unavailable"
	causeUnreachable   = "unreachable"
	causeTimeout       = "timeout"
	causeBadResponse   = "bad_response"
	causeTranslation   = "translation"
	causeOutbound      = "outbound"
	causeAgentError    = "agent_error"
	causeCallback      = "callback_not_allowed"
	causeAmbiguous     = "ambiguous_request"
	causeAmbiguousTask = "ambiguous_task"
	causeTaskRecords   = "task_records_unavailable"
)

var errRelayTimeout = errors.New("relay timeout")

// call is one relayed JSON-RPC call.
type call struct {
	rl        *Relay
	w         http.ResponseWriter
	r         *http.Request
	name      string         // the agent's name, as registered once known
	cv, av    compat.Version // the caller's and the agent's versions
	method    string         // as the caller named it
	id        any
	streaming bool
	caller    string
	started   bool // SSE headers written
}

func (rl *Relay) serveJSONRPC(w http.ResponseWriter, r *http.Request, name string) {
	c := &call{rl: rl, w: w, r: r, name: name, cv: compat.ParseVersion(r.Header.Get(compat.HeaderVersion))}
	if !c.cv.Supported() {
		c.cv = compat.V10
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		c.writeJSON(http.StatusMethodNotAllowed, compat.ErrorResponse(c.cv, nil, &compat.Error{Code: compat.CodeInvalidRequest, Message: "A2A JSON-RPC requests are POSTed"}))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, rl.opts.MaxBodyBytes))
	_ = r.Body.Close()
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			c.writeJSON(http.StatusRequestEntityTooLarge, compat.ErrorResponse(c.cv, nil, &compat.Error{Code: compat.CodeInvalidRequest, Message: fmt.Sprintf("request body larger than %d bytes", rl.opts.MaxBodyBytes)}))
			return
		}
		c.writeJSON(http.StatusBadRequest, compat.ErrorResponse(c.cv, nil, &compat.Error{Code: compat.CodeParseError, Message: "reading the request: " + err.Error()}))
		return
	}
	parsed, err := decodeJSON(body)
	if err != nil {
		c.writeJSON(http.StatusOK, compat.ErrorResponse(c.cv, nil, &compat.Error{Code: compat.CodeParseError, Message: "invalid JSON: " + err.Error()}))
		return
	}
	req, _ := parsed.(map[string]any)
	if req != nil {
		c.id = req["id"]
		c.method, _ = req["method"].(string)
	}
	if req == nil || c.method == "" {
		c.writeJSON(http.StatusOK, compat.ErrorResponse(c.cv, c.id, &compat.Error{Code: compat.CodeInvalidRequest, Message: "a JSON-RPC request must be an object with a method"}))
		return
	}
	v := compat.DetectVersion(r, body)
	if !v.Supported() {
		c.writeJSON(http.StatusOK, compat.ErrorResponse(compat.V10, c.id, &compat.Error{Code: compat.CodeVersionNotSupported,
			Message: fmt.Sprintf("A2A-Version %q is not supported (supported: 0.3, 1.0)", string(v))}))
		return
	}
	c.cv = v
	c.streaming = compat.IsStreaming(c.method)
	c.caller = rl.caller(r)
	NoteRequestTask(r.Context(), req) // the call's audit record names its task
	if k := misspelledEnvelope(req); k != "" {
		c.fail(compat.CodeInvalidRequest, causeAmbiguous, "the request has a member %q: JSON-RPC's members are spelled jsonrpc, id, method and params", snippet([]byte(k)))
		return
	}
	if !c.checkCallbacks(req) {
		return
	}
	c.relay(body, req)
}

// checkCallbacks refuses a request whose push-notification callback URLs
// the guard does not allow, answering the caller; it reports whether the
// request may go on. Each URL's host is resolved and every address checked,
// as the guard checks an agent's (a name resolving to a private address
// is refused too).
func (c *call) checkCallbacks(req map[string]any) bool {
	urls := compat.PushNotificationURLs(req)
	if len(urls) == 0 {
		return true
	}
	ctx, cancel := context.WithTimeout(c.r.Context(), c.rl.opts.Timeout)
	defer cancel()
	for _, u := range urls {
		err := c.rl.opts.Guard.CheckURL(ctx, u)
		if err == nil {
			continue
		}
		c.rl.log.WarnContext(c.r.Context(), "relay: push-notification callback refused", "agent", c.name, "method", c.method, "caller", c.caller, "url", u, "err", err)
		var blocked *agentcards.BlockedError
		reason, ok := agentcards.NetErrorReason(err)
		switch {
		case errors.As(err, &blocked):
			reason = blocked.Explain()
		case !ok:
			reason = err.Error() // the URL's form: the guard says it in the caller's terms
		}
		c.fail(compat.CodeInvalidParams, causeCallback, "the push-notification callback URL %q is not allowed: %s", u, reason)
		return false
	}
	return true
}

// caller names who is calling, with the gateway's own server's rules.
func (rl *Relay) caller(r *http.Request) string {
	ctx := r.Context()
	if _, ok := a2asrv.CallContextFrom(ctx); !ok {
		ctx, _ = a2asrv.WithCallContext(ctx, a2asrv.NewRequestMeta(r.Header))
	}
	if rl.opts.Principal != nil {
		if name, ok := rl.opts.Principal(ctx); ok && name != "" {
			return name
		}
	}
	if p, ok := auth.FromContext(ctx); ok && p.Name() != "" {
		return p.Name()
	}
	return CallerFrom(ctx)
}

func (c *call) relay(body []byte, req map[string]any) {
	rl, r := c.rl, c.r
	agent, err := rl.opts.Registry.Get(r.Context(), c.name)
	if errors.Is(err, store.ErrNotFound) {
		c.fail(compat.CodeInvalidRequest, causeNotRegistered, "agent %q is not registered with Parley", c.name)
		return
	}
	if err != nil {
		rl.log.ErrorContext(r.Context(), "relay: agent registry", "agent", c.name, "err", err)
		c.fail(compat.CodeInternalError, causeRegistry, "agent %q: the agent registry is unavailable", c.name)
		return
	}
	c.name = agent.Name
	if rl.opts.Authorize != nil {
		if err := rl.opts.Authorize(r.Context(), agent.Name); err != nil {
			c.fail(compat.CodeInvalidRequest, causeForbidden, "agent %q: not allowed: %v", c.name, err)
			return
		}
	}
	ep, ok := pickEndpoint(rl.agentEndpoints(agent), c.cv)
	if !ok {
		c.fail(compat.CodeUnsupportedOperation, causeNoInterface, "agent %q offers no A2A JSON-RPC interface Parley can relay", c.name)
		return
	}
	c.av = ep.version

	// The tasks the caller named, as the caller's version reads them.
	taskIDs := relayTaskIDs(c.cv, req)
	out := body
	if c.av != c.cv {
		translate := compat.RequestTo10
		if c.av == compat.V03 {
			translate = compat.RequestTo03
		}
		if out, err = translate(body); err != nil {
			e := compat.AsError(err)
			c.fail(e.Code, causeTranslation, "agent %q speaks A2A %s, and the request cannot be translated to it: %s", c.name, c.av, e.Message)
			return
		}
		req = nil
		if v, err := decodeJSON(out); err == nil {
			req, _ = v.(map[string]any)
		}
	}
	// From here req is the request the agent gets, decoded.
	reencode := false
	if m := compat.Method10(c.method); m == "SendMessage" || m == "SendStreamingMessage" {
		p, _ := auth.FromContext(r.Context())
		reencode = withCaller(req, c.caller, p)
	}
	// And the tasks the agent may read in it, as its version does.
	taskIDs = mergeIDs(taskIDs, relayTaskIDs(c.av, req))
	if !c.checkTask(taskIDs) {
		return
	}
	// A request naming a task goes out as it was checked: re-encoded from
	// what Parley decoded, so that no duplicate member can name another
	// task to a decoder that keeps the first of them.
	if reencode || len(taskIDs) > 0 {
		if b, err := encodeJSON(req); err == nil && req != nil {
			out = b
		}
	}

	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	var timer *time.Timer
	if c.streaming {
		// Only until the agent starts answering: see after Do.
		timer = time.AfterFunc(rl.opts.Timeout, func() { cancel(errRelayTimeout) })
	} else {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, rl.opts.Timeout, errRelayTimeout)
		defer stop()
	}
	outReq, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.url, bytes.NewReader(out))
	if err != nil {
		rl.log.ErrorContext(r.Context(), "relay: agent endpoint", "agent", c.name, "endpoint", ep.url, "err", err)
		c.fail(compat.CodeInternalError, causeUnreachable, "agent %q: its endpoint %q is not a URL Parley can call", c.name, ep.url)
		return
	}
	c.outboundHeaders(outReq)
	if rl.opts.Outbound != nil {
		if err := rl.opts.Outbound(c.name, outReq); err != nil {
			rl.log.ErrorContext(r.Context(), "relay: outbound credentials", "agent", c.name, "err", err)
			c.fail(compat.CodeInternalError, causeOutbound, "agent %q: Parley could not get its own credentials for the agent", c.name)
			return
		}
	}
	start := time.Now()
	resp, err := rl.client.Do(outReq)
	if timer != nil && !timer.Stop() {
		// The timer fired: the call was (or is being) cancelled.
		if err == nil {
			_ = resp.Body.Close()
			err = context.Cause(ctx)
		}
	}
	if err != nil {
		c.callFailed(ctx, err)
		return
	}
	defer resp.Body.Close()
	rl.log.DebugContext(r.Context(), "relay: agent answered", "agent", c.name, "method", c.method, "caller", c.caller,
		"status", resp.StatusCode, "after", time.Since(start), "caller_version", c.cv, "agent_version", c.av)
	if resp.StatusCode == http.StatusOK && isEventStream(resp.Header.Get("Content-Type")) {
		c.copyStream(ctx, resp)
		return
	}
	if timer != nil {
		// A stream answered with a plain body: bound reading it too.
		timer.Reset(rl.opts.Timeout)
		defer timer.Stop()
	}
	c.copyAnswer(ctx, resp)
}

// withCaller puts the caller into the message's metadata, and reports
// whether it could: metadata.parley = {"caller": caller, "via": "parley"}
// and, when the call is authenticated, auth's on_behalf_of entry
// (auth.WithOnBehalfOf). Only the gateway writes under "parley": whatever
// the caller put there is replaced.
func withCaller(req map[string]any, caller string, p *auth.Principal) bool {
	params, _ := req["params"].(map[string]any)
	msg, _ := params["message"].(map[string]any)
	if msg == nil {
		return false
	}
	md, _ := msg["metadata"].(map[string]any)
	md = maps.Clone(md)
	if md == nil {
		md = map[string]any{}
	}
	md[auth.MetadataKey] = map[string]any{"caller": caller, "via": "parley"}
	if p != nil {
		md = auth.WithOnBehalfOf(md, p)
	}
	msg["metadata"] = md
	return true
}

// outboundHeaders sets what the agent gets of the caller's headers: the
// content negotiation, the version and extensions (in the agent's
// spelling), the request ID and trace context. Never credentials or
// cookies, never hop-by-hop headers.
func (c *call) outboundHeaders(out *http.Request) {
	in := c.r.Header
	out.Header.Set("Content-Type", "application/json")
	accept := in.Get("Accept")
	if accept == "" {
		accept = "application/json"
		if c.streaming {
			accept = "text/event-stream"
		}
	}
	out.Header.Set("Accept", accept)
	out.Header.Set("User-Agent", "parley-gateway")
	if c.av == compat.V10 {
		out.Header.Set(compat.HeaderVersion, string(compat.V10))
	}
	if ext := extensions(in, c.cv); len(ext) > 0 {
		out.Header[http.CanonicalHeaderKey(extensionsHeader(c.av))] = ext
	}
	id := ""
	if c.rl.opts.RequestID != nil {
		id = c.rl.opts.RequestID(c.r.Context())
	}
	if id == "" {
		id = in.Get("X-Request-Id")
	}
	if id != "" {
		out.Header.Set("X-Request-Id", id)
	}
	for _, h := range []string{"Traceparent", "Tracestate"} {
		if v := in.Get(h); v != "" {
			out.Header.Set(h, v)
		}
	}
}

func extensionsHeader(v compat.Version) string {
	if v == compat.V10 {
		return compat.HeaderExtensions
	}
	return compat.HeaderExtensions03
}

// extensions reads the extensions header of version v, or else the other
// version's spelling.
func extensions(h http.Header, v compat.Version) []string {
	if ext := h.Values(extensionsHeader(v)); len(ext) > 0 {
		return ext
	}
	other := compat.V03
	if v == compat.V03 {
		other = compat.V10
	}
	return h.Values(extensionsHeader(other))
}

// callFailed answers a call whose request did not get an answer.
func (c *call) callFailed(ctx context.Context, err error) {
	if errors.Is(context.Cause(ctx), errRelayTimeout) {
		c.rl.log.WarnContext(c.r.Context(), "relay: agent timed out", "agent", c.name, "method", c.method, "caller", c.caller, "timeout", c.rl.opts.Timeout)
		c.fail(compat.CodeInternalError, causeTimeout, "agent %q did not answer within %s", c.name, c.rl.opts.Timeout)
		return
	}
	if c.r.Context().Err() != nil {
		return // the caller went away: nobody to answer
	}
	c.rl.log.WarnContext(c.r.Context(), "relay: agent unreachable", "agent", c.name, "method", c.method, "caller", c.caller, "err", err)
	reason, _ := agentcards.NetErrorReason(err)
	c.fail(compat.CodeInternalError, causeUnreachable, "agent %q is unreachable: %s", c.name, reason)
}

// copyAnswer passes on a JSON answer (or turns what is not one into an
// error naming the agent).
func (c *call) copyAnswer(ctx context.Context, resp *http.Response) {
	c.copyActivatedExtensions(resp.Header)
	raw, err := io.ReadAll(io.LimitReader(resp.Body, c.rl.opts.MaxResponseBytes+1))
	if err != nil {
		c.callFailed(ctx, fmt.Errorf("reading its answer: %w", err))
		return
	}
	if int64(len(raw)) > c.rl.opts.MaxResponseBytes {
		c.fail(compat.CodeInvalidAgentResponse, causeBadResponse, "agent %q answered with more than %d bytes", c.name, c.rl.opts.MaxResponseBytes)
		return
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		if resp.StatusCode == http.StatusOK {
			// a2a-go answers a call without a result (deleting a push
			// config) with nothing at all; JSON-RPC says result null.
			b, _ := encodeJSON(map[string]any{"jsonrpc": "2.0", "id": c.id, "result": nil})
			c.answer(b)
			return
		}
		c.fail(compat.CodeInternalError, causeBadResponse, "agent %q answered HTTP %s with no body", c.name, resp.Status)
		return
	}
	parsed, err := decodeJSON(raw)
	answer, _ := parsed.(map[string]any)
	_, hasResult := answer["result"]
	_, hasError := answer["error"]
	if err != nil || answer == nil || (!hasResult && !hasError) {
		if resp.StatusCode/100 != 2 {
			c.fail(compat.CodeInternalError, causeBadResponse, "agent %q answered HTTP %s: %s", c.name, resp.Status, snippet(raw))
			return
		}
		c.fail(compat.CodeInvalidAgentResponse, causeBadResponse, "agent %q answered with something that is not a JSON-RPC response: %s", c.name, snippet(raw))
		return
	}
	if c.av != c.cv {
		translate := compat.ResponseTo10
		if c.cv == compat.V03 {
			translate = compat.ResponseTo03
		}
		if raw, err = translate(c.method, raw); err != nil {
			c.fail(compat.CodeInvalidAgentResponse, causeTranslation, "agent %q: its A2A %s answer cannot be translated to A2A %s: %s", c.name, c.av, c.cv, compat.AsError(err).Message)
			return
		}
		parsed, _ = decodeJSON(raw)
		answer, _ = parsed.(map[string]any)
	}
	if out, changed := c.inspect(answer); changed {
		if b, err := encodeJSON(out); err == nil {
			raw = b
		}
	}
	c.answer(raw)
}

// inspect looks at an answer (or streamed event) in the caller's version:
// an agent's error is annotated with its name, a task is recorded, a card
// is rewritten. It returns the answer and whether it changed.
func (c *call) inspect(answer map[string]any) (map[string]any, bool) {
	if answer == nil {
		return nil, false
	}
	if e, ok := answer["error"].(map[string]any); ok {
		c.rl.log.DebugContext(c.r.Context(), "relay: agent error", "agent", c.name, "method", c.method, "caller", c.caller, "error", e["message"])
		noteRelayFailure(c.r.Context(), causeAgentError)
		return c.agentError(answer["id"], e), true
	}
	result := answer["result"]
	if compat.Method10(c.method) == "ListTasks" {
		if out, changed := c.ownTasksOnly(answer); changed {
			return out, true
		}
	}
	if id, ctxID, state, ok := taskOf(c.cv, result); ok {
		noteTask(c.r.Context(), id) // the call's audit record names its task
		c.rl.record(store.RelayedTask{Agent: c.name, TaskID: id, ContextID: ctxID, Caller: c.caller, State: state, UpdatedAt: c.rl.opts.Now()})
	}
	if compat.Method10(c.method) == "GetExtendedAgentCard" {
		if card, ok := result.(map[string]any); ok {
			if doc, err := encodeJSON(card); err == nil {
				if rewritten, err := c.rl.rewriteCard(doc, c.name); err == nil {
					if c.cv == compat.V10 {
						rewritten, err = compat.CardTo10(rewritten)
					}
					if v, err2 := decodeJSON(rewritten); err == nil && err2 == nil {
						out := maps.Clone(answer)
						out["result"] = v
						return out, true
					}
				}
			}
		}
	}
	return answer, false
}

// agentError renders an agent's JSON-RPC error for the caller: its message
// prefixed with the agent's name, its data in the shape of the caller's
// version (whatever shape the agent used) and naming the agent, as an
// "agent" member of object data (0.3, and 1.0 codes without an A2A
// reason) or an ErrorInfo detail in a 1.0 list of details.
func (c *call) agentError(id any, e map[string]any) map[string]any {
	code := compat.CodeInternalError
	if n, ok := e["code"].(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			code = int(i)
		}
	}
	msg, _ := e["message"].(string)
	if prefix := fmt.Sprintf("agent %q: ", c.name); !strings.HasPrefix(msg, prefix) {
		msg = prefix + msg
	}
	parsed, err := decodeJSON(compat.ErrorResponse(c.cv, id, &compat.Error{Code: code, Message: msg, Data: e["data"]}))
	out, _ := parsed.(map[string]any)
	rendered, _ := out["error"].(map[string]any)
	if err != nil || rendered == nil {
		return map[string]any{"jsonrpc": "2.0", "id": id, "error": e}
	}
	switch d := rendered["data"].(type) {
	case map[string]any:
		d["agent"] = c.name
	case []any:
		rendered["data"] = append(d, agentErrorInfo(c.name))
	case nil: // compat's rendering of codes without an A2A reason
		rendered["data"] = map[string]any{"agent": c.name}
	default:
		rendered["data"] = map[string]any{"value": d, "agent": c.name}
	}
	return out
}

func agentErrorInfo(agent string) map[string]any {
	return map[string]any{
		"@type":    "type.googleapis.com/google.rpc.ErrorInfo",
		"reason":   "RELAYED_AGENT_ERROR",
		"domain":   "parley",
		"metadata": map[string]any{"agent": agent},
	}
}

// copyStream passes on a text/event-stream answer event by event, each
// flushed to the caller as soon as it is complete, until the agent ends
// the stream or either side goes away.
func (c *call) copyStream(ctx context.Context, resp *http.Response) {
	c.startStream(resp.Header)
	br := bufio.NewReaderSize(resp.Body, 32<<10)
	limit := int(min(c.rl.opts.MaxResponseBytes, int64(^uint(0)>>1)))
	for {
		ev, err := readEvent(br, limit)
		if ev != nil {
			out, ok := c.event(ev)
			if werr := c.writeEvent(out); werr != nil {
				return // the caller went away; ctx ends the agent's side
			}
			if !ok {
				return
			}
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, io.EOF):
			return
		case c.r.Context().Err() != nil:
			return
		case errors.Is(err, errEventTooLarge):
			c.fail(compat.CodeInvalidAgentResponse, causeBadResponse, "agent %q streamed an event larger than %d bytes", c.name, c.rl.opts.MaxResponseBytes)
			return
		default:
			if errors.Is(context.Cause(ctx), errRelayTimeout) {
				c.callFailed(ctx, err)
				return
			}
			c.rl.log.WarnContext(c.r.Context(), "relay: agent stream broke", "agent", c.name, "method", c.method, "caller", c.caller, "err", err)
			reason, _ := agentcards.NetErrorReason(err)
			c.fail(compat.CodeInternalError, causeUnreachable, "agent %q: its stream broke: %s", c.name, reason)
			return
		}
	}
}

// event translates, inspects and renders one streamed event; ok false
// means the stream should end after it (it could not be translated).
func (c *call) event(ev *sseEvent) (out []byte, ok bool) {
	if !ev.hasData {
		return ev.render(nil), true
	}
	data := ev.data
	if c.av != c.cv {
		translate := compat.StreamEventTo10
		if c.cv == compat.V03 {
			translate = compat.StreamEventTo03
		}
		var err error
		if data, err = translate(c.method, data); err != nil {
			e := relayError(compat.CodeInvalidAgentResponse, c.name, causeTranslation,
				fmt.Sprintf("agent %q: an A2A %s event cannot be translated to A2A %s: %s", c.name, c.av, c.cv, compat.AsError(err).Message))
			return ev.render(compat.ErrorResponse(c.cv, c.id, e)), false
		}
	}
	if parsed, err := decodeJSON(data); err == nil {
		answer, _ := parsed.(map[string]any)
		if changed, ok := c.inspect(answer); ok {
			if b, err := encodeJSON(changed); err == nil {
				data = b
			}
		}
	}
	return ev.render(data), true
}

// startStream writes the SSE response headers, once.
func (c *call) startStream(agentHeader http.Header) {
	if c.started {
		return
	}
	c.started = true
	h := c.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
	c.copyActivatedExtensions(agentHeader)
	c.w.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(c.w).Flush()
}

func (c *call) writeEvent(b []byte) error {
	if _, err := c.w.Write(b); err != nil {
		return err
	}
	return http.NewResponseController(c.w).Flush()
}

// copyActivatedExtensions passes on the extensions the agent activated, in
// the caller's spelling.
func (c *call) copyActivatedExtensions(agentHeader http.Header) {
	if agentHeader == nil {
		return
	}
	if ext := extensions(agentHeader, c.av); len(ext) > 0 {
		c.w.Header()[http.CanonicalHeaderKey(extensionsHeader(c.cv))] = ext
	}
}

// answer writes a JSON-RPC answer in the caller's version: a JSON body, or
// for a streaming method a stream of one event.
func (c *call) answer(b []byte) {
	if c.streaming {
		c.startStream(nil)
		_ = c.writeEvent((&sseEvent{hasData: true}).render(b))
		return
	}
	c.writeJSON(http.StatusOK, b)
}

func (c *call) writeJSON(status int, b []byte) {
	h := c.w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	c.w.WriteHeader(status)
	_, _ = c.w.Write(append(b, '\n'))
}

// fail answers with a JSON-RPC error naming the agent.
func (c *call) fail(code int, cause, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	noteRelayFailure(c.r.Context(), cause) // the call's audit record says it failed, or was refused
	c.answer(compat.ErrorResponse(c.cv, c.id, relayError(code, c.name, cause, msg)))
}

func relayError(code int, agent, cause, msg string) *compat.Error {
	// "error" is what a2a-go's client shows of an error's data.
	return &compat.Error{Code: code, Message: msg, Data: map[string]any{"agent": agent, "cause": cause, "error": msg}}
}

func snippet(b []byte) string {
	const max = 200
	s := strings.ToValidUTF8(string(b), "?")
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "…"
	}
	return s
}

func writePlainError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func isEventStream(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "text/event-stream")
}

// ---------------------------------------------------------------- tasks

// taskOf finds the task an answer's result (or a streamed event's) is
// about, in version v: a task, a status update, or (1.0) a send result
// holding a task. The state is returned in its A2A 0.3 spelling.
func taskOf(v compat.Version, result any) (id, contextID, state string, ok bool) {
	r, _ := result.(map[string]any)
	if r == nil {
		return "", "", "", false
	}
	var t map[string]any
	isUpdate := false
	if v == compat.V03 {
		switch r["kind"] {
		case "task":
			t = r
		case "status-update":
			t, isUpdate = r, true
		}
	} else {
		switch {
		case field(r, "task") != nil:
			t, _ = field(r, "task").(map[string]any)
		case field(r, "statusUpdate") != nil:
			t, _ = field(r, "statusUpdate").(map[string]any)
			isUpdate = true
		case field(r, "message") != nil, field(r, "artifactUpdate") != nil:
		case r["id"] != nil && r["status"] != nil: // GetTask, CancelTask
			t = r
		}
	}
	if t == nil {
		return "", "", "", false
	}
	idField := "id"
	if isUpdate {
		idField = "taskId"
	}
	id, _ = field(t, idField).(string)
	contextID, _ = field(t, "contextId").(string)
	status, _ := t["status"].(map[string]any)
	state = state03(status["state"])
	return id, contextID, state, id != ""
}

// field reads a member under its lowerCamel name or, as 1.0 proto-JSON
// allows, its snake_case one.
func field(o map[string]any, name string) any {
	if v, ok := o[name]; ok && v != nil {
		return v
	}
	var b strings.Builder
	for _, r := range name {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return o[b.String()]
}

var states10 = []string{"unknown", "submitted", "working", "completed", "failed", "canceled", "input-required", "rejected", "auth-required"}

// state03 spells a task state of either version as A2A 0.3 does:
// TASK_STATE_INPUT_REQUIRED (or its number, 6) is input-required.
func state03(v any) string {
	switch s := v.(type) {
	case string:
		rest, ok := strings.CutPrefix(s, "TASK_STATE_")
		if !ok {
			return s
		}
		if rest == "UNSPECIFIED" {
			return "unknown"
		}
		return strings.ReplaceAll(strings.ToLower(rest), "_", "-")
	case json.Number:
		if n, err := s.Int64(); err == nil && n >= 0 && int(n) < len(states10) {
			return states10[n]
		}
		return s.String()
	}
	return ""
}

func (rl *Relay) record(t store.RelayedTask) {
	if rl.rec != nil {
		rl.rec.record(t)
	}
}

// recorder saves relayed tasks in the background, so that a slow or broken
// store never delays a call. Saves of one task go through one worker, in
// the order they were seen; a full queue drops the record (and says so in
// the log) rather than wait. It counts the saves of each task still
// waiting, so that the ownership check can wait for those seen before it
// (await).
type recorder struct {
	st  store.RelayedTasks
	log *slog.Logger

	mu     sync.RWMutex
	closed bool
	queues []chan store.RelayedTask
	wg     sync.WaitGroup

	pendingMu sync.Mutex
	pending   map[string]*pendingSaves // by recordKey; only tasks with saves waiting
}

// pendingSaves counts a task's saves handed to the workers and those done
// with (saved, failed or dropped); changed is closed, and replaced, each
// time one is done with.
type pendingSaves struct {
	queued, settled uint64
	changed         chan struct{}
}

// recordKey names a relayed task as the store keys it: agents ignoring
// case.
func recordKey(agent, taskID string) string { return strings.ToLower(agent) + "/" + taskID }

const (
	recorderWorkers = 4
	recorderQueue   = 1024
	recordTimeout   = 10 * time.Second
)

func newRecorder(st store.RelayedTasks, log *slog.Logger) *recorder {
	r := &recorder{st: st, log: log, pending: map[string]*pendingSaves{}}
	for range recorderWorkers {
		q := make(chan store.RelayedTask, recorderQueue)
		r.queues = append(r.queues, q)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			for t := range q {
				ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
				if err := r.st.SaveRelayedTask(ctx, t); err != nil {
					r.log.Error("relay: recording a relayed task failed", "agent", t.Agent, "task", t.TaskID, "caller", t.Caller, "state", t.State, "err", err)
				}
				cancel()
				r.settle(recordKey(t.Agent, t.TaskID))
			}
		}()
	}
	return r
}

func (r *recorder) record(t store.RelayedTask) {
	key := recordKey(t.Agent, t.TaskID)
	h := fnv.New32a()
	_, _ = io.WriteString(h, key)
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return
	}
	r.queue(key)
	select {
	case r.queues[h.Sum32()%uint32(len(r.queues))] <- t:
	default:
		r.settle(key)
		r.log.Warn("relay: too many relayed tasks waiting to be recorded; one was not", "agent", t.Agent, "task", t.TaskID, "caller", t.Caller, "state", t.State)
	}
}

// queue counts a save of the task as waiting.
func (r *recorder) queue(key string) {
	r.pendingMu.Lock()
	defer r.pendingMu.Unlock()
	p := r.pending[key]
	if p == nil {
		p = &pendingSaves{changed: make(chan struct{})}
		r.pending[key] = p
	}
	p.queued++
}

// settle counts a save of the task as done with.
func (r *recorder) settle(key string) {
	r.pendingMu.Lock()
	defer r.pendingMu.Unlock()
	p := r.pending[key]
	if p == nil {
		return
	}
	p.settled++
	close(p.changed)
	p.changed = make(chan struct{})
	if p.settled == p.queued {
		delete(r.pending, key)
	}
}

// await waits until the saves of the agent's task handed to the workers
// before it was called are done with (saved, failed or dropped), or ctx
// ends. Saves queued meanwhile are not waited for: a task streaming
// updates would keep a waiter forever.
func (r *recorder) await(ctx context.Context, agent, taskID string) error {
	r.pendingMu.Lock()
	p := r.pending[recordKey(agent, taskID)]
	if p == nil {
		r.pendingMu.Unlock()
		return nil
	}
	target := p.queued
	for p.settled < target {
		changed := p.changed
		r.pendingMu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		r.pendingMu.Lock()
	}
	r.pendingMu.Unlock()
	return nil
}

func (r *recorder) close() {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		for _, q := range r.queues {
			close(q)
		}
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// ---------------------------------------------------------------- SSE

var errEventTooLarge = errors.New("server-sent event too large")

// sseEvent is one server-sent event: its data (lines joined with "\n")
// and its other lines (id, event, retry, comments), kept in place.
type sseEvent struct {
	lines   [][]byte
	data    []byte
	hasData bool
	dataAt  int // the index in lines before which the data goes
}

// readEvent reads the next event, of at most max bytes. At the end of the
// stream it returns the last event if it was not terminated, with io.EOF.
func readEvent(br *bufio.Reader, max int) (*sseEvent, error) {
	var ev *sseEvent
	size := 0
	for {
		line, err := readLine(br, max-size)
		switch {
		case len(line) > 0:
			if ev == nil {
				ev = &sseEvent{}
			}
			size += len(line)
			if v, ok := bytes.CutPrefix(line, []byte("data:")); ok {
				v = bytes.TrimPrefix(v, []byte(" "))
				if ev.hasData {
					ev.data = append(ev.data, '\n')
				} else {
					ev.hasData, ev.dataAt = true, len(ev.lines)
				}
				ev.data = append(ev.data, v...)
			} else {
				ev.lines = append(ev.lines, line)
			}
		case err == nil && ev != nil: // a blank line ends the event
			return ev, nil
		}
		switch {
		case errors.Is(err, io.EOF):
			return ev, err // an event the stream ended in the middle of
		case err != nil:
			return nil, err // never pass on part of an event
		}
	}
}

// readLine reads a line of at most max bytes without its "\n" or "\r\n".
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line)+len(frag) > max+2 {
			return nil, errEventTooLarge
		}
		line = append(line, frag...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		return line, err
	}
}

// render writes the event with data in place of its own.
func (ev *sseEvent) render(data []byte) []byte {
	var b bytes.Buffer
	writeData := func() {
		for l := range bytes.SplitSeq(data, []byte("\n")) {
			b.WriteString("data: ")
			b.Write(l)
			b.WriteByte('\n')
		}
	}
	for i, l := range ev.lines {
		if ev.hasData && i == ev.dataAt {
			writeData()
		}
		b.Write(l)
		b.WriteByte('\n')
	}
	if ev.hasData && ev.dataAt == len(ev.lines) {
		writeData()
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// ---------------------------------------------------------------- JSON

// decodeJSON parses one JSON value, keeping numbers as written.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return v, nil
}

// encodeJSON renders v compactly, without HTML escaping.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
