package mcpbridge

// Forwarding a host's tools/call, prompts/get and resources/read to the
// upstream that serves it, carrying everything through both ways:
//
//   - arguments, and results whole (every kind of content, structured
//     content, isError, _meta) and the upstream's JSON-RPC errors as they
//     are;
//   - progress: the host's progress token is replaced by the lease's (see
//     upstream.Lease) and the upstream's notifications go back to the host
//     under its own token;
//   - log messages, to the host, whose own level filters them (the
//     per-request level of 2026-07-28 is passed on; a 2025-11-25 host's
//     session level is the SDK's business, so its upstream is asked for
//     everything);
//   - cancellation: the host's cancelled request cancels the upstream
//     call, which sends the upstream notifications/cancelled;
//   - the originating principal, in _meta (auth.WithOnBehalfOf);
//   - input from the person or model in mid-call, both ways: a
//     2026-07-28 upstream's input-required result goes to the host with
//     its requestState sealed (federation_state.go); a session upstream's
//     elicitation, sampling and roots requests during the call become an
//     input-required result too, whose answers go back to the upstream
//     when the host retries. The go-sdk server turns an input-required
//     result into server→client requests for a 2025-11-25 host, so both
//     host generations meet both upstream generations.
//
// A session upstream's call waits for its host's answers in this
// process's memory (a continuation, keyed by a sealed requestState): the
// host's retry must reach this replica. Issue 13 (replica-independent
// sessions) is where that goes away; a stateless upstream's round trips
// already work through any replica.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/upstream"
)

const (
	// gatherQuiet is how long a call that asked for input waits for more
	// requests before answering the host: a session upstream sends the
	// requests of one round concurrently, and the host should see them
	// together. A request that comes later is simply asked in the next
	// round.
	gatherQuiet = 100 * time.Millisecond
	// continuationTTL is how long a call waits for its host's answers
	// between rounds before it is cancelled.
	continuationTTL = 10 * time.Minute
)

// hostCall is the host request a federated call answers now.
type hostCall struct {
	ctx     context.Context
	session *mcp.ServerSession
	token   any // the host's progress token; nil: no progress asked for
	caps    *mcp.ClientCapabilities
	// sessions: the host speaks 2025-11-25 or older, and can be asked
	// for input with server→client requests in the middle of its call.
	sessions bool
}

// ask puts a session upstream's request to a session host, as the
// upstream would have put it directly: its answer, or its error (the
// host refusing it, a schema the SDK rejects), goes back to the upstream,
// which decides what the call makes of it. ctx is the upstream's request.
func (h *hostCall) ask(ctx context.Context, ir mcp.InputRequest) (mcp.InputResponse, error) {
	hctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()
	switch r := ir.(type) {
	case *mcp.ElicitParams:
		return h.session.Elicit(hctx, r)
	case *mcp.CreateMessageWithToolsParams:
		return h.session.CreateMessageWithTools(hctx, r)
	case *mcp.CreateMessageParams:
		return h.session.CreateMessage(hctx, r)
	case *mcp.ListRootsParams:
		return h.session.ListRoots(hctx, r)
	}
	return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: "unsupported request"}
}

func (h *hostCall) progress(p *mcp.ProgressNotificationParams) {
	if h == nil || h.token == nil || h.session == nil {
		return
	}
	_ = h.session.NotifyProgress(h.ctx, &mcp.ProgressNotificationParams{
		ProgressToken: h.token, Progress: p.Progress, Total: p.Total, Message: p.Message,
	})
}

func (h *hostCall) log(p *mcp.LoggingMessageParams) {
	if h == nil || h.session == nil {
		return
	}
	// Log drops what the host's level (per request, or its session's)
	// does not ask for.
	_ = h.session.Log(h.ctx, p)
}

// upstreamOp is one request to forward.
type upstreamOp struct {
	conn      *upstream.Conn
	method    string // tools/call, prompts/get, resources/read
	name      string // the upstream's tool or prompt name, or the URI
	args      json.RawMessage
	pargs     map[string]string
	meta      mcp.Meta
	responses mcp.InputResponseMap
	state     string // the upstream's requestState
}

func (op *upstreamOp) key() string { return op.method + " " + op.name }

