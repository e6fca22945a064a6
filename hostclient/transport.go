package hostclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/internal/sse"
)

const (
	headerSessionID       = "Mcp-Session-Id"
	headerProtocolVersion = "Mcp-Protocol-Version"
	headerLastEventID     = "Last-Event-ID"

	// statelessVersion is the first protocol revision without sessions.
	statelessVersion = "2026-07-28"

	methodInitialize        = "initialize"
	notificationInitialized = "notifications/initialized"
)

// sessionBased reports whether protocol version v has sessions
// (Mcp-Session-Id, the standalone GET stream, Last-Event-ID).
func sessionBased(v string) bool { return v != "" && v < statelessVersion }

// BearerTransport is an http.RoundTripper that sets
// "Authorization: Bearer <Token>" on every request it sends.
type BearerTransport struct {
	Token string
	// Base sends the request; nil means http.DefaultTransport.
	Base http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *BearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context()) // a RoundTripper must not modify its request
	req.Header.Set("Authorization", "Bearer "+t.Token)
	return base(t.Base).RoundTrip(req)
}

func base(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		return http.DefaultTransport
	}
	return rt
}

// connConfig configures one connection to the server.
type connConfig struct {
	url  string
	http *http.Client // carries the bearer token

	// resume, if set, is a saved session to adopt instead of initializing
	// a new one (the caller has checked that the server still knows it).
	resume *State
	// keepSession suppresses the DELETE that ends the session when the
	// connection closes, so that a later run can resume it.
	keepSession bool
	// onEventID is called after each event with an ID on the standalone
	// stream has been handed to the SDK.
	onEventID func()
	// notef prints a diagnostic for the person.
	notef func(format string, args ...any)
}

// sessionTransport is an mcp.Transport around the SDK's
// StreamableClientTransport that adds what go-sdk v1.8.0 lacks for a
// client that outlives its process:
//
//   - Adopting an existing session. The SDK always initializes a new
//     session and offers no way to supply a session ID. When resuming,
//     the initialize request is answered locally with the saved
//     initialize result, notifications/initialized is not sent again, and
//     the saved Mcp-Session-Id and Mcp-Protocol-Version are added to
//     every HTTP request.
//   - A standalone GET stream that starts from a saved Last-Event-ID and
//     reports the IDs it sees. The SDK tracks event IDs internally only,
//     so this connection runs the GET stream itself (the SDK's is turned
//     off) and feeds what arrives to the SDK.
//   - Keeping the session on close (no DELETE), so it can be resumed.
//
// The SDK still does everything else: POSTs, their SSE streams and their
// in-process resumption, JSON-RPC, handlers.
type sessionTransport struct {
	cfg  connConfig
	conn *sessionConn // set by Connect
}

func (t *sessionTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	c := &sessionConn{
		cfg:    t.cfg,
		msgs:   make(chan jsonrpc.Message),
		failed: make(chan struct{}),
		done:   make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if r := t.cfg.resume; r != nil {
		c.resumedID = r.SessionID
		c.protocolVersion = r.ProtocolVersion
		c.lastEventID = r.LastEventID
	}
	hc := *t.cfg.http
	hc.Transport = &sessionHeaders{conn: c, base: base(t.cfg.http.Transport)}
	c.http = &hc
	inner, err := (&mcp.StreamableClientTransport{
		Endpoint:             t.cfg.url,
		HTTPClient:           c.http,
		DisableStandaloneSSE: true, // run by sessionConn instead
	}).Connect(ctx)
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.inner = inner
	c.wg.Add(1)
	go c.pump()
	t.conn = c
	return c, nil
}

// sessionConn is the mcp.Connection made by sessionTransport.
type sessionConn struct {
	cfg    connConfig
	inner  mcp.Connection
	http   *http.Client
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	msgs    chan jsonrpc.Message // everything the SDK should read
	failed  chan struct{}        // closed when readErr is set
	readErr error
	done    chan struct{} // closed by Close

	closeOnce sync.Once
	closeErr  error

	// sessionGone is set when the server answered 404 for the session.
	sessionGone atomic.Bool

	mu              sync.Mutex
	resumedID       string     // the adopted session, if resuming
	protocolVersion string     // negotiated (or saved) protocol version
	initID          jsonrpc.ID // ID of the initialize request, to spot its response
	lastEventID     string     // last event ID seen on the standalone stream
	standalone      bool       // the standalone stream was started
}

// pump moves what the SDK's connection reads into msgs.
func (c *sessionConn) pump() {
	defer c.wg.Done()
	for {
		msg, err := c.inner.Read(c.ctx)
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			c.mu.Unlock()
			close(c.failed)
			return
		}
		if !c.deliver(msg) {
			return
		}
	}
}

