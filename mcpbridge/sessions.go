package mcpbridge

// Sessions on any replica (issue 13, first step; docs/design.md, "Sessions
// on any replica"). go-sdk's stateful handler keeps its sessions in memory
// and answers 404 for an Mcp-Session-Id it does not hold. With
// Options.Sessions, a session's state is kept in the store when its
// initialize succeeds, and a replica that gets a request of a session it
// does not hold rebuilds the session in its own stateful handler, under the
// same ID, from the stored state, then serves the request as if the
// session had been opened there: later requests, the GET stream and
// server-to-client requests of the session then work on this replica
// natively.
//
// The rebuild replays the session's handshake into the stateful handler:
// the stored initialize request, notifications/initialized and, if the
// client set one, logging/setLevel. go-sdk offers no other way to put a
// session with state into the handler's map (ServerSessionOptions.State
// is honoured by Server.Connect, but the handler's own Connect passes
// none), and it names a new session with ServerOptions.GetSessionID, a
// function without arguments: sessionIDs makes that function hand out the
// stored ID to the replayed initialize, and a fresh random one to every
// other new session.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/internal/httpstatus"
	"github.com/parleyhq/parley/store"
)

// sessionIDs is ServerOptions.GetSessionID for the stateful handler. go-sdk
// calls it on the goroutine serving a POST without Mcp-Session-Id, after
// the request's header checks and before anything else. Every such POST
// takes gate before it is served (claim), and GetSessionID lets it go: so
// the ID a rebuild asks for goes to the rebuild's own request, never to a
// client's initialize served at the same moment. gate is held only for
// the header checks, not while the request is handled.
type sessionIDs struct {
	gate sync.Mutex
	mu   sync.Mutex // guards cur
	cur  *idClaim
}

// idClaim is one POST's claim on the next session ID.
type idClaim struct {
	id    string // "" for a random ID
	taken bool   // GetSessionID ran for it (and released gate)
}

// serve serves r on h as a POST that opens a session, the session named id
// (or a random ID if id is "").
func (s *sessionIDs) serve(h http.Handler, w http.ResponseWriter, r *http.Request, id string) {
	c := &idClaim{id: id}
	s.gate.Lock()
	s.mu.Lock()
	s.cur = c
	s.mu.Unlock()
	h.ServeHTTP(w, r)
	// go-sdk refused the request before naming a session (bad headers):
	// the claim is still ours.
	if !c.taken {
		s.mu.Lock()
		s.cur = nil
		s.mu.Unlock()
		s.gate.Unlock()
	}
}

// next is the GetSessionID function.
func (s *sessionIDs) next() string {
	s.mu.Lock()
	c := s.cur
	s.cur = nil
	s.mu.Unlock()
	if c == nil {
		// A session opened on a path that did not claim (none is known
		// today): it gets a new ID, and gate is not ours to release.
		return newSessionID(time.Now())
	}
	c.taken = true
	s.gate.Unlock()
	if c.id != "" {
		return c.id
	}
	return newSessionID(time.Now())
}

// newSessionID makes a session ID: the time in milliseconds, 12 hex
// digits, then 130 random bits (rand.Text), which make it unguessable. The
// prefix makes IDs sort by creation, so that the store's indexes keyed by
// session (sessions, deliverers, streams) take each new session at their
// right-hand end: a wholly random key dirties a page anywhere in each of
// them for every session opened or closed, and every commit writes that
// many more pages.
func newSessionID(now time.Time) string {
	return fmt.Sprintf("%012x", now.UnixMilli()) + rand.Text()
}