// send makes the request on the lease's session.
func (op *upstreamOp) send(ctx context.Context, l *upstream.Lease) (res mcp.Result, err error) {
	ctx, span := startUpstreamSpan(ctx, op) // federation_trace.go
	defer func() { endUpstreamSpan(span, res, err) }()
	meta := tracedMeta(ctx, op.meta)
	if _, ok := meta["progressToken"]; ok {
		meta = maps.Clone(meta)
		meta["progressToken"] = l.ProgressToken()
	}
	cs := l.Session()
	switch op.method {
	case "tools/call":
		args := op.args
		if len(args) == 0 || string(args) == "null" {
			args = json.RawMessage("{}")
		}
		return cs.CallTool(ctx, &mcp.CallToolParams{Meta: meta, Name: op.name, Arguments: args,
			InputResponses: op.responses, RequestState: op.state})
	case "prompts/get":
		return cs.GetPrompt(ctx, &mcp.GetPromptParams{Meta: meta, Name: op.name, Arguments: op.pargs,
			InputResponses: op.responses, RequestState: op.state})
	case "resources/read":
		return cs.ReadResource(ctx, &mcp.ReadResourceParams{Meta: meta, URI: op.name,
			InputResponses: op.responses, RequestState: op.state})
	}
	return nil, fmt.Errorf("cannot forward %s", op.method)
}

// hostFor describes the host request req.
func hostFor(ctx context.Context, req mcp.Request, caps *mcp.ClientCapabilities) *hostCall {
	h := &hostCall{ctx: ctx, caps: caps, sessions: requestGen(req) < statelessVersion}
	if ss, ok := req.GetSession().(*mcp.ServerSession); ok {
		h.session = ss
	}
	if p, ok := req.GetParams().(interface{ GetProgressToken() any }); ok {
		h.token = p.GetProgressToken()
	}
	return h
}

// callerName binds a federated requestState to its caller.
func callerName(ctx context.Context) string {
	if p, ok := auth.FromContext(ctx); ok {
		return p.Name()
	}
	return ""
}

// outboundMeta is the _meta sent upstream: the host's own entries (not
// the protocol's, which the client sets for its own session), the
// progress token when the host asked for progress, the host's
// capabilities and log level for a 2026-07-28 upstream, and the
// principal Parley acts for.
func outboundMeta(ctx context.Context, in mcp.Meta, caps *mcp.ClientCapabilities, gen string, hostGen string) mcp.Meta {
	out := mcp.Meta{}
	for k, v := range in {
		if strings.HasPrefix(k, "io.modelcontextprotocol/") {
			continue
		}
		out[k] = v
	}
	if gen >= statelessVersion {
		out[mcp.MetaKeyClientCapabilities] = capsMeta(caps)
		switch lvl, ok := in[mcp.MetaKeyLogLevel]; {
		case ok:
			out[mcp.MetaKeyLogLevel] = lvl
		case hostGen < statelessVersion:
			// A session host set its level on its session, which the
			// SDK applies when Parley passes the messages on.
			out[mcp.MetaKeyLogLevel] = "debug"
		}
	}
	p, _ := auth.FromContext(ctx)
	return mcp.Meta(auth.WithOnBehalfOf(out, p))
}

// capsMeta is caps as the 2026-07-28 _meta carries them (roots as an
// object, only when declared).
func capsMeta(c *mcp.ClientCapabilities) map[string]any {
	out := map[string]any{}
	if c == nil {
		return out
	}
	b, err := json.Marshal(c)
	if err == nil {
		_ = json.Unmarshal(b, &out)
	}
	delete(out, "roots")
	if c.RootsV2 != nil {
		out["roots"] = map[string]any{"listChanged": c.RootsV2.ListChanged}
	}
	return out
}

// requestGen is the protocol revision of a host request.
func requestGen(req mcp.Request) string {
	if r, ok := req.(interface{ ProtocolVersion() string }); ok {
		return r.ProtocolVersion()
	}
	return ""
}

// forward carries op to its upstream for the host request req and
// returns the result for the host. hostState is the requestState the
// host echoed, if any.
func (f *federation) forward(ctx context.Context, req mcp.Request, caps *mcp.ClientCapabilities, op *upstreamOp, hostState string) (mcp.Result, error) {
	start := time.Now()
	audit.NoteDetail(ctx, "upstream", op.conn.Name())
	defer func() { audit.NoteDetail(ctx, "duration_ms", strconv.FormatInt(time.Since(start).Milliseconds(), 10)) }()

	caller := callerName(ctx)
	host := hostFor(ctx, req, caps)
	gen := op.conn.Generation()
	op.meta = outboundMeta(ctx, op.meta, caps, gen, requestGen(req))
	if hostState != "" {
		st, err := f.sealer.open(hostState, op.conn.Name(), op.key(), caller)
		if err != nil {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: err.Error()}
		}
		if st.Cont != "" {
			return f.resume(ctx, st.Cont, host, op)
		}
		op.state = st.State
	}
	if gen >= statelessVersion {
		return f.direct(ctx, host, op, caller)
	}
	return f.start(ctx, host, op, caller)
}

