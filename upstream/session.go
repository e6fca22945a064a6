package upstream

// Client sessions to an upstream and the calls leased on them.
//
// go-sdk hands a client's handlers what an upstream sends (progress, log
// messages, and a session upstream's elicitation, sampling and roots
// requests) with no link to the call in flight that caused it. Leases make
// the link: a call holds a session while it runs, and what arrives on that
// session meanwhile belongs to it. An HTTP upstream's sessions are leased
// exclusively (the pool grows on demand, bounded), so a session carries
// one call at a time. A stdio upstream is one process, one session, shared
// by the calls in flight: progress still finds its call by its progress
// token (each lease sends its own), and log messages and requests find it
// when it is the only call in flight; otherwise a log message only goes to
// Parley's log and a request is refused, since nothing says whose it is.

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Sink receives what an upstream sends about one call in flight.
type Sink interface {
	// Progress reports a progress notification of the call (its token is
	// the lease's, not the caller's).
	Progress(ctx context.Context, p *mcp.ProgressNotificationParams)
	// Log reports a log message the upstream sent while the call ran.
	Log(ctx context.Context, p *mcp.LoggingMessageParams)
	// Input answers a server→client request the upstream made during the
	// call (elicitation, sampling, roots: an *mcp.ElicitParams,
	// *mcp.CreateMessageWithToolsParams or *mcp.ListRootsParams) with the
	// matching result. It may block until the caller answers.
	Input(ctx context.Context, r mcp.InputRequest) (mcp.InputResponse, error)
}

// session is one client session to an upstream.
type session struct {
	cs     *mcp.ClientSession
	shared bool // a stdio upstream's only session
	pool   *pool
	notes  *noteCounter // HTTP call sessions: notifications read, not yet handled

	mu      sync.Mutex
	leases  map[*Lease]struct{}
	broken  bool // a call on it failed at the transport: do not reuse
	closing bool // close once the last lease is released
}

var tokenSeq atomic.Uint64

// Lease is a call's hold on a session. Release it when the call is done.
type Lease struct {
	s     *session
	sink  Sink
	token string
	gen   string
	u     *Conn
}

// Session is the client session to call the upstream on.
func (l *Lease) Session() *mcp.ClientSession { return l.s.cs }

// ProgressToken is the token to send the upstream in place of the
// caller's: progress notifications carrying it reach this lease's sink.
func (l *Lease) ProgressToken() string { return l.token }

// Settle waits until the notifications the upstream sent before the
// call's result have reached the sink (see order.go). Call it after the
// call returns and before Release.
func (l *Lease) Settle(ctx context.Context) {
	if l.s.notes != nil {
		l.s.notes.wait(ctx)
	}
}

// Generation is the protocol revision negotiated with the upstream.
func (l *Lease) Generation() string { return l.gen }

// Release gives the session back. err is the call's outcome: a failure of
// the transport (not a JSON-RPC error, not the caller's cancellation)
// retires the session and has the upstream probed at once.
func (l *Lease) Release(err error) {
	s := l.s
	failed := transportFailure(err)
	s.mu.Lock()
	delete(s.leases, l)
	if failed {
		s.broken = true
	}
	closeNow := s.closing && len(s.leases) == 0
	s.mu.Unlock()
	if failed {
		l.u.reportFailure(err)
	}
	switch {
	case s.shared:
		if closeNow {
			_ = s.cs.Close()
		}
	case s.pool != nil:
		s.pool.put(s)
	}
}

// transportFailure reports whether err says the upstream could not be
// reached or the connection broke, as opposed to an answer (a JSON-RPC
// error) or the caller giving up.
func transportFailure(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	// Not errors.As(*jsonrpc.Error): go-sdk reports a broken connection
	// as one of its own (see errors.go).
	_, answered := UpstreamError(err)
	return !answered
}

// acquire adds a lease on s, or reports false if s may not be used.
func (s *session) acquire(u *Conn, sink Sink, gen string) (*Lease, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken || s.closing {
		return nil, false
	}
	l := &Lease{s: s, sink: sink, gen: gen, u: u, token: "parley-" + strconv.FormatUint(tokenSeq.Add(1), 36)}
	if s.leases == nil {
		s.leases = map[*Lease]struct{}{}
	}
	s.leases[l] = struct{}{}
	return l, true
}

// byToken finds the lease whose progress token is tok.
func (s *session) byToken(tok any) *Lease {
	t, ok := tok.(string)
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for l := range s.leases {
		if l.token == t {
			return l
		}
	}
	return nil
}

// only is the session's one lease, nil if there are none or several.
func (s *session) only() *Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.leases) != 1 {
		return nil
	}
	for l := range s.leases {
		return l
	}
	return nil
}

// close closes the session now if no call holds it, else once the last
// lease is released.
func (s *session) close() {
	s.mu.Lock()
	s.closing = true
	idle := len(s.leases) == 0
	s.mu.Unlock()
	if idle {
		_ = s.cs.Close()
	}
}

// errNoCall refuses a request of the upstream that Parley cannot tie to a
// call in flight.
var errNoCall = &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest,
	Message: "the gateway cannot tell which call this request belongs to: it is sent only during a call, while no other call is in flight"}

// middleware is the session's client receiving middleware: it hands what
// the upstream sends about a call to that call's sink.
func (s *session) middleware(u *Conn) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			switch method {
			case "notifications/progress":
				if s.notes != nil {
					defer s.notes.done()
				}
				if p, ok := req.GetParams().(*mcp.ProgressNotificationParams); ok {
					if l := s.byToken(p.ProgressToken); l != nil && l.sink != nil {
						l.sink.Progress(ctx, p)
					}
				}
				return nil, nil
			case "notifications/message":
				if s.notes != nil {
					defer s.notes.done()
				}
				p, ok := req.GetParams().(*mcp.LoggingMessageParams)
				if !ok {
					return nil, nil
				}
				if l := s.only(); l != nil && l.sink != nil {
					l.sink.Log(ctx, p)
				} else {
					u.log.DebugContext(ctx, "upstream log message outside a call", "level", p.Level, "logger", p.Logger, "data", p.Data)
				}
				return nil, nil
			case "elicitation/create", "sampling/createMessage", "roots/list":
				ir, ok := req.GetParams().(mcp.InputRequest)
				if !ok {
					return next(ctx, method, req)
				}
				l := s.only()
				if l == nil || l.sink == nil {
					u.log.WarnContext(ctx, "upstream request refused: no single call in flight", "method", method)
					return nil, errNoCall
				}
				resp, err := l.sink.Input(ctx, ir)
				if err != nil {
					return nil, err
				}
				res, ok := resp.(mcp.Result)
				if !ok {
					return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "no answer"}
				}
				return res, nil
			}
			return next(ctx, method, req)
		}
	}
}
