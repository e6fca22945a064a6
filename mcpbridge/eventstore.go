package mcpbridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/observe"
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
	// MaxQueued bounds the writes waiting for Run's flusher; beyond, Open
	// and Append wait for room. Default 4096.
	MaxQueued int
	// MaxBatch bounds the writes the flusher commits in one transaction.
	// Default 256.
	MaxBatch int
	// Now reads the clock for event times and the sweep cutoff. Default
	// time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Metrics receives the store's instruments (eventstore_metrics.go).
	// Nil: they are kept on a private registry nobody reads.
	Metrics *observe.Metrics
}

// EventStore is a durable mcp.EventStore over the store's Events, so that an
// MCP client whose Streamable HTTP stream broke resumes it with
// Last-Event-ID and gets every event it missed, exactly once, also through
// another instance sharing the store (as far as the SDK lets a session get
// there: sessions themselves live in the handler's memory, so only this
// process ever writes a session's streams).
//
// Only streams that outlive their response are written. A stream starts in
// memory (Open writes nothing), where its priming event is counted, and
// After replays it from there. The stream is written to the store (its
// opening and priming event first) once it outlives its response: when
// an event other than a response arrives (progress, a log message, a
// server-to-client request, any event of the standalone GET stream), or
// when its response arrives after the POST that opened the stream has
// ended (the client's connection broke, so the client may resume the
// stream to fetch the response). When the response arrives as the stream's
// first event after the priming event, with its POST still connected, the
// SDK delivers it on that POST and the stream ends: the EventStore forgets
// it and nothing is written, so a request/response call (get_ticket) and a
// session's opening (initialize) cost the store nothing. There is no timer
// for long calls: until its response, a quiet stream holds only its
// priming event, whose loss costs a resuming client nothing, and a restart
// ends every session with it (sessions live in the handler's memory), so
// writing a quiet stream early would make nothing more resumable.
//
// The edge left: a connection that breaks while the response is being
// written, too late for the POST's context to say so, loses the response
// with the connection; the client's resumption then gets HTTP 400 from the
// SDK (the stream is not found), a clear failure rather than silence. A
// JSON-RPC batch (protocol versions before 2025-06-18 only) is taken to end
// at its first response: a later event of it is not stored, and the stream
// cannot be resumed (again a 400, never a partial replay).
//
// Writes do not wait for the store while Run runs: Open and Append number a
// stream's events in memory (this process is the only writer of its
// sessions' streams), queue the write and return, and Run's flusher commits
// everything queued in one transaction per batch (at most MaxBatch writes;
// what arrives meanwhile goes in the next one). Each queued append carries
// its index, and the store refuses it if the stream's next index is another,
// so a stored stream never disagrees with the event IDs its client holds. A
// write the store refuses, or that fails, marks its stream broken: its
// later appends are dropped and After refuses to replay it (the client is
// told to start over) instead of returning part of it. After first waits
// until every write queued for its stream before the call is committed;
// SessionClosed is queued behind the session's writes and waits for its
// own commit (a session that never wrote a stream writes nothing to
// close). At most MaxQueued writes wait, plus the buffer of a stream being
// written: beyond, Append waits for room (at most WriteTimeout), never
// dropping a write. While Run is not running (before it starts, after it
// returns) every write is synchronous, in the same order.
//
// Storage is bounded by KeepPerStream and by MaxAge: the SDK does not
// always report a session's end, so whoever wires the gateway must run Run
// for as long as the store is in use, and stop it through its context; Run
// commits what is still queued before it returns. One EventStore serves
// every session of the process.
type EventStore struct {
	ev           store.Events
	keep         int
	maxAge       time.Duration
	sweepEvery   time.Duration
	writeTimeout time.Duration
	maxQueued    int
	maxBatch     int
	now          func() time.Time
	log          *slog.Logger

	// flushMu is held while a batch is written, so batches are written one
	// at a time, in queue order, whoever writes them.
	flushMu sync.Mutex

	mu        sync.Mutex
	running   bool // Run's flusher commits the queue
	queue     []queuedWrite
	seq       uint64        // the last write queued
	committed uint64        // every write up to this one is written (or failed)
	applied   chan struct{} // closed, and replaced, when a batch is written
	kick      chan struct{} // wakes the flusher; capacity 1
	sessions  map[string]*sessionState
	metrics   *eventStoreMetrics

	// owner, if set (sessions on any replica: setOwner), is this replica:
	// a POST stream written to the store records its call and this owner
	// (store.StreamCall), for another replica to follow or take it over.
	owner string
}