// directSink passes progress and log messages of a stateless upstream's
// call to its host; such an upstream asks for input with results, never
// with requests.
type directSink struct{ host *hostCall }

func (s directSink) Progress(_ context.Context, p *mcp.ProgressNotificationParams) {
	s.host.progress(p)
}
func (s directSink) Log(_ context.Context, p *mcp.LoggingMessageParams) { s.host.log(p) }
func (s directSink) Input(context.Context, mcp.InputRequest) (mcp.InputResponse, error) {
	return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: "requests to the client are not part of protocol version " + statelessVersion}
}

// direct forwards to a 2026-07-28 upstream, in the host's request.
func (f *federation) direct(ctx context.Context, host *hostCall, op *upstreamOp, caller string) (mcp.Result, error) {
	for attempt := 0; ; attempt++ {
		l, err := op.conn.Acquire(ctx, host.caps, directSink{host})
		if err != nil {
			return nil, err
		}
		res, err := op.send(ctx, l)
		l.Settle(ctx)
		l.Release(err)
		if errors.Is(err, mcp.ErrSessionMissing) && attempt == 0 {
			continue // the session expired at the upstream: it never saw the call
		}
		if err != nil {
			return nil, err
		}
		return f.hostResult(op, caller, res)
	}
}

// hostResult is the upstream's result as the host gets it: the protocol's
// own _meta entries (the upstream's serverInfo) left out, and the
// upstream's requestState, if it needs input, sealed.
func (f *federation) hostResult(op *upstreamOp, caller string, res mcp.Result) (mcp.Result, error) {
	var irs mcp.InputRequestMap
	var state string
	switch r := res.(type) {
	case *mcp.CallToolResult:
		irs, state = r.InputRequests, r.RequestState
	case *mcp.GetPromptResult:
		irs, state = r.InputRequests, r.RequestState
	case *mcp.ReadResourceResult:
		irs, state = r.InputRequests, r.RequestState
	}
	sealed := ""
	if irs != nil {
		var err error
		if sealed, err = f.sealer.seal(fedState{Upstream: op.conn.Name(), Op: op.key(), Caller: caller, State: state}); err != nil {
			return nil, err
		}
	}
	// Fresh results, so that the upstream's resultType does not travel:
	// the SDK sets the host's.
	switch r := res.(type) {
	case *mcp.CallToolResult:
		return &mcp.CallToolResult{Meta: cleanMeta(r.Meta), Content: r.Content, StructuredContent: r.StructuredContent,
			IsError: r.IsError, InputRequests: r.InputRequests, RequestState: sealed}, nil
	case *mcp.GetPromptResult:
		return &mcp.GetPromptResult{Meta: cleanMeta(r.Meta), Description: r.Description, Messages: r.Messages,
			InputRequests: r.InputRequests, RequestState: sealed}, nil
	case *mcp.ReadResourceResult:
		return &mcp.ReadResourceResult{Meta: cleanMeta(r.Meta), Contents: r.Contents,
			InputRequests: r.InputRequests, RequestState: sealed}, nil
	}
	return res, nil
}

func cleanMeta(m mcp.Meta) mcp.Meta {
	var out mcp.Meta
	for k, v := range m {
		if strings.HasPrefix(k, "io.modelcontextprotocol/") {
			continue
		}
		if out == nil {
			out = mcp.Meta{}
		}
		out[k] = v
	}
	return out
}

// continuation is a session upstream's call in flight, which may ask its
// host for input any number of times before it ends.
type continuation struct {
	id     string
	op     *upstreamOp
	caller string
	caps   *mcp.ClientCapabilities
	cancel context.CancelFunc

	mu       sync.Mutex
	host     *hostCall // the host request waiting on it; nil between rounds
	pending  map[string]*pendingInput
	seq      int
	changed  chan struct{} // closed at each change: a request, the end
	finished bool
	res      mcp.Result
	err      error
	expiry   *time.Timer
}

type pendingInput struct {
	req   mcp.InputRequest
	reply chan inputAnswer
}

