package compat

import (
	"github.com/parleyhq/parley/internal/sse"
)

// maxSSEEvent bounds one buffered server-sent event (4 MiB, as @a2a-js/sdk).
const maxSSEEvent = sse.DefaultMaxEventBytes

// sseTranslator rewrites a text/event-stream event by event, as it is
// written or read in chunks of any size: it buffers the current event
// only, and when the blank line that ends it arrives, hands the event
// (with its data translated) to emit. The other fields (id, event, retry)
// and comments (keep-alives) are kept; an event the stream ends in the
// middle of is passed on by close. An event larger than maxSSEEvent is an
// error wrapping sse.ErrEventTooLarge.
type sseTranslator struct {
	translate func(data []byte) []byte

	p *sse.Parser
}

func (t *sseTranslator) parser() *sse.Parser {
	if t.p == nil {
		t.p = sse.NewParser(sse.Options{MaxEventBytes: maxSSEEvent, KeepComments: true})
	}
	return t.p
}

// feed consumes a chunk of the stream, calling emit for each complete event.
func (t *sseTranslator) feed(p []byte, emit func([]byte) error) error {
	return t.parser().Feed(p, func(ev sse.Event) error { return emit(t.render(ev)) })
}

// close flushes an event the stream ended in the middle of.
func (t *sseTranslator) close(emit func([]byte) error) error {
	if ev, ok := t.parser().End(); ok {
		return emit(t.render(ev))
	}
	return nil
}

func (t *sseTranslator) render(ev sse.Event) []byte {
	if ev.HasData {
		ev.Data = t.translate(ev.Data)
	}
	b, err := sse.Append(nil, ev)
	if err != nil { // the parser returns no such ID or type; never drop the data
		ev.ID, ev.HasID, ev.Type = "", false, ""
		b, _ = sse.Append(nil, ev)
	}
	return b
}
