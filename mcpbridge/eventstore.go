package mcpbridge

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/store"
)

// EventStoreOptions tune an EventStore. Zero values take the defaults.
type EventStoreOptions struct {
	// KeepPerStream is how many of a stream's newest events are kept for
	// replay; resuming from before them fails (the client gets HTTP 400 and
	// must start over). Default 1000. Negative keeps every event, bounded
	// only by MaxAge.
	KeepPerStream int
	// MaxAge is how long a stream is kept after its last event (or its
	// opening) before the sweeper deletes it; the standalone GET stream is
	// kept while any stream of its session is younger. It should be at least
	// the handler's SessionTimeout, so that a live session's quiet streams
	// are not swept from under it. Default 1h.
	MaxAge time.Duration
	// SweepEvery is how often Run sweeps. Default MaxAge/4, at most 10m.
	SweepEvery time.Duration
	// WriteTimeout bounds each store call. Default 10s.
	WriteTimeout time.Duration
	// Now reads the clock for event times and the sweep cutoff. Default
	// time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// EventStore is a durable mcp.EventStore over the store's Events, so that an
// MCP client whose Streamable HTTP stream broke resumes it with
// Last-Event-ID and gets every event it missed, exactly once, also after a
// gateway restart or through another replica sharing the store (as far as
// the SDK lets a session get there: sessions themselves live in the
// handler's memory).
//
// Storage is bounded by KeepPerStream and by MaxAge: the SDK does not
// always report a session's end, so whoever wires the gateway must run Run
// for as long as the store is in use, and stop it through its context. One
// EventStore serves every session of the process.
type EventStore struct {
	ev           store.Events
	keep         int
	maxAge       time.Duration
	sweepEvery   time.Duration
	writeTimeout time.Duration
	now          func() time.Time
	log          *slog.Logger
}

var _ mcp.EventStore = (*EventStore)(nil)

// eventPage is how many events After reads per store call.
const eventPage = 500

// NewEventStore returns an EventStore over ev.
func NewEventStore(ev store.Events, opts EventStoreOptions) *EventStore {
	if opts.KeepPerStream == 0 {
		opts.KeepPerStream = 1000
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = time.Hour
	}
	if opts.SweepEvery <= 0 {
		opts.SweepEvery = min(opts.MaxAge/4, 10*time.Minute)
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &EventStore{
		ev: ev, keep: max(opts.KeepPerStream, 0), maxAge: opts.MaxAge, sweepEvery: opts.SweepEvery,
		writeTimeout: opts.WriteTimeout, now: opts.Now, log: opts.Logger,
	}
}

// Open implements mcp.EventStore.
func (s *EventStore) Open(ctx context.Context, sessionID, streamID string) error {
	ctx, cancel := context.WithTimeout(ctx, s.writeTimeout)
	defer cancel()
	if err := s.ev.OpenStream(ctx, sessionID, streamID, s.now()); err != nil {
		return fmt.Errorf("open event stream %q: %w", streamID, err)
	}
	return nil
}

// Append implements mcp.EventStore.
//
// The write is detached from ctx's cancellation (bounded by WriteTimeout
// instead): the SDK delivers the event live even when Append fails, and
// numbers it by its own count, so an append given up halfway would leave the
// stored indices one behind the event IDs the client holds, and a later
// resumption would silently skip an event.
func (s *EventStore) Append(ctx context.Context, sessionID, streamID string, data []byte) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.writeTimeout)
	defer cancel()
	if _, err := s.ev.AppendEvent(ctx, sessionID, streamID, data, s.now(), s.keep); err != nil {
		return fmt.Errorf("store event of stream %q: %w", streamID, err)
	}
	return nil
}

// After implements mcp.EventStore. It reads every event after index before
// yielding the first, so that it yields all of them or only an error, never
// part of them: a purge seen on a later page fails the whole call, with an
// error matching both mcp.ErrEventsPurged and store.ErrEventsPurged.
func (s *EventStore) After(ctx context.Context, sessionID, streamID string, index int) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		events, err := s.after(ctx, sessionID, streamID, int64(index))
		if err != nil {
			yield(nil, err)
			return
		}
		for _, e := range events {
			if !yield(e.Data, nil) {
				return
			}
		}
	}
}

func (s *EventStore) after(ctx context.Context, sessionID, streamID string, index int64) ([]store.StreamEvent, error) {
	var all []store.StreamEvent
	next := max(index, -1) + 1 // the index the next event must have
	for {
		page, err := s.ev.EventsAfter(ctx, sessionID, streamID, next-1, eventPage)
		if errors.Is(err, store.ErrEventsPurged) {
			return nil, fmt.Errorf("replay stream %q after event %d: %w: %w", streamID, index, mcp.ErrEventsPurged, err)
		}
		if err != nil {
			return nil, fmt.Errorf("replay stream %q after event %d: %w", streamID, index, err)
		}
		for _, e := range page {
			// The store keeps indices without gaps; a gap would mean
			// events were lost, which the client must hear about.
			if e.Index != next {
				return nil, fmt.Errorf("replay stream %q after event %d: event %d is missing: %w: %w",
					streamID, index, next, mcp.ErrEventsPurged, store.ErrEventsPurged)
			}
			all = append(all, e)
			next++
		}
		if len(page) < eventPage {
			return all, nil
		}
	}
}

// SessionClosed implements mcp.EventStore.
func (s *EventStore) SessionClosed(ctx context.Context, sessionID string) error {
	// The SDK passes a context without deadline here.
	ctx, cancel := context.WithTimeout(ctx, s.writeTimeout)
	defer cancel()
	if err := s.ev.CloseSession(ctx, sessionID); err != nil {
		return fmt.Errorf("delete the events of a closed session: %w", err)
	}
	return nil
}

// Sweep deletes the streams idle for longer than MaxAge once, and returns
// how many it deleted.
func (s *EventStore) Sweep(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.writeTimeout)
	defer cancel()
	return s.ev.SweepEvents(ctx, s.now().Add(-s.maxAge))
}

// Run sweeps idle streams at once and then every SweepEvery, until ctx ends;
// it returns nil then. A failed sweep is logged and tried again at the next
// tick. Every replica may run it: sweeps are idempotent.
func (s *EventStore) Run(ctx context.Context) error {
	t := time.NewTicker(s.sweepEvery)
	defer t.Stop()
	for {
		n, err := s.Sweep(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("sweeping idle MCP event streams failed; retrying at the next tick", "error", err, "retry_in", s.sweepEvery)
		case n > 0:
			s.log.Debug("swept idle MCP event streams", "streams", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