// setOwner makes s record, for each POST stream it writes to the store,
// the call and replica running it (see owner).
func (s *EventStore) setOwner(replica string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.owner = replica
}

// sessionState is what the EventStore knows of a session's streams.
type sessionState struct {
	streams map[string]*streamState
	// stored is set once a write of the session was queued: closing the
	// session then deletes its streams from the store.
	stored bool
}

// streamState is what the EventStore knows of a stream.
type streamState struct {
	next    int64     // the index of the stream's next event
	lastAt  time.Time // its last open or append, as the store records it
	lastSeq uint64    // its last queued write
	err     error     // why a write of it failed; it is not replayed then
	// mem, while the stream is not written to the store, holds it.
	mem *memStream
	// discard: the stream of a call taken over from another replica, whose
	// events the takeover writes to the original stream (takeover.go).
	discard bool
}

// memStream is a stream not (yet) written to the store. Its events, as
// many as its streamState's next, are all empty (the priming event): any
// other event ends the stream or has it written.
type memStream struct {
	openedAt time.Time
	// post is the context of the POST that opened the stream (nil for the
	// standalone GET stream): once it is done, the client may come back for
	// the stream's response with Last-Event-ID.
	post context.Context
	// request is the POST's body (withPostBody), recorded with the stream
	// when it is written to the store.
	request []byte
}

// queuedWrite is a write waiting for the flusher.
type queuedWrite struct {
	seq uint64
	w   store.StreamEventWrite
	st  *streamState // nil for a session close, and for a stream not in memory
	// done, if set, receives the write's result; otherwise a failure is
	// logged.
	done chan store.StreamEventResult
}

var _ mcp.EventStore = (*EventStore)(nil)

// eventPage is how many events After reads per store call.
const eventPage = 500

// errNotStored marks a stream with a write that failed.
var errNotStored = errors.New("an event of the stream was not stored")

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
	if opts.MaxQueued <= 0 {
		opts.MaxQueued = 4096
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 256
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &EventStore{
		ev: ev, keep: max(opts.KeepPerStream, 0), maxAge: opts.MaxAge, sweepEvery: opts.SweepEvery,
		writeTimeout: opts.WriteTimeout, maxQueued: opts.MaxQueued, maxBatch: opts.MaxBatch,
		now: opts.Now, log: opts.Logger,
		applied: make(chan struct{}), kick: make(chan struct{}, 1),
		sessions: map[string]*sessionState{},
	}
	s.metrics = newEventStoreMetrics(opts.Metrics, s)
	return s
}

// stream returns what s knows of a stream, with s.mu held; nil if nothing.
func (s *EventStore) stream(sessionID, streamID string) *streamState {
	if ss := s.sessions[sessionID]; ss != nil {
		return ss.streams[streamID]
	}
	return nil
}

// session returns a session's state, with s.mu held, making it if needed.
func (s *EventStore) session(sessionID string) *sessionState {
	ss := s.sessions[sessionID]
	if ss == nil {
		ss = &sessionState{streams: map[string]*streamState{}}
		s.sessions[sessionID] = ss
	}
	return ss
}

