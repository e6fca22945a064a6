package gateway

import (
	"context"
	"net/http"
	"strings"
	"sync"
)

// A client's standalone GET stream (MCP's 2025-11-25 sessions) stays open
// for as long as the session lives, and carries no call in flight: the
// server only writes notifications into it. http.Server.Shutdown waits for
// every request to end, so one open session held a rolling restart for
// the whole shutdown timeout and made the gateway exit with an error.
// Shutdown ends such streams instead; the client opens its stream again,
// on this replica's successor or another one, and resumes it from its
// Last-Event-ID where the stream is resumable. Calls in flight (POSTs,
// whose streams carry a call's progress and result) are left to finish.

// streamSet holds the cancel functions of the open GET streams.
type streamSet struct {
	mu      sync.Mutex
	next    uint64
	open    map[uint64]context.CancelFunc
	stopped bool
}

// EndStreamsOnShutdown wraps h so that its GET event streams end when the
// server shuts down (see streamSet).
func (g *Gateway) EndStreamsOnShutdown(h http.Handler) http.Handler {
	s := &streamSet{open: map[uint64]context.CancelFunc{}}
	g.OnShutdown(s.stop)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			h.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		id, ok := s.add(cancel)
		if !ok {
			http.Error(w, "the gateway is shutting down: open the stream again", http.StatusServiceUnavailable)
			return
		}
		defer s.remove(id)
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (s *streamSet) add(cancel context.CancelFunc) (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return 0, false
	}
	s.next++
	s.open[s.next] = cancel
	return s.next, true
}

func (s *streamSet) remove(id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.open, id)
}

// stop ends the open streams and refuses new ones.
func (s *streamSet) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	for _, cancel := range s.open {
		cancel()
	}
}