// deliver hands msg to the SDK; false when the connection is closing.
func (c *sessionConn) deliver(msg jsonrpc.Message) bool {
	select {
	case c.msgs <- msg:
		return true
	case <-c.done:
		return false
	case <-c.ctx.Done():
		return false
	}
}

func (c *sessionConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	select {
	case msg := <-c.msgs:
		c.observe(msg)
		return msg, nil
	case <-c.failed:
		c.mu.Lock()
		defer c.mu.Unlock()
		return nil, c.readErr
	case <-c.done:
		return nil, io.EOF
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// observe learns the negotiated protocol version from the initialize
// response: the SDK tells only its own connection type, so without this
// the Mcp-Protocol-Version header would be missing.
func (c *sessionConn) observe(msg jsonrpc.Message) {
	resp, ok := msg.(*jsonrpc.Response)
	if !ok || resp.Error != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.initID.IsValid() || resp.ID != c.initID {
		return
	}
	var res struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	if json.Unmarshal(resp.Result, &res) == nil {
		c.protocolVersion = res.ProtocolVersion
	}
}

func (c *sessionConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	if req, ok := msg.(*jsonrpc.Request); ok {
		switch req.Method {
		case methodInitialize:
			if r := c.cfg.resume; r != nil {
				// Answer locally: the session was initialized by an
				// earlier run.
				if !c.deliver(&jsonrpc.Response{ID: req.ID, Result: savedInitializeResult(r)}) {
					return mcp.ErrConnectionClosed
				}
				return nil
			}
			c.mu.Lock()
			c.initID = req.ID
			c.mu.Unlock()
		case notificationInitialized:
			if c.cfg.resume == nil {
				if err := c.inner.Write(ctx, msg); err != nil {
					return err
				}
			}
			c.startStandalone()
			return nil
		}
	}
	return c.inner.Write(ctx, msg)
}

func (c *sessionConn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.inner.Close() // the DELETE, unless keepSession
		c.cancel()
		close(c.done)
		c.wg.Wait()
	})
	return c.closeErr
}

// SessionID is the session's Mcp-Session-Id ("" for a stateless server).
func (c *sessionConn) SessionID() string {
	c.mu.Lock()
	id := c.resumedID
	c.mu.Unlock()
	if id != "" {
		return id
	}
	return c.inner.SessionID()
}

// LastEventID is the ID of the last event received on the standalone
// stream.
func (c *sessionConn) LastEventID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastEventID
}

// savedInitializeResult is the initialize result to replay when resuming.
func savedInitializeResult(st *State) json.RawMessage {
	if len(st.Server) > 0 {
		return st.Server
	}
	// A hand-written or older state file: enough for the SDK to accept it.
	data, _ := json.Marshal(&mcp.InitializeResult{
		ProtocolVersion: st.ProtocolVersion,
		Capabilities:    &mcp.ServerCapabilities{},
		ServerInfo:      &mcp.Implementation{Name: "unknown"},
	})
	return data
}

// sessionHeaders adds the session headers the SDK's connection cannot add
// itself (see sessionTransport), keeps the session on close when asked,
// and notices when the server has forgotten the session.
type sessionHeaders struct {
	conn *sessionConn
	base http.RoundTripper
}

func (h *sessionHeaders) RoundTrip(req *http.Request) (*http.Response, error) {
	c := h.conn
	if req.Method == http.MethodDelete && c.cfg.keepSession {
		// Ending the session would make it impossible to resume.
		return &http.Response{
			Status:     "204 No Content",
			StatusCode: http.StatusNoContent,
			Proto:      "HTTP/1.1",
			ProtoMajor: 1,
			ProtoMinor: 1,
			Header:     http.Header{},
			Body:       http.NoBody,
			Request:    req,
		}, nil
	}
	c.mu.Lock()
	sid, version := c.resumedID, c.protocolVersion
	c.mu.Unlock()
	addSID := sid != "" && req.Header.Get(headerSessionID) == ""
	addVersion := sessionBased(version) && req.Header.Get(headerProtocolVersion) == ""
	if addSID || addVersion {
		req = req.Clone(req.Context())
		if addSID {
			req.Header.Set(headerSessionID, sid)
		}
		if addVersion {
			req.Header.Set(headerProtocolVersion, version)
		}
	}
	resp, err := h.base.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusNotFound && req.Header.Get(headerSessionID) != "" {
		c.sessionGone.Store(true)
	}
	return resp, err
}

const maxStandaloneRetries = 5

func (c *sessionConn) startStandalone() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.standalone || !sessionBased(c.protocolVersion) {
		return
	}
	c.standalone = true
	c.wg.Add(1)
	go c.runStandalone()
}

// runStandalone keeps the standalone GET stream open for the life of the
// connection, resuming from the last event ID after each interruption.
func (c *sessionConn) runStandalone() {
	defer c.wg.Done()
	failures := 0
	retryFresh := true // after a refused replay, try once without Last-Event-ID
	for c.ctx.Err() == nil {
		lastID := c.LastEventID()
		req, err := http.NewRequestWithContext(c.ctx, http.MethodGet, c.cfg.url, nil)
		if err != nil {
			c.cfg.notef("[stream] %v", err)
			return
		}
		req.Header.Set("Accept", "text/event-stream")
		if sid := c.SessionID(); sid != "" {
			req.Header.Set(headerSessionID, sid)
		}
		if lastID != "" {
			req.Header.Set(headerLastEventID, lastID)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			if c.ctx.Err() != nil {
				return
			}
			if failures++; failures > maxStandaloneRetries {
				c.cfg.notef("[stream] notification stream lost: %v", err)
				return
			}
			c.sleep(failures)
			continue
		}
		switch {
		case resp.StatusCode == http.StatusMethodNotAllowed:
			resp.Body.Close()
			return // the server offers no standalone stream
		case resp.StatusCode == http.StatusNotFound:
			resp.Body.Close()
			c.cfg.notef("[stream] the server no longer knows this session (HTTP 404)")
			return
		case resp.StatusCode == http.StatusBadRequest && lastID != "" && retryFresh:
			why := readSome(resp.Body)
			resp.Body.Close()
			c.cfg.notef("[stream] the server cannot replay events after %s (%s); notifications sent meanwhile are lost", lastID, why)
			retryFresh = false
			c.mu.Lock()
			c.lastEventID = ""
			c.mu.Unlock()
			continue
		case resp.StatusCode == http.StatusConflict:
			// The stream is still attached to an earlier connection that
			// the server has not yet seen go away.
			resp.Body.Close()
			if failures++; failures > maxStandaloneRetries {
				c.cfg.notef("[stream] notification stream is held by another connection")
				return
			}
			c.sleep(failures)
			continue
		case resp.StatusCode < 200 || resp.StatusCode > 299:
			why := readSome(resp.Body)
			resp.Body.Close()
			c.cfg.notef("[stream] notification stream refused: %s (%s)", resp.Status, why)
			return
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
			resp.Body.Close()
			return
		}
		progressed := c.consume(resp.Body)
		resp.Body.Close()
		if c.ctx.Err() != nil {
			return
		}
		if progressed {
			failures = 0
		} else if failures++; failures > maxStandaloneRetries {
			c.cfg.notef("[stream] notification stream keeps closing; giving up")
			return
		}
		c.sleep(failures)
	}
}

// consume reads one response of the standalone stream, handing messages
// to the SDK and recording event IDs. It reports whether any event
// arrived.
func (c *sessionConn) consume(body io.Reader) bool {
	progressed := false
	_ = readSSE(body, func(ev sseEvent) bool {
		progressed = true
		if len(ev.data) > 0 && (ev.name == "" || ev.name == "message") {
			msg, err := jsonrpc.DecodeMessage(ev.data)
			if err != nil {
				c.cfg.notef("[stream] undecodable event %q: %v", ev.id, err)
			} else if !c.deliver(msg) {
				return false
			}
		}
		// Record the ID only once the message is handed over: a crash
		// in between replays the event rather than losing it.
		if ev.id != "" {
			c.mu.Lock()
			c.lastEventID = ev.id
			c.mu.Unlock()
			if c.cfg.onEventID != nil {
				c.cfg.onEventID()
			}
		}
		return true
	})
	return progressed
}

func (c *sessionConn) sleep(attempt int) {
	d := 250 * time.Millisecond << min(attempt, 5)
	d = min(d, 5*time.Second)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.ctx.Done():
	}
}

func readSome(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 512))
	return strings.TrimSpace(string(b))
}

type sseEvent struct {
	name string
	id   string
	data []byte
}

// maxSSEEvent bounds one event of a server's stream: far above any
// message an MCP server sends, well below what would exhaust memory.
const maxSSEEvent = 32 << 20

// readSSE parses a text/event-stream, calling fn for each event with an
// event name, an ID or data until fn returns false or the stream ends. An
// unterminated last event is discarded; an event larger than maxSSEEvent
// ends the stream with an error.
func readSSE(r io.Reader, fn func(sseEvent) bool) error {
	rd := sse.NewReader(r, sse.Options{MaxEventBytes: maxSSEEvent})
	for {
		ev, err := rd.Next()
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, sse.ErrTruncated):
			return nil
		case err != nil:
			return err
		}
		if !ev.HasData && !ev.HasID && ev.Type == "" {
			continue // retry alone: nothing for the session
		}
		if !fn(sseEvent{name: ev.Type, id: ev.ID, data: ev.Data}) {
			return nil
		}
	}
}

// probeSession asks the server whether it still knows the saved session,
// with a ping on that session. It returns whether the session is alive
// and, if not, why.
func probeSession(ctx context.Context, hc *http.Client, st *State) (bool, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	body := `{"jsonrpc":"2.0","id":"parley-client-resume-probe","method":"ping","params":{}}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.URL, strings.NewReader(body))
	if err != nil {
		return false, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set(headerSessionID, st.SessionID)
	req.Header.Set(headerProtocolVersion, st.ProtocolVersion)
	resp, err := hc.Do(req)
	if err != nil {
		return false, "", err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return false, "the server no longer knows it: HTTP 404", nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		why := readSome(resp.Body)
		if why != "" {
			return false, fmt.Sprintf("%s: %s", resp.Status, why), nil
		}
		return false, resp.Status, nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return true, "", nil
}

// endSession sends the DELETE that ends a saved session on the server.
func endSession(ctx context.Context, hc *http.Client, st *State) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, st.URL, nil)
	if err != nil {
		return err
	}
	req.Header.Set(headerSessionID, st.SessionID)
	if st.ProtocolVersion != "" {
		req.Header.Set(headerProtocolVersion, st.ProtocolVersion)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusNotFound {
		return fmt.Errorf("DELETE: %s", resp.Status)
	}
	return nil
}