// Open implements mcp.EventStore. A new stream starts in memory: nothing is
// written until it outlives its response (see EventStore). ctx is the
// request that opens the stream: for a POST's stream, the SDK passes the
// POST's context, which tells later whether the POST is still connected.
func (s *EventStore) Open(ctx context.Context, sessionID, streamID string) error {
	s.mu.Lock()
	at := s.now()
	st := s.stream(sessionID, streamID)
	if st == nil && streamID != "" && captured(ctx) {
		s.session(sessionID).streams[streamID] = &streamState{discard: true}
		s.mu.Unlock()
		return nil
	}
	if st == nil {
		// A stream of this process's session that it does not know is
		// new: sessions live in this process only.
		mem := &memStream{openedAt: at}
		if streamID != "" {
			mem.post = ctx
			mem.request = postBody(ctx)
		}
		s.session(sessionID).streams[streamID] = &streamState{lastAt: at, mem: mem}
		s.mu.Unlock()
		return nil
	}
	if st.mem != nil {
		st.lastAt = later(st.lastAt, at)
		s.mu.Unlock()
		return nil
	}
	if err := s.room(); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("open event stream %q: %w", streamID, err)
	}
	st = s.stream(sessionID, streamID) // room may have let go of s.mu
	if st == nil || st.mem != nil {
		s.mu.Unlock()
		return s.Open(ctx, sessionID, streamID)
	}
	st.lastAt = later(st.lastAt, at)
	done := s.enqueue(store.StreamEventWrite{Op: store.StreamOpen, Session: sessionID, Stream: streamID, At: at}, st, false)
	if err := s.result(ctx, done); err != nil {
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
	s.metrics.appended.Inc()
	s.mu.Lock()
	at := s.now()
	if st := s.stream(sessionID, streamID); st != nil && st.discard {
		if isResponse(data) {
			delete(s.sessions[sessionID].streams, streamID)
		}
		s.mu.Unlock()
		return nil
	}
	if st := s.stream(sessionID, streamID); st != nil && st.mem != nil && st.err == nil {
		switch s.inMemory(st, streamID, data) {
		case memKeep:
			st.next++
			st.lastAt = later(st.lastAt, at)
			s.mu.Unlock()
			return nil
		case memEnd:
			// The SDK delivers the response on its POST and forgets the
			// stream: so does the EventStore.
			delete(s.sessions[sessionID].streams, streamID)
			s.mu.Unlock()
			return nil
		}
	}
	// Kept beyond the call: the SDK owns data.
	if data == nil {
		data = []byte{}
	} else {
		data = bytes.Clone(data)
	}
	st := s.stream(sessionID, streamID)
	if err := s.room(); err != nil {
		if st != nil && st.err == nil {
			// The SDK counts this event anyway.
			st.err = fmt.Errorf("%w: %w", errNotStored, err)
		}
		s.mu.Unlock()
		return fmt.Errorf("store event of stream %q: %w", streamID, err)
	}
	st = s.stream(sessionID, streamID) // room may have let go of s.mu
	w := store.StreamEventWrite{Op: store.StreamAppend, Session: sessionID, Stream: streamID, Index: -1, Data: data, At: at, Keep: s.keep}
	if st == nil {
		// Not opened through this EventStore (or swept, closed or ended
		// since): the store numbers the event, and says whether the
		// stream is open.
		s.session(sessionID).stored = true
		done := s.enqueue(w, nil, true)
		r, err := s.wait(ctx, done)
		if err == nil {
			err = r.Err
		}
		if err != nil {
			return fmt.Errorf("store event of stream %q: %w", streamID, err)
		}
		s.mu.Lock()
		if ss := s.session(sessionID); ss.streams[streamID] == nil {
			ss.streams[streamID] = &streamState{next: r.Index + 1, lastAt: at, lastSeq: 0}
		}
		s.mu.Unlock()
		return nil
	}
	if st.err != nil {
		err := st.err
		s.mu.Unlock()
		return fmt.Errorf("store event of stream %q: %w", streamID, err)
	}
	if st.mem != nil {
		s.store(sessionID, streamID, st)
	}
	w.Index = st.next
	st.next++
	st.lastAt = later(st.lastAt, at)
	// With sessions on any replica (owner), an event is delivered only once
	// it is stored: a client holding an event its replica never stored
	// would skip, on resuming elsewhere, the event the replica that takes
	// the call over stores under that index.
	done := s.enqueue(w, st, s.owner != "")
	if err := s.result(ctx, done); err != nil {
		return fmt.Errorf("store event of stream %q: %w", streamID, err)
	}
	return nil
}

