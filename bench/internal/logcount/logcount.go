// Package logcount counts the warnings and errors a gateway under load
// logs, keeping the first, while passing every record on to the real
// handler, so that logging costs what it costs in production.
package logcount

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
)

// Counter counts the records at warning level and above that pass through
// any Handler it made.
type Counter struct {
	n     atomic.Int64
	mu    sync.Mutex
	first string
}

// Handler wraps next: every record goes to next; those at warning level or
// above are also counted.
func (c *Counter) Handler(next slog.Handler) slog.Handler { return &handler{c: c, next: next} }

// Count is how many warnings and errors were logged.
func (c *Counter) Count() int64 { return c.n.Load() }

// Reset forgets what was counted so far (start-up warnings, say).
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n.Store(0)
	c.first = ""
}

// First is the first warning or error, with its attributes, or "".
func (c *Counter) First() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.first
}

type handler struct {
	c     *Counter
	next  slog.Handler
	attrs []slog.Attr // for First, which sees the record only
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.next.Enabled(ctx, l)
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn && h.c.n.Add(1) == 1 {
		msg := r.Level.String() + " " + r.Message
		for _, a := range h.attrs {
			msg += " " + a.String()
		}
		r.Attrs(func(a slog.Attr) bool {
			msg += " " + a.String()
			return true
		})
		h.c.mu.Lock()
		h.c.first = msg
		h.c.mu.Unlock()
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &handler{c: h.c, next: h.next.WithAttrs(as), attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{c: h.c, next: h.next.WithGroup(name), attrs: h.attrs}
}
