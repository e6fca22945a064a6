package mcpbridge

// Server-to-client requests of a session on any replica (issue 13, fourth
// step; docs/design.md, "Sessions on any replica"). A tool call served on
// replica A asks the client something (elicitation/create,
// sampling/createMessage) on the call's stream; the client POSTs its
// JSON-RPC response through the balancer, which may send it to replica B.
// B's copy of the session did not send that request, and go-sdk drops a
// response it did not ask for (internal/jsonrpc2, readIncoming), answering
// 202: A would wait forever.
//
// So each replica notes the requests its copies send, by session and
// JSON-RPC id, while they await their response: go-sdk appends every message
// to the event store before it sends it (outgoingEvents reads the id there),
// and a request's sending middleware returns once the request is answered or
// given up (sendingMiddleware forgets it then). A POST of responses only whose ids this replica sent goes
// to go-sdk as before, with no store write. One with an id this replica did
// not send is stored (store.MCPSessionResponses) before the client hears
// 202; the store emits a store.KindMCPSessionResponse change, and the
// replica that did send the id takes the response from the store and
// replays it into its own stateful handler, as a POST of the session's
// user.
//
// What this cannot do: each copy of a session numbers its requests from 1
// (go-sdk's jsonrpc2 connection), so two replicas whose copies of one
// session ask the client something at the same time send the same id, and
// the client cannot tell the answers apart. See docs/design.md.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/store"
)

// responseMaxAge is how long a stored response waits for the replica that
// asked. The replica takes it as the change reaches it (milliseconds); one
// still there after this is for a replica that is gone or a request that
// ended, and is swept.
const responseMaxAge = 5 * time.Minute

// sessionResponses routes clients' responses to the replica that sent the
// request.
type sessionResponses struct {
	d     *durableSessions // the stateful handler, the sessions' store, log and clock
	store store.MCPSessionResponses

	mu sync.Mutex
	// sent holds this replica's requests to clients that await a response:
	// session → JSON-RPC id (compact JSON) → when sent.
	sent map[string]map[string]time.Time
}

// newSessionResponses routes d's responses through its store, if the store
// keeps them; nil (a response reaches only the replica it lands on, as with
// go-sdk alone) otherwise.
func newSessionResponses(d *durableSessions) *sessionResponses {
	st, ok := d.store.(store.MCPSessionResponses)
	if !ok {
		return nil
	}
	s := &sessionResponses{d: d, store: st, sent: map[string]map[string]time.Time{}}
	d.server.AddSendingMiddleware(s.sendingMiddleware)
	return s
}

// callSlot takes the JSON-RPC id of a request a session sends, from the
// event store's Append (the message as sent) to the request's sending
// middleware (its end): both run on the caller's goroutine, with one
// context.
type callSlot struct{ id string }

type callSlotKey struct{}

// sendingMiddleware forgets a request of a session once it is answered or
// given up: an answer that comes later is not this replica's to take.
func (s *sessionResponses) sendingMiddleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		ss, ok := req.GetSession().(*mcp.ServerSession)
		if strings.HasPrefix(method, "notifications/") || !ok || ss.ID() == "" {
			return next(ctx, method, req)
		}
		slot := &callSlot{}
		defer func() {
			s.mu.Lock()
			if slot.id != "" {
				s.forgetLocked(ss.ID(), slot.id)
			}
			s.mu.Unlock()
		}()
		return next(context.WithValue(ctx, callSlotKey{}, slot), method, req)
	}
}

// forgetLocked forgets request id of session; s.mu is held.
func (s *sessionResponses) forgetLocked(session, id string) {
	if m := s.sent[session]; m != nil {
		delete(m, id)
		if len(m) == 0 {
			delete(s.sent, session)
		}
	}
}

// responded tells run that session id has a stored response, for it to
// deliver the ones this replica awaits (deliver). It returns at once if
// this replica awaits none, else once run has it or ctx ends.
func (d *durableSessions) responded(ctx context.Context, id string) {
	if !d.responses.waiting(id) {
		return
	}
	select {
	case d.respondedIDs <- id:
	case <-ctx.Done():
	}
}

// outgoingEvents is the stateful handler's event store with the requests
// this replica's copies send noted (sessionResponses.sent), and forgotten
// when a copy closes.
type outgoingEvents struct {
	mcp.EventStore
	r *sessionResponses
}

func (e outgoingEvents) Append(ctx context.Context, sessionID, streamID string, data []byte) error {
	if id, ok := callID(data); ok {
		e.r.mu.Lock()
		m := e.r.sent[sessionID]
		if m == nil {
			m = map[string]time.Time{}
			e.r.sent[sessionID] = m
		}
		m[id] = e.r.d.now()
		if slot, _ := ctx.Value(callSlotKey{}).(*callSlot); slot != nil {
			slot.id = id
		}
		e.r.mu.Unlock()
	}
	return e.EventStore.Append(ctx, sessionID, streamID, data)
}