// What inMemory decides for an event of a stream held in memory.
const (
	memKeep  = iota // buffer the event
	memEnd          // the event ends the stream: drop it, write nothing
	memStore        // write the stream to the store, then the event
)

// inMemory decides, with s.mu held, what an event of a stream held in
// memory does to it.
func (s *EventStore) inMemory(st *streamState, streamID string, data []byte) int {
	if len(data) == 0 {
		return memKeep // the priming event: nothing to keep but its index
	}
	if streamID == "" || !isResponse(data) {
		return memStore
	}
	if post := st.mem.post; post != nil && post.Err() != nil {
		// The POST is gone: the client may resume the stream to get
		// this response.
		return memStore
	}
	return memEnd
}

// store queues, with s.mu held, the writes of a stream held in memory: its
// opening and its priming event. It does not wait for them: a failure
// marks the stream broken, and the caller's next write carries the wait.
func (s *EventStore) store(sessionID, streamID string, st *streamState) {
	mem := st.mem
	st.mem = nil
	s.session(sessionID).stored = true
	s.push(store.StreamEventWrite{Op: store.StreamOpen, Session: sessionID, Stream: streamID, At: mem.openedAt}, st, false)
	if s.owner != "" && mem.request != nil {
		s.push(store.StreamEventWrite{Op: store.StreamCall, Session: sessionID, Stream: streamID, Owner: s.owner, Data: mem.request}, st, false)
	}
	if streamID == "" {
		// The standalone stream has no priming event: its next index is
		// where go-sdk's count stands (alignStandalone), after events
		// another replica's copy of the session stored.
		return
	}
	for i := range st.next {
		s.push(store.StreamEventWrite{Op: store.StreamAppend, Session: sessionID, Stream: streamID,
			Index: i, Data: []byte{}, At: st.lastAt, Keep: s.keep}, st, false)
	}
}

// isResponse reports whether data is a JSON-RPC response: an object whose
// members up to "result" or "error" are only "jsonrpc" and "id" with
// scalar values, as go-sdk encodes a response. Anything else, such as a
// request or a notification ("method"), is not.
//
// It runs for every event of every session stream, so it scans the bytes
// go-sdk writes without a decoder; what it does not expect (escapes in a
// member name, odd spacing) it leaves to decodeIsResponse.
func isResponse(data []byte) bool {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	for {
		i = skipSpace(data, i+1)
		name, next, ok := plainString(data, i)
		if !ok {
			return decodeIsResponse(data)
		}
		i = skipSpace(data, next)
		if i >= len(data) || data[i] != ':' {
			return decodeIsResponse(data)
		}
		switch name {
		case "result", "error":
			return true
		case "jsonrpc", "id":
		default:
			return false
		}
		i = skipSpace(data, i+1)
		if i >= len(data) {
			return false
		}
		switch c := data[i]; {
		case c == '{' || c == '[':
			return false
		case c == '"':
			if i = skipString(data, i); i < 0 {
				return decodeIsResponse(data)
			}
		default: // a number, true, false or null
			for i < len(data) && data[i] != ',' && data[i] != '}' && !isSpace(data[i]) {
				i++
			}
		}
		i = skipSpace(data, i)
		if i >= len(data) || data[i] != ',' {
			// The end of the object, or not an object go-sdk wrote.
			return decodeIsResponse(data)
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

// plainString reads the JSON string at data[i:] if it has no escapes, and
// returns it and the index after it.
func plainString(data []byte, i int) (string, int, bool) {
	if i >= len(data) || data[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '"':
			return string(data[i+1 : j]), j + 1, true
		case '\\':
			return "", 0, false
		}
	}
	return "", 0, false
}

// skipString returns the index after the JSON string at data[i:], or -1
// if it does not end.
func skipString(data []byte, i int) int {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '"':
			return j + 1
		case '\\':
			j++
		}
	}
	return -1
}

