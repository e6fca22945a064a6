package mcpbridge

// Streams resumed on any replica (issue 13; docs/design.md, "Sessions on
// any replica"). A POST of a session whose stream outlives its response
// (progress, a long call) is written to the store by the EventStore of the
// replica that serves it, with the call it answers and that replica as its
// owner (store.StreamCall). Its client, cut off (its replica was killed, or
// the balancer dropped the connection), resumes with GET and Last-Event-ID
// on whichever replica the balancer picks. go-sdk there would replay what
// the store holds and end the response, as for a stream it considers done;
// the call's later events and its response would never reach the client.
//
// So a replica that does not run the stream's call serves that GET itself
// (follow): it sends the stored events after Last-Event-ID, and goes on
// reading the stream from the store until its response, while the owner
// runs. Each replica beats in mcp_replicas every lease/4; an owner not
// heard of for a lease (or that recorded its end) has stopped, and the
// replica following the stream takes the call over (TakeMCPStreamCall, so
// only one does):
//   - wait_for_ticket goes on: its progress reports carry the state it can
//     go on from (resumeMeta), and the new owner runs the call again, in its
//     own copy of the session, from the last report's state, skipping the
//     reports already delivered; its events are appended to the original
//     stream, under the indices the client expects, and its response ends
//     the stream.
//   - any other call ends with a JSON-RPC error on the stream, saying that
//     the replica running it stopped: the client hears of it rather than
//     waiting in silence, and may call again.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/store"
)

// postBodyKey carries a session POST's body to the EventStore (Open).
type postBodyKey struct{}

func withPostBody(ctx context.Context, body []byte) context.Context {
	return context.WithValue(ctx, postBodyKey{}, body)
}

func postBody(ctx context.Context) []byte {
	b, _ := ctx.Value(postBodyKey{}).([]byte)
	return b
}

// capturedKey marks a call a takeover runs: its stream is the original
// one, written by the takeover, so the EventStore keeps nothing of it.
type capturedKey struct{}

func captured(ctx context.Context) bool { return ctx.Value(capturedKey{}) != nil }

// replicaStore is what following and taking over streams needs of the
// store.
type replicaStore interface {
	store.MCPReplicas
	store.Events
}

// defaultReplicaLease is Options.ReplicaLease's default.
const defaultReplicaLease = 10 * time.Second

// followPoll is how often a replica following another's stream reads it
// again: the owner's appends are not on the change feed.
const followPoll = 200 * time.Millisecond

// resumeMetaKey names the state a progress report of wait_for_ticket
// carries in _meta, and a taken-over call in its request's _meta.
const resumeMetaKey = "parley/resume"

// takeovers follows and takes over the durable streams of sessions.
type takeovers struct {
	d       *durableSessions
	store   replicaStore
	events  *EventStore // the bridge's, if it is an *EventStore
	replica string      // this replica, in mcp_replicas
	lease   time.Duration
	// owning is closed once the EventStore records this replica's calls.
	owning chan struct{}

	mu    sync.Mutex
	bg    context.Context // run's, while it runs: takeovers run under it
	calls sync.WaitGroup  // the takeovers running
	conts map[streamKey]*takenCall
}

type streamKey struct{ session, stream string }

// takenCall is a call this replica took over.
type takenCall struct {
	mu   sync.Mutex
	wake chan struct{} // closed, and replaced, when an event is appended
}

func (c *takenCall) woken() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wake
}

func (c *takenCall) appended() {
	c.mu.Lock()
	defer c.mu.Unlock()
	close(c.wake)
	c.wake = make(chan struct{})
}

func newTakeovers(d *durableSessions, st replicaStore, events mcp.EventStore, lease time.Duration) *takeovers {
	es, _ := events.(*EventStore)
	if lease <= 0 {
		lease = defaultReplicaLease
	}
	return &takeovers{
		d: d, store: st, events: es, replica: d.replica, lease: lease,
		conts: map[streamKey]*takenCall{}, owning: make(chan struct{}),
	}
}

