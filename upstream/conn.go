package upstream

// One upstream: its control session (listing, list_changed, resource
// subscriptions, health probes), its pool of call sessions, and the
// catalog it serves.
//
// Generations. The go-sdk client asks for 2026-07-28 first (server/discover)
// and falls back to initialize, so Parley speaks whichever generation an
// HTTP upstream offers. Its automatic multi round-trip is off: an
// input-required result comes back to the caller as it is (its
// requestState sealed by the bridge), so that the person asked is the
// caller's, not Parley's. A stdio upstream is spoken to in 2025-11-25: a
// process is a session anyway, and that generation lets it ask the caller
// for input in mid-call as stdio servers do.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// stdioVersion is the protocol revision spoken to stdio upstreams.
const stdioVersion = "2025-11-25"

// statelessVersion is the first revision without sessions.
const statelessVersion = "2026-07-28"

// Conn is one connected (or connecting) upstream.
type Conn struct {
	m    *Manager
	spec Spec
	log  *slog.Logger
	http *http.Client // nil for stdio

	ctx    context.Context // ends when the upstream is removed or replaced
	cancel context.CancelFunc

	refreshCh chan struct{} // list again (list_changed, an approval)
	failCh    chan struct{} // a call failed at the transport: probe now

	mu       sync.Mutex
	gen      string
	control  *session         // stdio: also the call session
	pools    map[string]*pool // by capability key ("" for 2026-07-28)
	catalog  *Catalog
	healthy  bool
	lastErr  string
	since    time.Time
	subs     map[string]int // resource URI → subscribers
	onUpdate func(uri string)
}

// Spec is what the upstream was registered with.
func (u *Conn) Spec() Spec { return u.spec }

// Name is the upstream's name.
func (u *Conn) Name() string { return u.spec.Name }

// Catalog is what the upstream serves now: nil while it is not healthy.
func (u *Conn) Catalog() *Catalog {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.healthy {
		return nil
	}
	return u.catalog
}

// Generation is the protocol revision negotiated, empty until connected.
func (u *Conn) Generation() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.gen
}

// Acquire leases a session to call the upstream on, for a caller with
// capabilities caps (what a session upstream may ask of it); sink hears
// what the upstream sends about the call. Release the lease when done.
func (u *Conn) Acquire(ctx context.Context, caps *mcp.ClientCapabilities, sink Sink) (*Lease, error) {
	for attempt := 0; ; attempt++ {
		u.mu.Lock()
		if !u.healthy || u.control == nil {
			why := "is not connected"
			if u.lastErr != "" {
				why = "is unavailable: " + u.lastErr
			}
			u.mu.Unlock()
			return nil, unavailable(u.spec.Name, why)
		}
		gen := u.gen
		if u.spec.Kind() == "stdio" {
			s := u.control
			u.mu.Unlock()
			if l, ok := s.acquire(u, sink, gen); ok {
				return l, nil
			}
			return nil, unavailable(u.spec.Name, "is restarting")
		}
		var p *pool
		var key string
		if gen >= statelessVersion {
			caps = nil
		} else {
			caps, key = callerCaps(caps)
		}
		p = u.pools[key]
		if p == nil {
			p = newPool(u, caps, u.m.opts.MaxSessions)
			u.pools[key] = p
		}
		u.mu.Unlock()
		s, err := p.get(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(err, errPoolClosed) && attempt == 0 {
				continue
			}
			u.reportFailure(err)
			u.log.WarnContext(ctx, "cannot open a session to the upstream", "error", err)
			return nil, unavailable(u.spec.Name, "cannot be reached")
		}
		if l, ok := s.acquire(u, sink, gen); ok {
			return l, nil
		}
		p.put(s)
	}
}

// clientOptions are the options of every client session Parley opens.
func (u *Conn) clientOptions(caps *mcp.ClientCapabilities) *mcp.ClientOptions {
	if caps == nil {
		caps = &mcp.ClientCapabilities{}
	}
	return &mcp.ClientOptions{
		Logger:       u.log,
		Capabilities: caps,
		// Input-required results go back to the caller, whose person or
		// model answers them.
		MultiRoundTrip: &mcp.MultiRoundTripOptions{Disabled: true},
	}
}

// transport is a new connection to the upstream: HTTP, or the command
// started afresh.
func (u *Conn) transport(calls bool) mcp.Transport {
	if u.spec.Kind() == "stdio" {
		return u.commandTransport()
	}
	return &mcp.StreamableClientTransport{
		Endpoint:   u.spec.URL,
		HTTPClient: u.http,
		// A call session hears of its call on the call's own stream; the
		// standalone stream (list changes, resource updates) is the
		// control session's.
		DisableStandaloneSSE: calls,
		MaxRetries:           2,
	}
}

// connectTimeout bounds opening a session (discover or initialize).
const connectTimeout = 30 * time.Second

// openCallSession opens a session for p.
func (u *Conn) openCallSession(ctx context.Context, p *pool) (*session, error) {
	// Not the caller's context itself: go-sdk keeps the connection's
	// context's values for the session's life, and a server-side request
	// context carries the caller's protocol version, which the client would
	// send as its own. Only its cancellation is kept.
	cctx, cancel := context.WithTimeout(u.ctx, connectTimeout)
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()
	ctx = cctx
	s := &session{pool: p, notes: &noteCounter{}}
	c := mcp.NewClient(u.m.opts.Client, u.clientOptions(p.caps))
	c.AddReceivingMiddleware(s.middleware(u))
	t := u.transport(true).(*mcp.StreamableClientTransport)
	t.HTTPClient = &http.Client{Transport: &countingTransport{base: u.http.Transport, notes: s.notes}}
	cs, err := c.Connect(ctx, t, nil)
	if err != nil {
		return nil, err
	}
	s.cs = cs
	if err := u.askForLogs(ctx, cs); err != nil {
		_ = cs.Close()
		return nil, err
	}
	return s, nil
}