// decodeIsResponse is isResponse through a JSON decoder, for what the
// scan does not expect.
func decodeIsResponse(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return false
		}
		switch t {
		case "result", "error":
			return true
		case "jsonrpc", "id":
			if v, err := dec.Token(); err != nil {
				return false
			} else if _, ok := v.(json.Delim); ok {
				return false
			}
		default:
			return false
		}
	}
	return false
}

// room waits, with s.mu held, until the queue has room for a write, or
// WriteTimeout passed. Without the flusher every write is written at once,
// so there is always room.
func (s *EventStore) room() error {
	var timeout <-chan time.Time
	for s.running && len(s.queue) >= s.maxQueued {
		if timeout == nil {
			t := time.NewTimer(s.writeTimeout)
			defer t.Stop()
			timeout = t.C
		}
		applied := s.applied
		s.mu.Unlock()
		select {
		case <-applied:
		case <-timeout:
			s.mu.Lock()
			return fmt.Errorf("%d event writes are waiting for the store: %w", len(s.queue), store.ErrUnavailable)
		}
		s.mu.Lock()
	}
	return nil
}

// enqueue queues w, with s.mu held, and unlocks it. It returns the channel
// the write's result arrives on: always when the caller must wait for it,
// and while the flusher is not running (then the caller writes it).
func (s *EventStore) enqueue(w store.StreamEventWrite, st *streamState, wait bool) chan store.StreamEventResult {
	done := s.push(w, st, wait || !s.running)
	running := s.running
	s.mu.Unlock()
	if running {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return done
}

// push queues w, with s.mu held, and returns the channel its result
// arrives on if withResult; otherwise a failure is logged.
func (s *EventStore) push(w store.StreamEventWrite, st *streamState, withResult bool) chan store.StreamEventResult {
	s.seq++
	q := queuedWrite{seq: s.seq, w: w, st: st}
	if withResult {
		q.done = make(chan store.StreamEventResult, 1)
	}
	if st != nil {
		st.lastSeq = s.seq
	}
	s.queue = append(s.queue, q)
	return q.done
}

// result waits for a write's result if done is set, and returns its error.
func (s *EventStore) result(ctx context.Context, done chan store.StreamEventResult) error {
	if done == nil {
		return nil
	}
	r, err := s.wait(ctx, done)
	if err != nil {
		return err
	}
	return r.Err
}

// wait waits for a queued write's result, writing the queue itself while
// the flusher is not running. Only WriteTimeout bounds it: see Append.
func (s *EventStore) wait(ctx context.Context, done chan store.StreamEventResult) (store.StreamEventResult, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.writeTimeout)
	defer cancel()
	for {
		select {
		case r := <-done:
			return r, nil
		default:
		}
		s.mu.Lock()
		running, applied := s.running, s.applied
		s.mu.Unlock()
		if !running {
			s.flush()
			continue
		}
		select {
		case r := <-done:
			return r, nil
		case <-applied:
		case <-ctx.Done():
			return store.StreamEventResult{}, ctx.Err()
		}
	}
}