type inputAnswer struct {
	resp mcp.InputResponse
	err  error
}

func (c *continuation) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *continuation) Progress(_ context.Context, p *mcp.ProgressNotificationParams) {
	c.mu.Lock()
	h := c.host
	c.mu.Unlock()
	h.progress(p)
}

func (c *continuation) Log(_ context.Context, p *mcp.LoggingMessageParams) {
	c.mu.Lock()
	h := c.host
	c.mu.Unlock()
	h.log(p)
}

// Input holds the upstream's request until the host answers it: a
// 2026-07-28 host with the input-required result of its call (and its
// retry), a session host straight away.
func (c *continuation) Input(ctx context.Context, ir mcp.InputRequest) (mcp.InputResponse, error) {
	c.mu.Lock()
	h := c.host
	c.mu.Unlock()
	if h != nil && h.sessions && h.session != nil {
		return h.ask(ctx, ir)
	}
	kind, ok := supports(c.caps, ir)
	if !ok {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "the client does not support " + kind}
	}
	p := &pendingInput{req: ir, reply: make(chan inputAnswer, 1)}
	c.mu.Lock()
	c.seq++
	key := kind + "-" + strconv.Itoa(c.seq)
	c.pending[key] = p
	c.notify()
	c.mu.Unlock()
	select {
	case a := <-p.reply:
		return a.resp, a.err
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pending, key)
		c.mu.Unlock()
		return nil, ctx.Err()
	}
}

// supports reports whether caps let Parley ask the host for ir, and the
// name of what it asks.
func supports(caps *mcp.ClientCapabilities, ir mcp.InputRequest) (string, bool) {
	if caps == nil {
		caps = &mcp.ClientCapabilities{}
	}
	switch r := ir.(type) {
	case *mcp.ElicitParams:
		if r.Mode == "url" {
			return "elicitation", caps.Elicitation != nil && caps.Elicitation.URL != nil
		}
		return "elicitation", caps.Elicitation != nil
	case *mcp.CreateMessageParams, *mcp.CreateMessageWithToolsParams:
		return "sampling", caps.Sampling != nil
	case *mcp.ListRootsParams:
		return "roots", caps.RootsV2 != nil || caps.Roots.ListChanged
	}
	return "this request", false
}

// answers reports whether resp is an answer of the kind req asks for.
func answers(req mcp.InputRequest, resp mcp.InputResponse) bool {
	switch req.(type) {
	case *mcp.ElicitParams:
		_, ok := resp.(*mcp.ElicitResult)
		return ok
	case *mcp.CreateMessageParams, *mcp.CreateMessageWithToolsParams:
		switch resp.(type) {
		case *mcp.CreateMessageWithToolsResult, *mcp.CreateMessageResult:
			return true
		}
	case *mcp.ListRootsParams:
		_, ok := resp.(*mcp.ListRootsResult)
		return ok
	}
	return false
}

func (c *continuation) finish(res mcp.Result, err error) {
	c.mu.Lock()
	c.finished, c.res, c.err = true, res, err
	c.notify()
	c.mu.Unlock()
}

// start forwards to a session upstream: the call runs on its own
// goroutine, so that it can outlive this host request when it asks for
// input.
func (f *federation) start(ctx context.Context, host *hostCall, op *upstreamOp, caller string) (mcp.Result, error) {
	// The host is set before the call starts, not when wait does: the
	// upstream may send the call's progress and log messages, and they be
	// handled, before this goroutine reaches wait, and they would find no
	// host to go to.
	c := &continuation{id: rand16(), op: op, caller: caller, caps: host.caps, host: host,
		pending: map[string]*pendingInput{}, changed: make(chan struct{})}
	l, err := op.conn.Acquire(ctx, host.caps, c)
	if err != nil {
		return nil, err
	}
	callCtx, cancel := context.WithCancel(withSpanOf(f.ctx, ctx)) // in the host request's trace (federation_trace.go)
	c.cancel = cancel
	f.wg.Go(func() {
		defer cancel()
		for attempt := 0; ; attempt++ {
			res, err := op.send(callCtx, l)
			l.Settle(callCtx)
			l.Release(err)
			if errors.Is(err, mcp.ErrSessionMissing) && attempt == 0 {
				if l, err = op.conn.Acquire(callCtx, c.caps, c); err == nil {
					continue
				}
			}
			c.finish(res, err)
			return
		}
	})
	if f.started != nil {
		f.started(c)
	}
	return f.wait(ctx, c, host)
}

