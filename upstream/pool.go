package upstream

// The pool of an HTTP upstream's call sessions. A call leases a session
// for itself (see session.go); sessions are opened when every open one is
// leased, up to a bound, and kept for the next call: no call pays for a
// connection set up, and the HTTP connections under them are reused.
//
// A session upstream (2025-11-25 and older) learns the client's
// capabilities once, when the session starts, and asks only for what they
// allow; so its sessions are pooled per set of capabilities the callers
// have (elicitation, sampling, roots), and a caller leases one that
// declared exactly its own. A 2026-07-28 upstream reads capabilities from
// each request, so one pool serves every caller.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// errPoolClosed: the upstream was removed, replaced or went down while the
// call waited for a session.
var errPoolClosed = errors.New("the upstream's connections were closed")

type pool struct {
	u    *Conn
	caps *mcp.ClientCapabilities // nil: per request (2026-07-28)
	max  int

	mu     sync.Mutex
	idle   []*session
	open   int           // sessions open or being opened
	wake   chan struct{} // closed when a session is put back or closed
	closed bool
}

func newPool(u *Conn, caps *mcp.ClientCapabilities, max int) *pool {
	return &pool{u: u, caps: caps, max: max, wake: make(chan struct{})}
}

// get returns an idle session, opening one if all are leased and the
// bound allows, else waiting for one to come back.
func (p *pool) get(ctx context.Context) (*session, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, errPoolClosed
		}
		if n := len(p.idle); n > 0 {
			s := p.idle[n-1]
			p.idle = p.idle[:n-1]
			p.mu.Unlock()
			return s, nil
		}
		if p.open < p.max {
			p.open++
			p.mu.Unlock()
			s, err := p.u.openCallSession(ctx, p)
			if err != nil {
				p.mu.Lock()
				p.open--
				p.signal()
				p.mu.Unlock()
				return nil, err
			}
			return s, nil
		}
		wake := p.wake
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wake:
		}
	}
}

// put takes a session back: idle if it is usable, closed otherwise.
func (p *pool) put(s *session) {
	s.mu.Lock()
	usable := !s.broken && !s.closing && len(s.leases) == 0
	s.mu.Unlock()
	p.mu.Lock()
	if usable && !p.closed {
		p.idle = append(p.idle, s)
		p.signal()
		p.mu.Unlock()
		return
	}
	p.open--
	p.signal()
	p.mu.Unlock()
	_ = s.cs.Close()
}

// signal wakes the callers waiting for a session. p.mu must be held.
func (p *pool) signal() {
	close(p.wake)
	p.wake = make(chan struct{})
}

// close closes the idle sessions now and the leased ones as their calls
// end; waiting callers get errPoolClosed.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.signal()
	p.mu.Unlock()
	for _, s := range idle {
		_ = s.cs.Close()
	}
}

// callerCaps keeps of a caller's capabilities what a session upstream
// may ask of it (elicitation, sampling, roots), normalised so that equal
// sets have equal keys.
func callerCaps(c *mcp.ClientCapabilities) (*mcp.ClientCapabilities, string) {
	out := &mcp.ClientCapabilities{}
	var key strings.Builder
	if c == nil {
		return out, ""
	}
	if e := c.Elicitation; e != nil {
		out.Elicitation = &mcp.ElicitationCapabilities{}
		key.WriteString("e")
		if e.Form != nil || e.URL == nil {
			out.Elicitation.Form = &mcp.FormElicitationCapabilities{}
			key.WriteString("f")
		}
		if e.URL != nil {
			out.Elicitation.URL = &mcp.URLElicitationCapabilities{}
			key.WriteString("u")
		}
	}
	if s := c.Sampling; s != nil {
		out.Sampling = &mcp.SamplingCapabilities{}
		key.WriteString("s")
		if s.Tools != nil {
			out.Sampling.Tools = &mcp.SamplingToolsCapabilities{}
			key.WriteString("t")
		}
		if s.Context != nil {
			out.Sampling.Context = &mcp.SamplingContextCapabilities{}
			key.WriteString("c")
		}
	}
	if r := c.RootsV2; r != nil {
		out.RootsV2 = &mcp.RootCapabilities{}
		key.WriteString("r")
	}
	return out, key.String()
}

// allCaps is what Parley declares to a stdio upstream, whose one session
// serves every caller: each request is checked against its own caller's
// capabilities when it arrives.
func allCaps() *mcp.ClientCapabilities {
	return &mcp.ClientCapabilities{
		Elicitation: &mcp.ElicitationCapabilities{Form: &mcp.FormElicitationCapabilities{}, URL: &mcp.URLElicitationCapabilities{}},
		Sampling:    &mcp.SamplingCapabilities{Tools: &mcp.SamplingToolsCapabilities{}},
		RootsV2:     &mcp.RootCapabilities{},
	}
}

// ErrUnavailable: the upstream cannot be called now (down, being
// reconnected, removed). Errors of Conn.Acquire wrap it as an
// *UnavailableError, whose text names the upstream and no internals.
var ErrUnavailable = errors.New("upstream unavailable")

// UnavailableError says which upstream cannot be called, and why.
type UnavailableError struct {
	Upstream string
	Why      string
}

func (e *UnavailableError) Error() string { return fmt.Sprintf("upstream %q %s", e.Upstream, e.Why) }

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

func unavailable(name, why string) error { return &UnavailableError{Upstream: name, Why: why} }