// durableSessions keeps the bridge's sessions in the store and rebuilds,
// on this replica, the ones it does not hold.
type durableSessions struct {
	store    store.MCPSessions
	stateful http.Handler
	// server holds this replica's copies of sessions, to close one that
	// ended on another replica (closeCopy); endedIDs takes the sessions
	// that ended, from the change feed to run.
	server   *mcp.Server
	endedIDs chan string
	// levelIDs takes the sessions whose client set a new log level, from
	// the change feed to run (applyLevel).
	levelIDs chan string
	// responses routes clients' responses to the replica that asked
	// (sessionresponses.go); respondedIDs takes the sessions with a stored
	// response this replica awaits, from the change feed to run.
	responses    *sessionResponses
	respondedIDs chan string
	// following is closed once the bridge follows the change feed (Run):
	// a copy rebuilt before that could miss the change that ends it.
	following chan struct{}
	follow    func() // closes following
	// streamOpened, if set, is called as a standalone GET stream of a
	// session opens here (sessionSubscriptions.streamOpened).
	streamOpened func(ctx context.Context, id string)
	// delivering, if set, is called once a session opened here is
	// recorded with this replica as its deliverer
	// (sessionSubscriptions.delivering). Set with streamOpened.
	delivering func(id string)
	// handlerEvents is the event store the stateful handler gets: the
	// bridge's, but for SessionClosed (replicaEvents).
	handlerEvents mcp.EventStore
	ids           *sessionIDs
	// replica names this process among the replicas: the owner of the
	// calls it streams (takeover.go), the deliverer of subscriptions
	// (subscriptions.go).
	replica string
	// tk follows and takes over durable streams (takeover.go); nil if the
	// store cannot record replicas.
	tk  *takeovers
	log *slog.Logger
	now func() time.Time
	// ttl is how long a session may stay idle (Options.SessionTimeout);
	// touchEvery is how often, at most, this replica records a session's
	// activity: activity is coarse, so that a call costs no write.
	ttl, touchEvery time.Duration

	// running counts the rebuilds under way, so that a request checks
	// rebuilding only while there is one; rebuilds counts the rebuilds
	// done, to order them with the lookups that missed.
	running  atomic.Int32
	rebuilds atomic.Uint64
	// closingN counts the copies being closed (closeCopy), so that a
	// request checks closing only while there is one.
	closingN atomic.Int32

	mu         sync.Mutex
	closing    map[string]int           // sessions whose copy closeCopy is closing (how many times)
	rebuilding map[string]chan struct{} // closed when the rebuild ends
	rebuiltAt  map[string]uint64        // the value of rebuilds a session's rebuild made
	touched    map[string]time.Time     // last activity recorded, by session
}

// newDurableSessions keeps b's sessions in st; b.stateful is set on it
// once built.
func newDurableSessions(b *Bridge, st store.MCPSessions, ids *sessionIDs) *durableSessions {
	following := make(chan struct{})
	d := &durableSessions{
		store: st, ids: ids, log: b.log, now: b.opts.Now, server: b.server, endedIDs: make(chan string),
		respondedIDs:  make(chan string),
		levelIDs:      make(chan string),
		replica:       rand.Text(),
		following:     following,
		follow:        sync.OnceFunc(func() { close(following) }),
		handlerEvents: replicaEvents{b.opts.EventStore},
		ttl:           b.opts.SessionTimeout, touchEvery: max(b.opts.SessionTimeout/8, time.Second),
		rebuilding: map[string]chan struct{}{},
		closing:    map[string]int{},
		rebuiltAt:  map[string]uint64{},
		touched:    map[string]time.Time{},
	}
	if d.responses = newSessionResponses(d); d.responses != nil {
		d.handlerEvents = outgoingEvents{d.handlerEvents, d.responses}
	}
	if rs, ok := st.(replicaStore); ok {
		d.tk = newTakeovers(d, rs, b.opts.EventStore, b.opts.ReplicaLease)
	}
	return d
}

// storeTimeout bounds each store call made on a request's behalf.
const storeTimeout = 10 * time.Second

