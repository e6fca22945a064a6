// Package sse reads and writes server-sent events (text/event-stream), as
// the WHATWG HTML standard defines them (§9.2 "Server-sent events"): lines
// end in CRLF, LF or CR; "data" lines are joined with LF; "id", "event" and
// "retry" are kept; lines starting with a colon are comments, ignored
// unless asked for; one leading byte order mark is skipped.
//
// Parley both consumes streams (the host client) and passes them on,
// translated event by event (the A2A relay and package compat). For the
// latter the reader departs from a browser's EventSource in two ways that
// it documents on Event: an event with fields but no data is returned too,
// and comments can be kept, so that a proxy passes keep-alives and IDs on.
// Every event is bounded in size, so that a peer cannot make a reader
// buffer without end.
package sse

import (
	"errors"
	"time"
)

// DefaultMaxEventBytes bounds an event when Options.MaxEventBytes is
// zero: 4 MiB, as @a2a-js/sdk.
const DefaultMaxEventBytes = 4 << 20

// ErrEventTooLarge is returned (wrapped, with the limit) when an event is
// larger than Options.MaxEventBytes.
var ErrEventTooLarge = errors.New("server-sent event too large")

// ErrTruncated is returned by Reader.Next, with the event read so far, when
// the stream ends in the middle of an event (before the blank line that
// ends it). A consumer following the standard discards that event; a proxy
// may pass it on.
var ErrTruncated = errors.New("the event stream ended in the middle of an event")

// Event is one server-sent event.
//
// A browser dispatches only events with data; the reader returns every
// event that has any field (HasData false when it has no data line), and
// with Options.KeepComments also blocks of comments alone, so that a proxy
// can pass them on. Consumers of messages skip events without HasData.
type Event struct {
	// Comments are the event's comment lines without their leading colon
	// (and one space after it), in order; only with Options.KeepComments.
	Comments []string
	// Type is the "event" field: "" for the default, "message".
	Type string
	// ID is the last "id" field; HasID says there was one (an empty ID
	// resets a client's last event ID). An "id" containing NUL is ignored,
	// as the standard says.
	ID    string
	HasID bool
	// Retry is the last valid "retry" field (a number of milliseconds);
	// HasRetry says there was one.
	Retry    time.Duration
	HasRetry bool
	// Data is the "data" lines joined with LF; HasData says there was at
	// least one (possibly empty) data line.
	Data    []byte
	HasData bool
}

// Options configure a Reader or Parser. The zero value is a sensible
// default.
type Options struct {
	// MaxEventBytes bounds one event: the bytes of its lines, line endings
	// excluded. Default DefaultMaxEventBytes.
	MaxEventBytes int
	// KeepComments returns comment lines in Event.Comments, and blocks of
	// comments alone as events (keep-alives a proxy passes on). Default:
	// comments are ignored.
	KeepComments bool
}

func (o Options) max() int {
	if o.MaxEventBytes <= 0 {
		return DefaultMaxEventBytes
	}
	return o.MaxEventBytes
}