func (e outgoingEvents) SessionClosed(ctx context.Context, sessionID string) error {
	e.r.mu.Lock()
	delete(e.r.sent, sessionID)
	e.r.mu.Unlock()
	return e.EventStore.SessionClosed(ctx, sessionID)
}

// callPrefix is how go-sdk encodes a request with an id (jsonrpc2's
// wireCombined: jsonrpc, id, method, in that order). Notifications have no
// id; responses have a result or an error after it.
var callPrefix = []byte(`{"jsonrpc":"2.0","id":`)

// callID returns the id, as compact JSON, of a request go-sdk encoded
// (data), or false for any other message. go-sdk numbers its requests, so
// the id holds no comma.
func callID(data []byte) (string, bool) {
	rest, ok := bytes.CutPrefix(data, callPrefix)
	if !ok {
		return "", false
	}
	i := bytes.IndexByte(rest, ',')
	if i <= 0 || !bytes.HasPrefix(rest[i:], []byte(`,"method":`)) || !json.Valid(rest[:i]) {
		return "", false
	}
	return string(rest[:i]), true
}

// clientResponse is one JSON-RPC response in a client's POST.
type clientResponse struct {
	id  string // compact JSON
	msg json.RawMessage
}

// responsesIn returns the responses in body if it holds only responses (a
// message or a batch), and nil otherwise (requests, notifications, bad
// JSON: go-sdk answers those).
func responsesIn(body []byte) []clientResponse {
	if len(body) == 0 || bytes.Contains(body, []byte(`"method"`)) {
		return nil // the common case, a request, costs this scan
	}
	var msgs []json.RawMessage
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '[' {
		if json.Unmarshal(t, &msgs) != nil {
			return nil
		}
	} else {
		msgs = []json.RawMessage{t}
	}
	var out []clientResponse
	for _, m := range msgs {
		var r struct {
			ID     json.RawMessage  `json:"id"`
			Method *json.RawMessage `json:"method"`
			Result json.RawMessage  `json:"result"`
			Error  json.RawMessage  `json:"error"`
		}
		if json.Unmarshal(m, &r) != nil || r.Method != nil || len(r.ID) == 0 || string(r.ID) == "null" ||
			(r.Result == nil && r.Error == nil) {
			return nil
		}
		var id bytes.Buffer
		if json.Compact(&id, r.ID) != nil {
			return nil
		}
		out = append(out, clientResponse{id: id.String(), msg: m})
	}
	return out
}

// receive wraps w for a POST of session id, if it holds only responses: the
// returned writer holds go-sdk's 202 back until finish has stored the
// responses this replica did not ask for. It returns nil for any other
// request (nothing changes for it).
func (s *sessionResponses) receive(w http.ResponseWriter, r *http.Request, id string, body []byte) *responseWriter {
	if s == nil || r.Method != http.MethodPost {
		return nil
	}
	resps := responsesIn(body)
	if resps == nil {
		return nil
	}
	// Which of them this replica awaits is read now: once go-sdk has one,
	// the request it answers ends and is forgotten (sendingMiddleware),
	// maybe before finish looks.
	local := make([]bool, len(resps))
	s.mu.Lock()
	for i, resp := range resps {
		_, local[i] = s.sent[id][resp.id]
	}
	s.mu.Unlock()
	return &responseWriter{ResponseWriter: w, s: s, r: r, session: id, resps: resps, local: local}
}

// responseWriter passes a response through, except go-sdk's 202 for a POST
// of responses, which finish sends once the responses are where the
// replicas that asked will find them.
type responseWriter struct {
	http.ResponseWriter
	s       *sessionResponses
	r       *http.Request
	session string
	resps   []clientResponse
	local   []bool // by resps: this replica awaited it when the POST arrived

	status int
	held   bool // the 202 is held back
}