// serve serves a request for the stateful handler. A POST without session
// opens one (through ids); a request of a session this replica does not
// hold, but the store does, rebuilds it first.
func (d *durableSessions) serve(w http.ResponseWriter, r *http.Request, body []byte) {
	id := r.Header.Get("Mcp-Session-Id")
	if id == "" {
		if r.Method == http.MethodPost {
			d.ids.serve(d.stateful, w, r, "")
			return
		}
		d.stateful.ServeHTTP(w, r)
		return
	}
	// A client's responses to requests of the server: the ones another
	// replica sent are passed on to it (sessionresponses.go).
	if rw := d.responses.receive(w, r, id, body); rw != nil {
		defer rw.finish()
		w = rw
	}
	if d.tk != nil && d.tk.resume(w, r, id) {
		return
	}
	if d.streamOpened != nil && standaloneGET(r) {
		w = &streamWriter{ResponseWriter: w, open: func() { d.streamOpened(r.Context(), id) }}
	}
	// A request of a session whose copy is closing here is refused, as the
	// copy will be: go-sdk ends the copy's streams before it forgets the
	// copy, and would accept a request in between.
	if d.closingN.Load() > 0 {
		d.mu.Lock()
		_, closing := d.closing[id]
		d.mu.Unlock()
		if closing {
			http.Error(w, "session not found", http.StatusNotFound)
			return
		}
	}
	// A request of a session being rebuilt here waits for the rebuild:
	// between the replayed initialize and notifications/initialized, go-sdk
	// would refuse it.
	if d.running.Load() > 0 {
		d.mu.Lock()
		done := d.rebuilding[id]
		d.mu.Unlock()
		if done != nil {
			select {
			case <-done:
			case <-r.Context().Done():
				return
			}
		}
	}
	seen := d.rebuilds.Load()
	mw := &missWriter{ResponseWriter: w}
	d.stateful.ServeHTTP(mw, r)
	if !mw.missed() {
		d.served(r, id, mw.status)
		return
	}
	// go-sdk wrote nothing but its 404: drop the headers http.Error set, and
	// serve the request again once the session is here.
	mw.forget()
	switch err := d.rebuild(r, id, seen, isInitialized(body)); {
	case errors.Is(err, errUserMismatch):
		// As go-sdk answers a request of another user's session.
		http.Error(w, "session user mismatch", http.StatusForbidden)
		return
	case errors.Is(err, store.ErrNotFound):
		http.Error(w, "session not found", http.StatusNotFound)
		return
	case err != nil:
		d.log.Warn("rebuild MCP session", "session", id, "error", err)
		writeRPCError(w, http.StatusServiceUnavailable, -32603, "the session cannot be served right now: retry, or start a new session")
		return
	}
	if body != nil {
		r.Body = readCloser{bytes.NewReader(body)}
	}
	sw := &httpstatus.Recorder{ResponseWriter: w}
	d.stateful.ServeHTTP(sw, r)
	d.served(r, id, sw.Status)
}

// served records what a request of a session did to it: a DELETE that
// ended it deletes it everywhere; any other request is activity.
func (d *durableSessions) served(r *http.Request, id string, status int) {
	switch {
	case r.Method == http.MethodDelete && status == http.StatusNoContent:
		d.mu.Lock()
		delete(d.touched, id)
		delete(d.rebuiltAt, id)
		d.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), storeTimeout)
		defer cancel()
		// Its streams go with it, whichever replica wrote them.
		if err := d.store.DeleteMCPSession(ctx, id); err != nil {
			d.log.Warn("delete ended MCP session", "session", id, "error", err)
		}
	case status < 400:
		d.touch(r.Context(), id)
	}
}

// ended tells run that session id was deleted (the client's DELETE,
// served here or on another replica: the store's KindMCPSession change),
// for it to close this replica's copy, if it holds one. It returns once run
// has it, or when ctx ends.
func (d *durableSessions) ended(ctx context.Context, id string) {
	select {
	case d.endedIDs <- id:
	case <-ctx.Done():
	}
}

// leveled tells run that the client of session id set a new log level (on
// this replica or another: the store's KindMCPSessionLevel change), for it
// to apply it to this replica's copy, if it holds one.
func (d *durableSessions) leveled(ctx context.Context, id string) {
	select {
	case d.levelIDs <- id:
	case <-ctx.Done():
	}
}

