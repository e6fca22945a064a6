package sse

import (
	"errors"
	"io"
)

// Reader reads events from an io.Reader.
type Reader struct {
	src    io.Reader
	p      *Parser
	buf    []byte
	queue  []Event
	tail   *Event // the event the stream ended in the middle of, after the queue
	err    error  // what to return once the queue is empty
	events func(Event) error
}

// NewReader returns a reader of the stream r with opts.
func NewReader(r io.Reader, opts Options) *Reader {
	rd := &Reader{src: r, p: NewParser(opts)}
	rd.events = func(ev Event) error { rd.queue = append(rd.queue, ev); return nil }
	return rd
}

// Next returns the next event. At the end of the stream it returns io.EOF,
// or, when the stream ended in the middle of an event, that event with
// ErrTruncated. An event larger than the limit is an error wrapping
// ErrEventTooLarge; a read error is returned as it is, after the events
// completed before it.
func (r *Reader) Next() (Event, error) {
	for len(r.queue) == 0 {
		if r.tail != nil {
			ev := *r.tail
			r.tail = nil
			return ev, ErrTruncated
		}
		if r.err != nil {
			return Event{}, r.err
		}
		if r.buf == nil {
			r.buf = make([]byte, 32<<10)
		}
		n, err := r.src.Read(r.buf)
		if n > 0 {
			if perr := r.p.Feed(r.buf[:n], r.events); perr != nil {
				r.err = perr
				continue
			}
		}
		switch {
		case errors.Is(err, io.EOF):
			r.err = io.EOF
			if ev, ok := r.p.End(); ok {
				r.tail = &ev
			}
		case err != nil:
			r.err = err
		}
	}
	ev := r.queue[0]
	r.queue[0] = Event{}
	r.queue = r.queue[1:]
	return ev, nil
}