// run beats for this replica until ctx ends, then records its end, so
// that its calls are taken over at once, once the takeovers it runs have
// ended. The EventStore records the calls of this replica only once it has
// beaten: another replica would take a call whose owner it never heard of
// as stopped.
func (t *takeovers) run(ctx context.Context) {
	t.mu.Lock()
	t.bg = ctx
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.bg = nil
		t.mu.Unlock()
		t.calls.Wait()
		ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		defer cancel()
		if err := t.store.EndMCPReplica(ectx, t.replica); err != nil {
			t.d.log.Warn("record the end of this replica", "error", err)
		}
	}()
	tick := time.NewTicker(t.lease / 4)
	defer tick.Stop()
	owning := false
	for {
		bctx, cancel := context.WithTimeout(ctx, storeTimeout)
		err := t.store.BeatMCPReplica(bctx, t.replica, t.d.now())
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			t.d.log.Warn("record this replica's heartbeat", "error", err)
		case err == nil && !owning && t.events != nil:
			t.events.setOwner(t.replica)
			owning = true
			close(t.owning)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// alive reports whether c's owner was heard of within the lease.
func (t *takeovers) alive(c store.MCPStreamCall) bool {
	return !c.OwnerSeen.IsZero() && t.d.now().Sub(c.OwnerSeen) < t.lease
}

// resume serves r, a GET of session id, if it resumes a stream whose call
// this replica's copy of the session does not run; it reports false, having
// written nothing, for go-sdk to serve r.
func (t *takeovers) resume(w http.ResponseWriter, r *http.Request, id string) bool {
	if r.Method != http.MethodGet {
		return false
	}
	streamID, last, ok := parseEventID(r.Header.Get("Last-Event-ID"))
	if !ok || streamID == "" {
		return false
	}
	key := streamKey{id, streamID}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	call, err := t.store.GetMCPStreamCall(ctx, id, streamID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			t.d.log.Warn("read the call of a resumed stream", "session", id, "error", err)
		}
		return false
	}
	if call.Owner == t.replica && t.takenCall(key) == nil {
		return false // go-sdk's copy here runs it
	}
	// Read as a copy (the stream goes on here): the session's deletion
	// then reaches this replica on the feed.
	rec, err := t.d.store.CopyMCPSession(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		http.Error(w, "session not found", http.StatusNotFound)
		return true
	case err != nil:
		t.d.log.Warn("read a resumed stream's session", "session", id, "error", err)
		writeRPCError(w, http.StatusServiceUnavailable, -32603, "the session cannot be served right now: retry, or start a new session")
		return true
	}
	if rec.UserID != "" {
		if ti := auth.TokenInfoFromContext(r.Context()); ti == nil || ti.UserID != rec.UserID {
			http.Error(w, "session user mismatch", http.StatusForbidden)
			return true
		}
	}
	t.follow(w, r, rec, call, int64(last))
	return true
}