// applyLevel sets the stored log level of session id on this replica's
// copy, if it holds one, by replaying the client's logging/setLevel: go-sdk
// filters a session's log messages (those of upstream calls) by the level
// its copy holds. Recording the same level again changes nothing in the
// store, so the replay emits no change of its own.
func (d *durableSessions) applyLevel(ctx context.Context, id string) {
	held := false
	for ss := range d.server.Sessions() {
		if ss.ID() == id {
			held = true
			break
		}
	}
	if !held {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	rec, err := d.store.GetMCPSession(ctx, id)
	if err != nil || rec.LogLevel == "" {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			d.log.Warn("apply an MCP session's log level: read the session", "session", id, "error", err)
		}
		return
	}
	level, _ := json.Marshal(rec.LogLevel)
	rw := newReplayWriter()
	d.stateful.ServeHTTP(rw, asUser(ctx, rec, []byte(`{"jsonrpc":"2.0","id":"parley-level","method":"logging/setLevel","params":{"level":`+string(level)+`}}`)))
	if rw.status != http.StatusOK {
		d.log.Debug("apply an MCP session's log level", "session", id, "status", rw.status, "response", firstLine(rw.body.Bytes()))
	}
}

// closeCopy closes this replica's copy of session id, if it holds one, as
// go-sdk's own DELETE closes the copy it holds: its streams end and the
// handler forgets it, so that a later request of it is 404 here too. (The
// user check of that DELETE was made by the replica that served it.) Like
// go-sdk's DELETE, it returns once the copy's calls in flight have ended.
func (d *durableSessions) closeCopy(id string) {
	d.mu.Lock()
	delete(d.touched, id)
	delete(d.rebuiltAt, id)
	d.closing[id]++
	d.closingN.Add(1)
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		if d.closing[id]--; d.closing[id] == 0 {
			delete(d.closing, id)
		}
		d.closingN.Add(-1)
		d.mu.Unlock()
	}()
	for ss := range d.server.Sessions() {
		if ss.ID() != id {
			continue
		}
		if err := ss.Close(); err != nil {
			d.log.Debug("close ended MCP session", "session", id, "error", err)
		}
		d.log.Debug("closed this replica's copy of an ended MCP session", "session", id)
	}
}

// touch records activity of a session, at most once per touchEvery on this
// replica.
func (d *durableSessions) touch(ctx context.Context, id string) {
	now := d.now()
	d.mu.Lock()
	last, ok := d.touched[id]
	if ok && now.Sub(last) < d.touchEvery {
		d.mu.Unlock()
		return
	}
	d.touched[id] = now
	d.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := d.store.TouchMCPSession(ctx, id, now); err != nil {
		// Not found: the session was swept or ended elsewhere while this
		// replica still held it; it ends here with go-sdk's idle timeout.
		d.log.Debug("record MCP session activity", "session", id, "error", err)
	}
}

var errUserMismatch = errors.New("session bound to another user")

// rebuild makes this replica's stateful handler hold session id, from the
// stored state. Concurrent requests of one session wait for one rebuild.
// seen is the count of rebuilds before the request's lookup missed: a
// rebuild of the session done since then may have made it here already.
// If the request is the client's notifications/initialized, the replay
// leaves it to the request.
func (d *durableSessions) rebuild(r *http.Request, id string, seen uint64, initialized bool) error {
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	// A copy is made only on a replica that will hear of its session's end
	// (a replica just starting serves before its Run follows the feed).
	select {
	case <-d.following:
	case <-ctx.Done():
		return fmt.Errorf("not yet following the change feed: %w", ctx.Err())
	}
	// Read as a copy: the session's deletion, on whichever replica, then
	// reaches this one on the feed.
	rec, err := d.store.CopyMCPSession(ctx, id)
	if err != nil {
		return err
	}
	if idle := d.now().Sub(rec.LastActive); idle > d.ttl+d.touchEvery {
		// Expired, not yet swept.
		return fmt.Errorf("session idle for %v: %w", idle, store.ErrNotFound)
	}
	// The check go-sdk makes of a session it holds (lookupSession): a
	// session bound to a user serves that user only. The rebuilt session
	// is bound to this request's user, by go-sdk, as at initialize.
	if rec.UserID != "" {
		if ti := auth.TokenInfoFromContext(r.Context()); ti == nil || ti.UserID != rec.UserID {
			return errUserMismatch
		}
	}
	d.mu.Lock()
	if done, ok := d.rebuilding[id]; ok {
		d.mu.Unlock()
		select {
		case <-done:
			return nil // the request is served again; a failed rebuild 404s it
		case <-r.Context().Done():
			return r.Context().Err()
		}
	}
	if d.rebuiltAt[id] > seen {
		// Rebuilt while this request was looked up: replaying again would
		// replace the session go-sdk holds now with a new one.
		d.mu.Unlock()
		return nil
	}
	done := make(chan struct{})
	d.rebuilding[id] = done
	d.running.Add(1)
	d.mu.Unlock()
	err = d.replay(r, rec, initialized)
	d.mu.Lock()
	if err == nil {
		d.rebuiltAt[id] = d.rebuilds.Add(1)
	}
	delete(d.rebuilding, id)
	d.running.Add(-1)
	d.mu.Unlock()
	close(done)
	return err
}