func (w *responseWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	if code == http.StatusAccepted {
		w.held = true
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	w.release()
	return w.ResponseWriter.Write(p)
}

func (w *responseWriter) Flush() {
	if w.status == 0 || w.held {
		return
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *responseWriter) release() {
	if w.held {
		w.held = false
		w.ResponseWriter.WriteHeader(http.StatusAccepted)
	}
}

// finish runs once the stateful handler has served the POST. go-sdk took
// it (202): the responses to this replica's requests are delivered; the
// others are stored for the replica that asked. If they cannot be stored,
// the client is told to send them again.
func (w *responseWriter) finish() {
	if w.status != http.StatusAccepted {
		return
	}
	s := w.s
	var foreign []clientResponse
	s.mu.Lock()
	for i, resp := range w.resps {
		if w.local[i] {
			s.forgetLocked(w.session, resp.id) // go-sdk has it now
		} else {
			foreign = append(foreign, resp)
		}
	}
	s.mu.Unlock()
	if len(foreign) > 0 && w.held {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(w.r.Context()), storeTimeout)
		defer cancel()
		for _, resp := range foreign {
			err := s.store.AddMCPSessionResponse(ctx, store.MCPSessionResponse{
				SessionID: w.session, RPCID: resp.id, Body: resp.msg, At: s.d.now(),
			})
			if err != nil {
				s.d.log.Warn("store an MCP client's response for the replica that asked", "session", w.session, "id", resp.id, "error", err)
				w.held = false
				writeRPCError(w.ResponseWriter, http.StatusServiceUnavailable, -32603,
					"your response could not be passed on to the request it answers right now: send it again")
				return
			}
		}
		s.d.log.Debug("stored an MCP client's response for the replica that asked", "session", w.session, "responses", len(foreign))
	}
	w.release()
}

// waiting reports whether this replica awaits a response in session id: a
// change of the session's stored responses concerns it.
func (s *sessionResponses) waiting(id string) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent[id]) > 0
}

// deliver takes the stored responses of session id to requests this
// replica sent, and replays each into the stateful handler as the client's
// POST would have been served here: go-sdk then hands it to the call that
// awaits it. A delivered response is deleted from the store.
func (s *sessionResponses) deliver(ctx context.Context, id string) {
	if !s.waiting(id) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	rows, err := s.store.ListMCPSessionResponses(ctx, id)
	if err != nil {
		s.d.log.Warn("read stored MCP client responses", "session", id, "error", err)
		return
	}
	// Take the ones this replica awaits, so that a second change of the
	// session does not deliver them twice.
	var mine []store.MCPSessionResponse
	s.mu.Lock()
	for _, row := range rows {
		if _, ok := s.sent[id][row.RPCID]; ok {
			s.forgetLocked(id, row.RPCID)
			mine = append(mine, row)
		}
	}
	s.mu.Unlock()
	if len(mine) == 0 {
		return
	}
	rec, err := s.d.store.GetMCPSession(ctx, id)
	if err != nil {
		// Ended (its responses went with it) or unreadable: the calls
		// waiting end with the copy, or time out.
		s.d.log.Warn("deliver stored MCP client responses: read the session", "session", id, "error", err)
		return
	}
	for _, row := range mine {
		rw := newReplayWriter()
		s.d.stateful.ServeHTTP(rw, asUser(ctx, rec, row.Body))
		if rw.status != http.StatusAccepted {
			s.d.log.Warn("deliver a stored MCP client response", "session", id, "id", row.RPCID,
				"status", rw.status, "response", firstLine(rw.body.Bytes()))
			continue
		}
		if err := s.store.DeleteMCPSessionResponse(ctx, id, row.RPCID); err != nil {
			s.d.log.Debug("delete a delivered MCP client response", "session", id, "id", row.RPCID, "error", err)
		}
		s.d.log.Debug("delivered an MCP client's response that reached another replica", "session", id, "id", row.RPCID)
	}
}

// asUser is a POST of body in rec's session, as its user: go-sdk serves a
// session bound to a user only to requests whose auth.TokenInfo names that
// user, and only auth.RequireBearerToken can put one in a context. The
// client's own POST passed that check on the replica it reached.
func asUser(ctx context.Context, rec store.MCPSession, body []byte) *http.Request {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://parley.internal/mcp", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", rec.ID)
	req.Header.Set("Mcp-Protocol-Version", rec.ProtocolVersion)
	if rec.UserID == "" {
		return req
	}
	req.Header.Set("Authorization", "Bearer session-user")
	ti := &auth.TokenInfo{UserID: rec.UserID}
	verify := func(context.Context, string, *http.Request) (*auth.TokenInfo, error) { return ti, nil }
	var out *http.Request
	auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})(
		http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { out = r }),
	).ServeHTTP(newReplayWriter(), req)
	if out == nil {
		return req // not possible: the verifier accepts; go-sdk refuses it (403)
	}
	return out
}

// sweep deletes the stored responses nobody took: a request this replica
// sent is forgotten when it ends (sendingMiddleware), not by age, as a
// person may take long to answer.
func (s *sessionResponses) sweep(ctx context.Context) {
	if s == nil {
		return
	}
	if _, err := s.store.SweepMCPSessionResponses(ctx, s.d.now().Add(-responseMaxAge)); err != nil && ctx.Err() == nil {
		s.d.log.Warn("sweep stored MCP client responses", "error", err)
	}
}