// follow sends the events of call's stream after index last, as they are
// stored, until the stream's response, taking the call over if its owner
// stops.
func (t *takeovers) follow(w http.ResponseWriter, r *http.Request, rec store.MCPSession, call store.MCPStreamCall, last int64) {
	ctx := r.Context()
	events, err := t.store.EventsAfter(ctx, call.Session, call.Stream, last, 0)
	if err != nil {
		// As go-sdk answers a stream it cannot replay (a 404 would say the
		// session is gone).
		t.d.log.Debug("replay a followed stream", "session", call.Session, "error", err)
		http.Error(w, "failed to replay events", http.StatusBadRequest)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("Content-Type", "text/event-stream")
	h.Set("Connection", "keep-alive")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	key := streamKey{call.Session, call.Stream}
	for {
		for _, e := range events {
			last = e.Index
			if len(e.Data) == 0 {
				continue // a priming event: its index only
			}
			var b bytes.Buffer
			fmt.Fprintf(&b, "event: message\nid: %s_%d\ndata: ", call.Stream, e.Index)
			b.Write(e.Data)
			b.WriteString("\n\n")
			if _, err := w.Write(b.Bytes()); err != nil {
				return
			}
			_ = rc.Flush()
			if isResponse(e.Data) {
				return
			}
		}
		if len(events) > 0 {
			if events, err = t.store.EventsAfter(ctx, call.Session, call.Stream, last, 0); err != nil {
				t.d.log.Debug("follow a stream", "session", call.Session, "error", err)
				return
			}
			continue
		}
		// Nothing new: the owner is still at it, or stopped.
		var wake <-chan struct{}
		if c := t.takenCall(key); c != nil {
			wake = c.woken()
		} else if call, err = t.store.GetMCPStreamCall(ctx, call.Session, call.Stream); err != nil {
			t.d.log.Debug("follow a stream", "session", call.Session, "error", err)
			return
		} else if call.Owner == t.replica {
			// Taken over here, and ended since the last read: its last
			// appends are read once more. If there are none, it ended
			// without its response (a failed append): the client starts
			// over from the last event sent.
			if events, err = t.store.EventsAfter(ctx, call.Session, call.Stream, last, 0); err != nil || len(events) == 0 {
				t.d.log.Debug("a taken-over call ended without its response", "session", call.Session, "error", err)
				return
			}
			continue
		} else if !t.alive(call) {
			wake = t.takeOver(r, rec, call, last)
		}
		poll := time.NewTimer(followPoll)
		select {
		case <-wake:
		case <-poll.C:
		case <-ctx.Done():
			poll.Stop()
			return
		}
		poll.Stop()
		if events, err = t.store.EventsAfter(ctx, call.Session, call.Stream, last, 0); err != nil {
			t.d.log.Debug("follow a stream", "session", call.Session, "error", err)
			return
		}
	}
}

func (t *takeovers) takenCall(k streamKey) *takenCall {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.conts[k]
}

// takeOver makes this replica the owner of call, whose owner stopped, and
// starts what goes on from event last: it returns the channel woken by its
// appends, or nil if another replica took the call first or this replica
// is stopping.
func (t *takeovers) takeOver(r *http.Request, rec store.MCPSession, call store.MCPStreamCall, last int64) <-chan struct{} {
	t.mu.Lock()
	bg := t.bg
	t.mu.Unlock()
	if bg == nil {
		return nil
	}
	key := streamKey{call.Session, call.Stream}
	// The taken call is known before the call is taken, so that another
	// request following the stream here never finds this replica owning
	// the call with nothing running it.
	t.mu.Lock()
	if t.bg == nil {
		t.mu.Unlock()
		return nil
	}
	if c := t.conts[key]; c != nil {
		t.mu.Unlock()
		return c.woken()
	}
	c := &takenCall{wake: make(chan struct{})}
	t.conts[key] = c
	t.calls.Add(1)
	t.mu.Unlock()
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	if err := t.store.TakeMCPStreamCall(ctx, call.Session, call.Stream, call.Owner, t.replica); err != nil {
		if !errors.Is(err, store.ErrVersionConflict) {
			t.d.log.Warn("take over a stream's call", "session", call.Session, "error", err)
		}
		t.mu.Lock()
		delete(t.conts, key)
		t.mu.Unlock()
		t.calls.Done()
		c.appended()
		return nil
	}
	t.d.log.Info("took over a call whose replica stopped", "session", call.Session, "replica", call.Owner)
	// The call runs for the session's user (r's token), but not for r: it
	// goes on if this client disconnects, until this replica stops.
	cctx, stop := context.WithCancel(context.WithoutCancel(r.Context()))
	unlink := context.AfterFunc(bg, stop)
	go func() {
		defer t.calls.Done()
		defer func() {
			unlink()
			stop()
			t.mu.Lock()
			delete(t.conts, key)
			t.mu.Unlock()
			c.appended() // followers read the stream again, and its end
		}()
		t.carryOn(cctx, r, rec, call, last, c)
	}()
	return c.woken()
}

// carryOn goes on with call from event last, as this replica's (see the
// file comment).
func (t *takeovers) carryOn(ctx context.Context, r *http.Request, rec store.MCPSession, call store.MCPStreamCall, last int64, c *takenCall) {
	w := &streamAppender{t: t, ctx: ctx, call: call, next: last + 1, c: c}
	var req struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if json.Unmarshal(call.Request, &req) != nil || len(req.ID) == 0 {
		// A batch (2025-03-26) or a notification: nothing to answer by ID.
		t.d.log.Warn("a stream's call cannot be taken over", "session", call.Session)
		return
	}
	body, err := t.continued(ctx, call, req.Method, req.Params, req.ID)
	if err != nil {
		t.d.log.Warn("take over a stream's call", "session", call.Session, "error", err)
	}
	if body == nil {
		w.appendEvent(stoppedError(req.ID))
		return
	}
	sreq, _ := http.NewRequestWithContext(context.WithValue(ctx, capturedKey{}, true), http.MethodPost, r.URL.String(), bytes.NewReader(body))
	sreq.Host = r.Host
	sreq.RemoteAddr = r.RemoteAddr
	sreq.Header.Set("Content-Type", "application/json")
	sreq.Header.Set("Accept", "application/json, text/event-stream")
	sreq.Header.Set("Mcp-Session-Id", rec.ID)
	sreq.Header.Set("Mcp-Protocol-Version", rec.ProtocolVersion)
	t.d.serve(w, sreq, body)
	t.d.log.Debug("a taken-over call ended", "session", call.Session, "status", w.status, "answered", w.answered, "appended", w.next-last-1)
	if !w.answered && ctx.Err() == nil {
		w.appendEvent(stoppedError(req.ID))
	}
}

// continued is the request that goes on with a taken-over call, or nil if
// the call cannot go on (it is not wait_for_ticket, or reported no state).
func (t *takeovers) continued(ctx context.Context, call store.MCPStreamCall, method string, params json.RawMessage, id json.RawMessage) ([]byte, error) {
	if method != "tools/call" {
		return nil, nil
	}
	var p map[string]any
	if err := json.Unmarshal(params, &p); err != nil || p["name"] != ToolWaitForTicket {
		return nil, nil
	}
	events, err := t.store.EventsAfter(ctx, call.Session, call.Stream, -1, 0)
	if err != nil {
		return nil, err
	}
	var state string
	var delivered float64
	for _, e := range events {
		var n struct {
			Method string `json:"method"`
			Params struct {
				Meta     map[string]any `json:"_meta"`
				Progress float64        `json:"progress"`
			} `json:"params"`
		}
		if len(e.Data) == 0 || json.Unmarshal(e.Data, &n) != nil || n.Method != "notifications/progress" {
			continue
		}
		if s, ok := n.Params.Meta[resumeMetaKey].(string); ok {
			state, delivered = s, n.Params.Progress
		}
	}
	if state == "" {
		return nil, nil
	}
	meta, _ := p["_meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	meta[resumeMetaKey] = map[string]any{"state": state, "delivered": delivered}
	p["_meta"] = meta
	return json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": p})
}

// stoppedError is the response of a call whose replica stopped, when it
// cannot go on.
func stoppedError(id json.RawMessage) []byte {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "error": map[string]any{
		"code": -32603, "message": "the gateway replica running this call stopped before it finished: call again",
	}})
	return b
}