// askForLogs asks a session upstream for every log message: which of
// them reach a caller is the caller's level's business (the bridge passes
// them through the SDK, which applies it). A 2026-07-28 upstream is asked
// per request instead.
func (u *Conn) askForLogs(ctx context.Context, cs *mcp.ClientSession) error {
	ir := cs.InitializeResult()
	if ir == nil || ir.ProtocolVersion >= statelessVersion || ir.Capabilities == nil || ir.Capabilities.Logging == nil {
		return nil
	}
	//lint:ignore SA1019 logging is deprecated in 2026-07-28 only; session upstreams use it
	return cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "debug"})
}

// connectControl opens the control session: list changes and resource
// updates arrive on it. For a stdio upstream it starts the process.
func (u *Conn) connectControl(ctx context.Context) (*session, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	s := &session{shared: u.spec.Kind() == "stdio"}
	caps := &mcp.ClientCapabilities{}
	var sopts *mcp.ClientSessionOptions
	if s.shared {
		caps = allCaps()
		sopts = &mcp.ClientSessionOptions{ProtocolVersion: stdioVersion}
	}
	opts := u.clientOptions(caps)
	refresh := func(context.Context, *mcp.ToolListChangedRequest) { u.askRefresh() }
	opts.ToolListChangedHandler = refresh
	opts.PromptListChangedHandler = func(context.Context, *mcp.PromptListChangedRequest) { u.askRefresh() }
	opts.ResourceListChangedHandler = func(context.Context, *mcp.ResourceListChangedRequest) { u.askRefresh() }
	opts.ResourceUpdatedHandler = func(_ context.Context, r *mcp.ResourceUpdatedNotificationRequest) {
		if r.Params == nil {
			return
		}
		u.mu.Lock()
		f := u.onUpdate
		u.mu.Unlock()
		if f != nil {
			f(r.Params.URI)
		}
	}
	c := mcp.NewClient(u.m.opts.Client, opts)
	c.AddReceivingMiddleware(s.middleware(u))
	cs, err := c.Connect(ctx, u.transport(false), sopts)
	if err != nil {
		return nil, err
	}
	s.cs = cs
	if s.shared {
		// A stdio upstream's one session carries the calls too.
		if err := u.askForLogs(ctx, cs); err != nil {
			_ = cs.Close()
			return nil, err
		}
	}
	return s, nil
}

func (u *Conn) askRefresh() {
	select {
	case u.refreshCh <- struct{}{}:
	default:
	}
}

func (u *Conn) reportFailure(err error) {
	u.log.Debug("a call to the upstream failed at the transport", "error", err)
	select {
	case u.failCh <- struct{}{}:
	default:
	}
}

// Refresh lists the upstream's catalog again and re-checks its tools'
// pins (after an approval). It does nothing while the upstream is down:
// it is listed anyway when it comes back.
func (u *Conn) Refresh() { u.askRefresh() }

// SetOnUpdate sets what hears of resources/updated notifications.
func (u *Conn) SetOnUpdate(f func(uri string)) {
	u.mu.Lock()
	u.onUpdate = f
	u.mu.Unlock()
}

// Subscribe subscribes to a resource of the upstream, once however many
// callers subscribe; updates reach SetOnUpdate's function.
func (u *Conn) Subscribe(ctx context.Context, uri string) error {
	u.mu.Lock()
	s := u.control
	n := u.subs[uri]
	u.subs[uri] = n + 1
	u.mu.Unlock()
	if n > 0 {
		return nil
	}
	if s == nil {
		return unavailable(u.spec.Name, "is not connected")
	}
	if err := s.cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri}); err != nil {
		u.mu.Lock()
		if u.subs[uri]--; u.subs[uri] <= 0 {
			delete(u.subs, uri)
		}
		u.mu.Unlock()
		return err
	}
	return nil
}

// Unsubscribe drops one subscriber of uri, and the upstream subscription
// with the last.
func (u *Conn) Unsubscribe(ctx context.Context, uri string) error {
	u.mu.Lock()
	n := u.subs[uri]
	if n > 1 {
		u.subs[uri] = n - 1
		u.mu.Unlock()
		return nil
	}
	delete(u.subs, uri)
	s := u.control
	u.mu.Unlock()
	if n == 0 || s == nil {
		return nil
	}
	return s.cs.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: uri})
}

// resubscribe subscribes again, on a new control session, to what
// callers were subscribed to.
func (u *Conn) resubscribe(ctx context.Context, s *session) {
	u.mu.Lock()
	uris := make([]string, 0, len(u.subs))
	for uri := range u.subs {
		uris = append(uris, uri)
	}
	u.mu.Unlock()
	for _, uri := range uris {
		if err := s.cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri}); err != nil {
			u.log.WarnContext(ctx, "cannot subscribe to an upstream resource again", "uri", uri, "error", err)
		}
	}
}

// stop ends the upstream's loop; its sessions close.
func (u *Conn) stop() { u.cancel() }

func (u *Conn) String() string { return fmt.Sprintf("upstream %q", u.spec.Name) }