// waitApplied waits until every write up to seq is written (or failed),
// writing the queue itself while the flusher is not running.
func (s *EventStore) waitApplied(ctx context.Context, seq uint64) error {
	for {
		s.mu.Lock()
		committed, running, applied := s.committed, s.running, s.applied
		s.mu.Unlock()
		if committed >= seq {
			return nil
		}
		if !running {
			s.flush()
			continue
		}
		select {
		case <-applied:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// flush writes one batch from the head of the queue in one transaction, and
// reports whether there was one.
func (s *EventStore) flush() bool {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	n := min(len(s.queue), s.maxBatch)
	if n == 0 {
		s.mu.Unlock()
		return false
	}
	batch := s.queue[:n:n]
	if n == len(s.queue) {
		s.queue = nil
	} else {
		s.queue = s.queue[n:]
	}
	s.mu.Unlock()

	writes := make([]store.StreamEventWrite, n)
	for i, q := range batch {
		writes[i] = q.w
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.writeTimeout)
	results, err := s.ev.WriteEvents(ctx, writes)
	cancel()
	if err == nil && len(results) != n {
		err = fmt.Errorf("the store returned %d results for %d writes", len(results), n)
	}
	if err != nil {
		results = make([]store.StreamEventResult, n)
		for i := range results {
			results[i].Err = err
		}
	}

	s.mu.Lock()
	var failed int
	var firstErr error
	for i, q := range batch {
		r := results[i]
		if r.Err == nil {
			continue
		}
		if q.st != nil && q.st.err == nil {
			q.st.err = fmt.Errorf("%w: %w", errNotStored, r.Err)
		}
		if q.done == nil {
			failed++
			if firstErr == nil {
				firstErr = r.Err
			}
		}
	}
	s.committed = batch[n-1].seq
	close(s.applied)
	s.applied = make(chan struct{})
	s.mu.Unlock()
	for i, q := range batch {
		if q.done != nil {
			q.done <- results[i]
		}
	}
	if failed > 0 {
		s.log.Warn("storing MCP stream events failed; their streams cannot be resumed", "writes", failed, "error", firstErr)
	}
	return true
}

// drain writes everything queued.
func (s *EventStore) drain() {
	for s.flush() {
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// After implements mcp.EventStore. It reads every event after index before
// yielding the first, so that it yields all of them or only an error, never
// part of them: a purge seen on a later page fails the whole call, with an
// error matching both mcp.ErrEventsPurged and store.ErrEventsPurged.
func (s *EventStore) After(ctx context.Context, sessionID, streamID string, index int) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		events, err := s.replay(ctx, sessionID, streamID, int64(index))
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

// replay waits for the stream's queued writes, then reads it; a stream
// held in memory is replayed from there (but for resumeShared).
func (s *EventStore) replay(ctx context.Context, sessionID, streamID string, index int64) ([]store.StreamEvent, error) {
	s.mu.Lock()
	st := s.stream(sessionID, streamID)
	var seq uint64
	// resumeShared: a client resumes the standalone stream on this copy of
	// its session, which never wrote it; with sessions on any replica
	// another copy may have stored events the client has not seen yet, so
	// the store is read (a stream it does not know has no events). A GET
	// without Last-Event-ID replays only what this copy stored.
	resumeShared := st != nil && st.mem != nil && streamID == "" && index >= 0
	if st != nil {
		seq = st.lastSeq
		if st.mem != nil && !resumeShared {
			var out []store.StreamEvent
			for i := max(index+1, 0); i < st.next; i++ {
				out = append(out, store.StreamEvent{Index: i, Data: []byte{}})
			}
			if streamID == "" {
				s.alignStandalone(st, index, out)
			}
			s.mu.Unlock()
			return out, nil
		}
	}
	s.mu.Unlock()
	if seq > 0 {
		if err := s.waitApplied(ctx, seq); err != nil {
			return nil, fmt.Errorf("replay stream %q after event %d: %w", streamID, index, err)
		}
	}
	if st != nil {
		s.mu.Lock()
		err := st.err
		s.mu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("replay stream %q after event %d: %w: %w: %w", streamID, index, mcp.ErrEventsPurged, store.ErrEventsPurged, err)
		}
	}
	events, err := s.after(ctx, sessionID, streamID, index)
	if resumeShared && errors.Is(err, store.ErrNotFound) {
		events, err = nil, nil
	}
	if err == nil && st != nil && streamID == "" {
		s.mu.Lock()
		if s.stream(sessionID, streamID) == st && st.err == nil {
			s.alignStandalone(st, index, events)
		}
		s.mu.Unlock()
	}
	return events, err
}

// alignStandalone sets, with s.mu held, the next index of a session's
// standalone stream "" to the one go-sdk gives its next event after
// replaying events after index to a GET: go-sdk numbers the stream's events
// by its own count, from the GET's Last-Event-ID (-1 without) plus the
// non-empty events replayed. With one replica the two always agree. With
// sessions on any replica the stream moves between copies of the session:
// the client resuming it on this copy with the ID another copy gave holds
// a count this copy's EventStore never saw, and this copy's appends must
// continue from it, or the store refuses them (the stream is marked broken
// and can no longer be resumed) or, worse, takes them under indices the
// client's IDs do not match. go-sdk holds the stream's lock through the
// replay, so no append of this copy runs in between. If another copy
// stored events the client has not seen, the store refuses this copy's
// next append under the client's count: the stream is marked broken, a
// clear failure rather than a skipped event.
func (s *EventStore) alignStandalone(st *streamState, index int64, replayed []store.StreamEvent) {
	next := max(index, -1) + 1
	for _, e := range replayed {
		if len(e.Data) > 0 {
			next++
		}
	}
	st.next = next
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

// CopyClosed forgets what this process holds in memory of a session whose
// copy closed here while the session goes on (sessions kept in the store,
// replicaEvents), if nothing of it was written: its streams ended with
// their responses, and only their numbering is left. Without it, every
// session would stay in memory until the age sweep (MaxAge), whatever its
// client did. A session with written streams keeps them, for whichever
// replica serves it next, until it ends or the sweep.
func (s *EventStore) CopyClosed(sessionID string) {
	s.mu.Lock()
	if ss := s.sessions[sessionID]; ss != nil && !ss.stored {
		delete(s.sessions, sessionID)
	}
	s.mu.Unlock()
}

// SessionClosed implements mcp.EventStore. The session's streams are
// deleted after its queued writes, and later appends to them fail.
func (s *EventStore) SessionClosed(ctx context.Context, sessionID string) error {
	s.mu.Lock()
	if ss := s.sessions[sessionID]; ss != nil && !ss.stored {
		// Nothing of it was written.
		delete(s.sessions, sessionID)
		s.mu.Unlock()
		return nil
	}
	if err := s.room(); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("delete the events of a closed session: %w", err)
	}
	delete(s.sessions, sessionID)
	// The SDK passes a context without deadline here; wait bounds it.
	done := s.enqueue(store.StreamEventWrite{Op: store.StreamCloseSession, Session: sessionID}, nil, true)
	if err := s.result(ctx, done); err != nil {
		return fmt.Errorf("delete the events of a closed session: %w", err)
	}
	return nil
}

// Sweep writes what is queued, then deletes the streams idle for longer
// than MaxAge once, and returns how many it deleted. It forgets them in
// memory by the same rule.
func (s *EventStore) Sweep(ctx context.Context) (int64, error) {
	s.drain()
	ctx, cancel := context.WithTimeout(ctx, s.writeTimeout)
	defer cancel()
	cutoff := s.now().Add(-s.maxAge)
	n, err := s.ev.SweepEvents(ctx, cutoff)
	s.metrics.sweptStreams(n, err)
	if err != nil {
		return n, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for session, ss := range s.sessions {
		streams := ss.streams
		live := false
		for _, st := range streams {
			live = live || !st.lastAt.Before(cutoff)
		}
		for id, st := range streams {
			if st.lastSeq > s.committed {
				continue // written since the sweep
			}
			if st.lastAt.Before(cutoff) && (id != "" || !live) {
				delete(streams, id)
			}
		}
		if len(streams) == 0 {
			delete(s.sessions, session)
		}
	}
	return n, nil
}

// Flushing reports whether Run's flusher is on: whether Open and Append
// return before their writes are committed.
func (s *EventStore) Flushing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running
}

// Run is the EventStore's flusher and sweeper. Until ctx ends, it commits
// the writes Open, Append and SessionClosed queue, a batch per transaction,
// and it sweeps idle streams at once and then every SweepEvery (a failed
// sweep is logged and tried again at the next tick; every replica may
// sweep: sweeps are idempotent). When ctx ends, it commits what is still
// queued, leaves later writes to their callers (synchronous again), and
// returns nil. One Run at a time: a second fails.
func (s *EventStore) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("the MCP event store is already running")
	}
	s.running = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running = false
		s.mu.Unlock()
		s.drain()
	}()
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
	wait:
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-s.kick:
				s.drain()
			case <-t.C:
				break wait
			}
		}
	}
}