// resume delivers the host's answers to the call waiting under id and
// waits for what comes next.
func (f *federation) resume(ctx context.Context, id string, host *hostCall, op *upstreamOp) (mcp.Result, error) {
	f.mu.Lock()
	c := f.conts[id]
	delete(f.conts, id)
	f.mu.Unlock()
	if c == nil {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams,
			Message: "invalid requestState: the call it answers is no longer waiting (it expired, was answered already, or went to another replica); call again"}
	}
	c.expiry.Stop()
	c.mu.Lock()
	for key, resp := range op.responses {
		p, ok := c.pending[key]
		if !ok || !answers(p.req, resp) {
			continue // not asked, or not an answer to it: asked again
		}
		p.reply <- inputAnswer{resp: resp}
		delete(c.pending, key)
	}
	c.mu.Unlock()
	return f.wait(ctx, c, host)
}

// wait waits, for the host request ctx, until the call ends or asks for
// input. A call that asks is kept for the host's retry.
func (f *federation) wait(ctx context.Context, c *continuation, host *hostCall) (mcp.Result, error) {
	c.mu.Lock()
	c.host = host
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.host = nil
		c.mu.Unlock()
	}()
	var quiet *time.Timer
	defer func() {
		if quiet != nil {
			quiet.Stop()
		}
	}()
	var gathered <-chan time.Time
	for {
		c.mu.Lock()
		finished, asked, changed := c.finished, len(c.pending) > 0, c.changed
		c.mu.Unlock()
		if finished {
			c.cancel()
			if c.err != nil {
				return nil, c.err
			}
			return f.hostResult(c.op, c.caller, c.res)
		}
		if asked && quiet == nil {
			quiet = time.NewTimer(gatherQuiet)
			gathered = quiet.C
		}
		select {
		case <-ctx.Done():
			c.cancel()
			return nil, ctx.Err()
		case <-changed:
			if quiet != nil {
				quiet.Reset(gatherQuiet)
			}
		case <-gathered:
			return f.askHost(c)
		}
	}
}

// askHost answers the host with the requests pending, and keeps the call
// for its retry.
func (f *federation) askHost(c *continuation) (mcp.Result, error) {
	c.mu.Lock()
	irs := make(mcp.InputRequestMap, len(c.pending))
	for k, p := range c.pending {
		irs[k] = p.req
	}
	c.mu.Unlock()
	state, err := f.sealer.seal(fedState{Upstream: c.op.conn.Name(), Op: c.op.key(), Caller: c.caller, Cont: c.id})
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.expiry = time.AfterFunc(continuationTTL, func() {
		f.mu.Lock()
		if f.conts[c.id] == c {
			delete(f.conts, c.id)
		}
		f.mu.Unlock()
		c.cancel()
	})
	f.mu.Lock()
	f.conts[c.id] = c
	f.mu.Unlock()
	switch c.op.method {
	case "prompts/get":
		return &mcp.GetPromptResult{InputRequests: irs, RequestState: state}, nil
	case "resources/read":
		return &mcp.ReadResourceResult{InputRequests: irs, RequestState: state}, nil
	}
	return &mcp.CallToolResult{InputRequests: irs, RequestState: state}, nil
}

// upstreamToolError is a tool result saying the call failed, in the
// caller's terms.
func upstreamToolError(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: text}}}
}

// hostError turns a forwarding error into what the host gets: the
// upstream's own JSON-RPC errors as they are, the caller's cancellation as
// is, and anything else as a message naming the upstream (its detail goes
// to the log).
func (f *federation) hostError(ctx context.Context, conn *upstream.Conn, err error) (msg string, rpcErr error) {
	// upstream.UpstreamError, not errors.As(*jsonrpc.Error): go-sdk's
	// client reports a connection that broke mid-call ("rejected by
	// transport") as a JSON-RPC error too, which hosts got as a protocol
	// error in go-sdk's words instead of one naming the upstream.
	je, answered := upstream.UpstreamError(err)
	switch {
	case answered:
		return "", je
	case ctx.Err() != nil:
		return "", ctx.Err()
	case errors.Is(err, upstream.ErrUnavailable):
		return err.Error() + "; try again later", nil
	}
	f.log.WarnContext(ctx, "call to upstream failed", "upstream", conn.Name(), "error", err)
	return fmt.Sprintf("upstream %q failed: the call did not complete (the connection to it broke or it did not answer); try again later", conn.Name()), nil
}
