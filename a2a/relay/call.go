package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"time"

	"github.com/parleyhq/parley/a2a/compat"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/internal/jsonrpcedge"
	"github.com/parleyhq/parley/store"
)

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
	// agent is the agent, when the caller looked it up already (the REST
	// relay's message:send, which needs its card to choose its path).
	agent *agentcards.Agent
	cause string // why the relay failed the call itself (fail), if it did
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
	body, err := readRequest(w, r, rl.opts.MaxBodyBytes)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			c.writeJSON(http.StatusRequestEntityTooLarge, compat.ErrorResponse(c.cv, nil, &compat.Error{Code: compat.CodeInvalidRequest, Message: fmt.Sprintf("request body larger than %d bytes", rl.opts.MaxBodyBytes)}))
			return
		}
		c.writeJSON(http.StatusBadRequest, compat.ErrorResponse(c.cv, nil, &compat.Error{Code: compat.CodeParseError, Message: "reading the request: " + err.Error()}))
		return
	}
	parsed, err := compat.DecodeJSON(body)
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
	c.run(body, req)
}

// run relays a request read and parsed (body, and req decoded from it,
// with c.id, c.method and c.cv set): every check and the call to the
// agent. The JSON-RPC relay runs it, and so does the REST relay's
// message:send (restsend.go), on the request it wraps.
func (c *call) run(body []byte, req map[string]any) {
	c.streaming = compat.IsStreaming(c.method)
	c.caller = c.rl.caller(c.r)
	NoteRequestTask(c.r.Context(), req) // the call's audit record names its task
	if k := misspelledEnvelope(req); k != "" {
		c.fail(compat.CodeInvalidRequest, causeAmbiguous, "the request has a member %q: JSON-RPC's members are spelled jsonrpc, id, method and params", snippet([]byte(k)))
		return
	}
	if k := ambiguousMember(req["params"]); k != "" {
		c.fail(compat.CodeInvalidParams, causeAmbiguous, "the request's params have a member %q that A2A does not spell so, or another member of the same name in another case or spelling: spell A2A's members as the specification does", snippet([]byte(k)))
		return
	}
	if !c.checkCallbacks(req) {
		return
	}
	c.relay(body, req)
}

// readRequest reads a caller's request body, up to limit bytes. The
// gateway's JSON-RPC edge in front has read it already
// (jsonrpcedge.Body): its bytes are taken as they are rather than copied
// again, unless there are more of them than limit (then read as any other
// body, for the same refusal).
func readRequest(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if b, ok := r.Body.(*jsonrpcedge.Body); ok {
		if data := b.Unread(); int64(len(data)) <= limit {
			_ = r.Body.Close()
			return data, nil
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	_ = r.Body.Close()
	return body, err
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
		c.fail(compat.CodeInvalidParams, causeCallback, "the push-notification callback URL %q is not allowed: %s", u, callbackReason(err))
		return false
	}
	return true
}

// callbackReason says why the guard refused a callback URL, in the
// caller's terms.
func callbackReason(err error) string {
	var blocked *agentcards.BlockedError
	reason, ok := agentcards.NetErrorReason(err)
	switch {
	case errors.As(err, &blocked):
		reason = blocked.Explain()
	case !ok:
		reason = err.Error() // the URL's form: the guard says it in the caller's terms
	}
	return reason
}

func (c *call) relay(body []byte, req map[string]any) {
	rl, r := c.rl, c.r
	var agent agentcards.Agent
	var err error
	if c.agent != nil {
		agent = *c.agent
	} else {
		agent, err = rl.agents.get(r.Context(), c.name)
	}
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
		if v, err := compat.DecodeJSON(out); err == nil {
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
		if b, err := compat.EncodeJSON(req); err == nil && req != nil {
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
	// Asked first: the arguments, boxed for the call, cost allocations on
	// every relayed call even when debug lines are off.
	if rl.log.Enabled(r.Context(), slog.LevelDebug) {
		rl.log.DebugContext(r.Context(), "relay: agent answered", "agent", c.name, "method", c.method, "caller", c.caller,
			"status", resp.StatusCode, "after", time.Since(start), "caller_version", c.cv, "agent_version", c.av)
	}
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