// isInitialized reports whether body is a notifications/initialized.
func isInitialized(body []byte) bool {
	var msg struct {
		Method string `json:"method"`
	}
	return len(body) > 0 && body[0] == '{' && json.Unmarshal(body, &msg) == nil && msg.Method == "notifications/initialized"
}

// replay opens rec's session in the stateful handler by replaying its
// handshake. The requests carry r's context, so that go-sdk binds the
// session to r's user and Parley's MCP middleware (authorization) sees
// them as it saw the client's own.
func (d *durableSessions) replay(r *http.Request, rec store.MCPSession, initialized bool) error {
	initReq, err := json.Marshal(map[string]any{
		"jsonrpc": "2.0", "id": "parley-rebuild", "method": "initialize", "params": rec.InitializeParams,
	})
	if err != nil {
		return fmt.Errorf("initialize request: %w", err)
	}
	rw := newReplayWriter()
	d.ids.serve(d.stateful, rw, replayRequest(r, "", "", initReq), rec.ID)
	if got := rw.header.Get("Mcp-Session-Id"); rw.status != http.StatusOK || got != rec.ID {
		return fmt.Errorf("replayed initialize: HTTP %d, session %q (want %q): %s", rw.status, got, rec.ID, firstLine(rw.body.Bytes()))
	}
	if msg := rpcError(rw.body.Bytes()); msg != "" {
		return fmt.Errorf("replayed initialize: %s", msg)
	}
	type step struct {
		body []byte
		want int
	}
	var steps []step
	if !initialized {
		steps = append(steps, step{[]byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`), http.StatusAccepted})
	}
	if rec.LogLevel != "" {
		level, _ := json.Marshal(rec.LogLevel)
		steps = append(steps, step{[]byte(`{"jsonrpc":"2.0","id":"parley-rebuild-level","method":"logging/setLevel","params":{"level":` + string(level) + `}}`), http.StatusOK})
	}
	for _, step := range steps {
		rw := newReplayWriter()
		d.stateful.ServeHTTP(rw, replayRequest(r, rec.ID, rec.ProtocolVersion, step.body))
		if rw.status != step.want {
			return fmt.Errorf("replay %s: HTTP %d: %s", step.body, rw.status, firstLine(rw.body.Bytes()))
		}
		if msg := rpcError(rw.body.Bytes()); msg != "" {
			return fmt.Errorf("replay %s: %s", step.body, msg)
		}
	}
	d.log.Debug("rebuilt MCP session from the store", "session", rec.ID)
	return nil
}

// replayRequest is a POST of body to the stateful handler, with r's
// context and URL.
func replayRequest(r *http.Request, sessionID, version string, body []byte) *http.Request {
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, r.URL.String(), bytes.NewReader(body))
	req.Host = r.Host
	req.RemoteAddr = r.RemoteAddr
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if sessionID != "" {
		req.Header.Set("Mcp-Session-Id", sessionID)
	}
	if version != "" {
		req.Header.Set("Mcp-Protocol-Version", version)
	}
	return req
}

// sessionMiddleware records a session in the store when its initialize
// succeeds, and its log level when the client sets one. It is MCP
// receiving middleware inside auth: a refused request records nothing.
func (d *durableSessions) sessionMiddleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		res, err := next(ctx, method, req)
		if err != nil || (method != "initialize" && method != "logging/setLevel") {
			return res, err
		}
		ss, ok := req.GetSession().(*mcp.ServerSession)
		if !ok || ss.ID() == "" {
			return res, err // not a session of the stateful handler
		}
		if d.running.Load() > 0 {
			// A rebuild's replay: the record is where it came from.
			d.mu.Lock()
			_, replayed := d.rebuilding[ss.ID()]
			d.mu.Unlock()
			if replayed {
				return res, err
			}
		}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		defer cancel()
		switch method {
		case "initialize":
			d.created(wctx, ss.ID(), req, res)
		case "logging/setLevel":
			if p, ok := req.GetParams().(*mcp.SetLoggingLevelParams); ok {
				if err := d.store.SetMCPSessionLogLevel(wctx, ss.ID(), string(p.Level), d.now()); err != nil {
					d.log.Warn("record MCP session log level", "session", ss.ID(), "error", err)
				}
			}
		}
		return res, err
	}
}

func (d *durableSessions) created(ctx context.Context, id string, req mcp.Request, res mcp.Result) {
	params, _ := req.GetParams().(*mcp.InitializeParams)
	result, _ := res.(*mcp.InitializeResult)
	if params == nil || result == nil {
		return
	}
	data, err := json.Marshal(params)
	if err != nil {
		d.log.Warn("record MCP session", "session", id, "error", err)
		return
	}
	var user string
	if extra := req.GetExtra(); extra != nil && extra.TokenInfo != nil {
		user = extra.TokenInfo.UserID
	}
	now := d.now()
	rec := store.MCPSession{
		ID: id, ProtocolVersion: result.ProtocolVersion, InitializeParams: data,
		UserID: user, CreatedAt: now, LastActive: now,
	}
	if d.delivering != nil {
		// The replica that opens a session delivers its updates until a
		// GET stream opens elsewhere: named in the same write, so that
		// the client's first GET stream, which usually comes here,
		// writes nothing.
		rec.Deliverer = d.replica
	}
	err = d.store.CreateMCPSession(ctx, rec)
	switch {
	case errors.Is(err, store.ErrExists):
		// A rebuild's replayed initialize: the record is where it came from.
	case err != nil:
		// The session works on this replica; another cannot rebuild it.
		d.log.Warn("record MCP session", "session", id, "error", err)
	default:
		d.mu.Lock()
		d.touched[id] = now
		d.mu.Unlock()
		if d.delivering != nil {
			d.delivering(id)
		}
	}
}

// sweepEvery is how often run sweeps expired sessions.
func (d *durableSessions) sweepEvery() time.Duration {
	return min(max(d.ttl/4, time.Second), 10*time.Minute)
}

// run sweeps expired sessions, and closes this replica's copies of the
// sessions that ended (ended), until ctx ends. A copy closes once its calls
// in flight end, so each closes on its own goroutine: neither the sweep nor
// the change feed waits for a long call. run returns once they are closed.
func (d *durableSessions) run(ctx context.Context) {
	t := time.NewTicker(d.sweepEvery())
	defer t.Stop()
	var closing sync.WaitGroup
	defer closing.Wait()
	if d.tk != nil {
		closing.Go(func() { d.tk.run(ctx) })
	}
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-d.endedIDs:
			closing.Go(func() { d.closeCopy(id) })
		case id := <-d.levelIDs:
			closing.Go(func() { d.applyLevel(ctx, id) })
		case id := <-d.respondedIDs:
			closing.Go(func() { d.responses.deliver(ctx, id) })
		case <-t.C:
			if _, err := d.sweep(ctx); err != nil && ctx.Err() == nil {
				d.log.Warn("sweep idle MCP sessions", "error", err)
			}
			d.responses.sweep(ctx)
		}
	}
}

// sweep deletes the sessions idle for longer than the TTL. Activity is
// recorded up to touchEvery late, so a session is swept only once it was
// recorded idle for ttl+touchEvery: never before it was idle for ttl. It
// also forgets this replica's record of activity older than that.
func (d *durableSessions) sweep(ctx context.Context) (int64, error) {
	cutoff := d.now().Add(-d.ttl - d.touchEvery)
	d.mu.Lock()
	for id, at := range d.touched {
		if at.Before(cutoff) {
			delete(d.touched, id)
		}
	}
	for id := range d.rebuiltAt {
		if _, ok := d.touched[id]; !ok {
			delete(d.rebuiltAt, id)
		}
	}
	d.mu.Unlock()
	return d.store.SweepMCPSessions(ctx, cutoff)
}

// replicaEvents is the event store of the stateful handler when sessions
// are kept in the store. go-sdk calls SessionClosed when this replica's
// copy of a session closes, its idle timer included; with sessions on any
// replica that is not the end of the session: another replica may be
// writing its streams, and deleting them would lose that replica's
// appends and its clients' resumption. Streams go with the session's
// record (a DELETE, the sweep of idle sessions: the store deletes both)
// or by the event store's own age sweep.
// What the copy's closing does forget is the event store's memory of a
// session that wrote nothing (copyCloser).
type replicaEvents struct{ mcp.EventStore }

// copyCloser is an event store that can forget a session whose copy
// closed (EventStore.CopyClosed).
type copyCloser interface{ CopyClosed(sessionID string) }

func (e replicaEvents) SessionClosed(_ context.Context, sessionID string) error {
	if c, ok := e.EventStore.(copyCloser); ok {
		c.CopyClosed(sessionID)
	}
	return nil
}

// missWriter passes a response through, except go-sdk's 404 for a
// session it does not hold, which it keeps back (missed).
type missWriter struct {
	http.ResponseWriter
	status int
	held   bytes.Buffer // the body of a 404
}

func (m *missWriter) WriteHeader(code int) {
	if m.status != 0 {
		return
	}
	m.status = code
	if code != http.StatusNotFound {
		m.ResponseWriter.WriteHeader(code)
	}
}

func (m *missWriter) Write(p []byte) (int, error) {
	if m.status == 0 {
		m.WriteHeader(http.StatusOK)
	}
	if m.status == http.StatusNotFound {
		return m.held.Write(p)
	}
	return m.ResponseWriter.Write(p)
}

func (m *missWriter) Flush() {
	if m.status == http.StatusNotFound {
		return
	}
	if m.status == 0 {
		m.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(m.ResponseWriter).Flush()
}

func (m *missWriter) Unwrap() http.ResponseWriter { return m.ResponseWriter }

// missed reports whether the handler answered that it does not hold the
// session (go-sdk's lookupSession). Another 404 (a session closing, an
// unknown method) is sent as it was.
func (m *missWriter) missed() bool {
	if m.status != http.StatusNotFound {
		return false
	}
	if strings.TrimSpace(m.held.String()) == "session not found" {
		return true
	}
	m.ResponseWriter.WriteHeader(http.StatusNotFound)
	_, _ = m.ResponseWriter.Write(m.held.Bytes())
	return false
}

// forget undoes the headers of the 404 kept back.
func (m *missWriter) forget() {
	h := m.ResponseWriter.Header()
	h.Del("Content-Type")
	h.Del("X-Content-Type-Options")
}

// replayWriter takes the responses of a replayed handshake. go-sdk's POST
// returns only once the call's response is written (by whichever goroutine
// answered it), so the response is read after ServeHTTP returns.
type replayWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newReplayWriter() *replayWriter { return &replayWriter{header: http.Header{}} }

func (r *replayWriter) Header() http.Header { return r.header }
func (r *replayWriter) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *replayWriter) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(p)
}
func (r *replayWriter) Flush() {}

// rpcError returns the message of a JSON-RPC error in a response body
// (plain JSON or server-sent events), or "".
func rpcError(body []byte) string {
	var msgs [][]byte
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '{' {
		msgs = append(msgs, t)
	} else {
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			if data, ok := bytes.CutPrefix(sc.Bytes(), []byte("data:")); ok {
				msgs = append(msgs, bytes.Clone(bytes.TrimSpace(data)))
			}
		}
	}
	for _, m := range msgs {
		var resp struct {
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(m, &resp) == nil && resp.Error != nil {
			return resp.Error.Message
		}
	}
	return ""
}

func firstLine(b []byte) string {
	line, _, _ := bytes.Cut(bytes.TrimSpace(b), []byte("\n"))
	if len(line) > 200 {
		line = line[:200]
	}
	return string(line)
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }
