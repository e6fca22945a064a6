package mcpbridge

// Resource subscriptions of sessions on any replica (issue 13, fifth step;
// docs/design.md, "Sessions on any replica"). go-sdk keeps a session's
// subscriptions in the memory of the copy that served resources/subscribe,
// and Server.ResourceUpdated notifies the copies subscribed there. With
// sessions served by any replica, the subscribe may land on replica A while
// the client's standalone GET stream is open on B: B's copy knows nothing
// of it, and the update never reaches the client; and copies subscribed on
// both would both append to the session's one standalone stream.
//
// So with Options.Sessions, subscriptions to Parley's own resources are
// session state in the store (store.MCPSessionSubscriptions), written by
// whichever replica the subscribe lands on, and one replica per session,
// its deliverer, sends the session's updates:
//   - the replica on which the session's standalone GET stream opened last
//     (it takes the role when the stream opens, before the client sees the
//     response);
//   - before any GET stream opened, the replica that opened the session
//     (named in the session's own record), or, for a session recorded
//     without one, the replica that served its first subscribe.
// The deliverer keeps the role when its GET stream closes: go-sdk then
// stores the updates in the session's standalone stream, for the client to
// resume it there; a GET stream opening on another replica takes the role
// over. A deliverer that died delivers nothing until the client's next GET
// stream opens somewhere. Each replica's feed reaches a change at its own
// time, so a handover splits the feed at the last change committed then:
// the previous deliverer delivers the changes from its own split up to it,
// the new one the later ones
// (store.MCPSessionSubscriptions.SetMCPSessionDeliverer). So
// each update goes to the client once, through one copy, and the
// standalone stream has one writer at a time.
//
// go-sdk's own notifications of Parley's resources to session copies are
// dropped (sendingMiddleware); the feed loop asks the store which sessions
// this replica delivers to (deliver), and sends each one the notification
// on its copy. go-sdk has no exported way to send a notification to one
// ServerSession but for a few fixed methods, so deliver sends a progress
// notification marked in its context, which sendingMiddleware turns into
// notifications/resources/updated before go-sdk's transport writes it.
// Upstream resources (federation) keep go-sdk's per-replica subscriptions.

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/store"
)

const methodResourceUpdated = "notifications/resources/updated"

// sessionSubscriptions keeps the bridge's sessions' subscriptions in the
// store and delivers their updates from this replica.
type sessionSubscriptions struct {
	store store.MCPSessionSubscriptions
	// replica names this process as a deliverer.
	replica string
	server  *mcp.Server
	log     *slog.Logger

	// reads batches the deliverer reads of GET streams opening together.
	reads *delivererReads

	mu sync.Mutex
	// mine holds the sessions this replica took delivery of and whose copy
	// it still holds: the feed asks the store only while there is one.
	mine map[string]struct{}
}

func newSessionSubscriptions(b *Bridge, st store.MCPSessionSubscriptions) *sessionSubscriptions {
	return &sessionSubscriptions{
		store: st, replica: b.sessions.replica, server: b.server, log: b.log,
		reads: &delivererReads{store: st, linger: delivererLinger},
		mine:  map[string]struct{}{},
	}
}

// ownResource reports whether uri is one of Parley's own subscribable
// resources, whose updates come from the store's change feed.
func ownResource(uri string) bool {
	return uri == statusURI || strings.HasPrefix(uri, ticketScheme) || strings.HasPrefix(uri, negotiationScheme)
}

// sessionOf returns the ID of the stateful session req belongs to; "" for a
// request without one (the stateless handler's).
func sessionOf(req mcp.Request) (*mcp.ServerSession, string) {
	ss, ok := req.GetSession().(*mcp.ServerSession)
	if !ok || ss == nil {
		return nil, ""
	}
	if p := ss.InitializeParams(); p != nil && p.ProtocolVersion >= statelessVersion {
		return ss, ""
	}
	return ss, ss.ID()
}

// subscribed records a session's subscription to one of Parley's
// resources, and makes this replica the session's deliverer if none is
// named yet. An error fails the subscribe: the client would otherwise
// never hear of the resource's changes.
func (s *sessionSubscriptions) subscribed(ctx context.Context, req *mcp.SubscribeRequest) error {
	_, id := sessionOf(req)
	if id == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := s.store.SubscribeMCPSession(ctx, id, req.Params.URI); err != nil {
		s.log.Warn("record MCP session subscription", "session", id, "uri", req.Params.URI, "error", err)
		return fmt.Errorf("the subscription to %s cannot be recorded right now: retry", req.Params.URI)
	}
	if err := s.take(ctx, id, true); err != nil {
		s.log.Warn("name MCP session deliverer", "session", id, "error", err)
		return fmt.Errorf("the subscription to %s cannot be recorded right now: retry", req.Params.URI)
	}
	return nil
}

// unsubscribed forgets a session's subscription.
func (s *sessionSubscriptions) unsubscribed(ctx context.Context, req *mcp.UnsubscribeRequest) error {
	_, id := sessionOf(req)
	if id == "" || !ownResource(req.Params.URI) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := s.store.UnsubscribeMCPSession(ctx, id, req.Params.URI); err != nil {
		s.log.Warn("delete MCP session subscription", "session", id, "uri", req.Params.URI, "error", err)
		return fmt.Errorf("the subscription to %s cannot be ended right now: retry", req.Params.URI)
	}
	return nil
}

// take makes this replica session id's deliverer (with onlyIfNone, only if
// no replica is named).
func (s *sessionSubscriptions) take(ctx context.Context, id string, onlyIfNone bool) error {
	ours, err := s.store.SetMCPSessionDeliverer(ctx, id, s.replica, onlyIfNone)
	if err != nil {
		return err
	}
	if ours {
		s.mu.Lock()
		s.mine[id] = struct{}{}
		s.mu.Unlock()
	}
	return nil
}

// delivering notes that session id, opened here, was recorded with this
// replica as its deliverer.
func (s *sessionSubscriptions) delivering(id string) {
	s.mu.Lock()
	s.mine[id] = struct{}{}
	s.mu.Unlock()
}

// streamOpened is called when session id's standalone GET stream opens on
// this replica, before the response's headers leave: this replica delivers
// the session's updates from now on.
func (s *sessionSubscriptions) streamOpened(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	// Already the deliverer (named when the session opened here, or by
	// an earlier stream): a read, shared with the streams opening at the
	// same time, and no write. Another replica that took over since is
	// seen here, and handed the role back below.
	named, exists, err := s.reads.read(ctx, id)
	switch {
	case err == nil && !exists:
		return // ended meanwhile (its DELETE): nothing to deliver
	case err == nil && named == s.replica:
		s.delivering(id)
		return
	}
	if err := s.take(ctx, id, false); err != nil {
		// The previous deliverer goes on, if it still holds the session.
		s.log.Warn("name MCP session deliverer", "session", id, "error", err)
	}
}

// copyClosed forgets a session whose copy closed on this replica: with no
// copy, it has nothing to deliver through.
func (s *sessionSubscriptions) copyClosed(id string) {
	s.mu.Lock()
	delete(s.mine, id)
	s.mu.Unlock()
}

// deliverKey marks the context of a notification deliver sends; its value
// is the resource's URI.
type deliverKey struct{}

// deliver sends notifications/resources/updated for uris, changed by the
// feed's change seq, to the sessions subscribed to them that this replica
// delivers that change to, on their copies here.
func (s *sessionSubscriptions) deliver(ctx context.Context, seq int64, uris []string) {
	s.mu.Lock()
	none := len(s.mine) == 0
	s.mu.Unlock()
	if none || len(uris) == 0 {
		return
	}
	qctx, cancel := context.WithTimeout(ctx, storeTimeout)
	subs, err := s.store.MCPSessionSubscribers(qctx, s.replica, seq, uris)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("read MCP session subscriptions", "uris", uris, "error", err)
		}
		return
	}
	if len(subs) == 0 {
		return
	}
	copies := map[string]*mcp.ServerSession{}
	for ss := range s.server.Sessions() {
		if id := ss.ID(); id != "" {
			copies[id] = ss
		}
	}
	for _, sub := range subs {
		ss := copies[sub.SessionID]
		if ss == nil {
			// Named deliverer, but the copy closed here (go-sdk's idle
			// timer): the client is away, and its next GET stream names
			// the replica it lands on.
			continue
		}
		// Not the feed's context: the notification goes to the standalone
		// stream, as go-sdk's own ResourceUpdated does.
		nctx, cancel := context.WithTimeout(context.WithValue(context.Background(), deliverKey{}, sub.URI), storeTimeout)
		if err := ss.NotifyProgress(nctx, &mcp.ProgressNotificationParams{}); err != nil {
			s.log.Debug("notify resource subscriber", "session", sub.SessionID, "uri", sub.URI, "error", err)
		}
		cancel()
	}
}

// sendingMiddleware drops go-sdk's own notifications of Parley's resources
// to session copies (deliver sends them, from one replica), and turns
// deliver's marked notification into notifications/resources/updated.
func (s *sessionSubscriptions) sendingMiddleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		switch method {
		case "notifications/progress":
			uri, ok := ctx.Value(deliverKey{}).(string)
			if !ok {
				break
			}
			ss, _ := req.GetSession().(*mcp.ServerSession)
			return next(ctx, methodResourceUpdated, &mcp.ServerRequest[*mcp.ResourceUpdatedNotificationParams]{
				Session: ss, Params: &mcp.ResourceUpdatedNotificationParams{URI: uri},
			})
		case methodResourceUpdated:
			if _, id := sessionOf(req); id == "" {
				break
			}
			if p, ok := req.GetParams().(*mcp.ResourceUpdatedNotificationParams); ok && ownResource(p.URI) {
				return nil, nil
			}
		}
		return next(ctx, method, req)
	}
}

// streamWriter calls open just before a standalone GET stream's response
// headers leave with status 200: the stream is open.
type streamWriter struct {
	http.ResponseWriter
	open    func()
	written bool
}

func (s *streamWriter) WriteHeader(code int) {
	if !s.written {
		s.written = true
		if code == http.StatusOK {
			s.open()
		}
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *streamWriter) Write(p []byte) (int, error) {
	if !s.written {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(p)
}

func (s *streamWriter) Flush() {
	if !s.written {
		s.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

func (s *streamWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// standaloneGET reports whether r is a GET of a session's standalone
// stream: without Last-Event-ID, or resuming stream "" (go-sdk's event IDs
// are "<stream>_<index>").
func standaloneGET(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	if len(r.Header.Values("Last-Event-ID")) == 0 {
		return true
	}
	stream, _, ok := strings.Cut(r.Header.Get("Last-Event-ID"), "_")
	return ok && stream == ""
}

// subscribedEvents is the stateful handler's event store, telling the
// subscriptions when a copy of a session closes on this replica.
type subscribedEvents struct {
	mcp.EventStore
	s *sessionSubscriptions
}

func (e subscribedEvents) SessionClosed(ctx context.Context, sessionID string) error {
	e.s.copyClosed(sessionID)
	return e.EventStore.SessionClosed(ctx, sessionID)
}