// streamAppender is the ResponseWriter of a taken-over call: it appends
// each event of the call's response (server-sent events, or one JSON
// response) to the original stream, under the next index, and wakes the
// stream's followers.
type streamAppender struct {
	t    *takeovers
	ctx  context.Context
	call store.MCPStreamCall
	next int64
	c    *takenCall

	header   http.Header
	status   int
	buf      bytes.Buffer
	answered bool // the response was appended
	failed   bool
}

func (a *streamAppender) Header() http.Header {
	if a.header == nil {
		a.header = http.Header{}
	}
	return a.header
}

func (a *streamAppender) WriteHeader(code int) {
	if a.status == 0 {
		a.status = code
	}
}

func (a *streamAppender) Write(p []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	a.buf.Write(p)
	if !strings.HasPrefix(a.header.Get("Content-Type"), "text/event-stream") {
		// One JSON response, whole once the handler returns; a status
		// other than 200 is go-sdk refusing the request.
		if a.status == http.StatusOK && json.Valid(a.buf.Bytes()) {
			a.appendEvent(bytes.TrimSpace(a.buf.Bytes()))
			a.buf.Reset()
		}
		return len(p), nil
	}
	for {
		i := bytes.Index(a.buf.Bytes(), []byte("\n\n"))
		if i < 0 {
			return len(p), nil
		}
		event := a.buf.Next(i + 2)
		for line := range bytes.SplitSeq(event, []byte("\n")) {
			if data, ok := bytes.CutPrefix(line, []byte("data:")); ok {
				if data = bytes.TrimSpace(data); len(data) > 0 {
					a.appendEvent(bytes.Clone(data))
				}
			}
		}
	}
}

func (a *streamAppender) Flush() {}

// appendEvent appends data to the stream as its next event. The index is
// named, so that a replica still writing the stream (taken for stopped,
// wrongly) makes this fail rather than interleave.
func (a *streamAppender) appendEvent(data []byte) {
	if a.failed || a.answered {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(a.ctx), storeTimeout)
	defer cancel()
	res, err := a.t.store.WriteEvents(ctx, []store.StreamEventWrite{{
		Op: store.StreamAppend, Session: a.call.Session, Stream: a.call.Stream,
		Index: a.next, Data: data, At: a.t.d.now(), Keep: a.t.keep(),
	}})
	if err == nil {
		err = res[0].Err
	}
	if err != nil {
		a.failed = true
		a.t.d.log.Warn("append to a taken-over stream", "session", a.call.Session, "error", err)
		return
	}
	a.next++
	a.answered = isResponse(data)
	a.c.appended()
}

// keep is the EventStore's cap on a stream's events, if known.
func (t *takeovers) keep() int {
	if t.events != nil {
		return t.events.keep
	}
	return 0
}

// resumedState is what a taken-over wait_for_ticket goes on from.
type resumedState struct {
	state     requestState
	delivered int
}

// resumedWait reads the state a taken-over wait_for_ticket goes on from,
// from its request's _meta; nil if it is not one.
func (b *Bridge) resumedWait(req *mcp.CallToolRequest, ticketID string) (*resumedState, error) {
	m, ok := req.Params.Meta[resumeMetaKey].(map[string]any)
	if !ok {
		return nil, nil
	}
	raw, _ := m["state"].(string)
	st, err := b.signer.verify(raw, ToolWaitForTicket, ticketID)
	if err != nil {
		return nil, err
	}
	delivered, _ := m["delivered"].(float64)
	return &resumedState{state: st, delivered: int(delivered)}, nil
}

// resumeMeta is the _meta of wait_for_ticket's progress reports in a
// session kept in the store: the state the call goes on from on another
// replica (ws, with seen the ticket version reported); nil elsewhere.
func (b *Bridge) resumeMeta(req *mcp.CallToolRequest, ticketID string, seen int64, ws waitState) (mcp.Meta, error) {
	if b.sessions == nil || b.sessions.tk == nil {
		return nil, nil
	}
	if req.Session == nil || req.Session.ID() == "" {
		return nil, nil
	}
	data, err := json.Marshal(ws)
	if err != nil {
		return nil, err
	}
	state, err := b.signer.sign(requestState{Tool: ToolWaitForTicket, TicketID: ticketID, Version: seen, Digest: string(data)})
	if err != nil {
		return nil, err
	}
	return mcp.Meta{resumeMetaKey: state}, nil
}

// parseEventID splits a Last-Event-ID as go-sdk makes them: stream_index.
func parseEventID(id string) (stream string, index int, ok bool) {
	stream, idx, found := strings.Cut(id, "_")
	if !found || strings.Contains(idx, "_") {
		return "", 0, false
	}
	n, err := strconv.Atoi(idx)
	if err != nil || n < 0 {
		return "", 0, false
	}
	return stream, n, true
}
