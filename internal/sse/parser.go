package sse

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
)

// Parser parses a stream pushed to it in chunks of any size (Feed), for
// writers that see a stream as it is written; Reader pulls from an
// io.Reader with it. After an error it keeps returning that error.
type Parser struct {
	opts Options

	line      []byte // the line being read
	pendingCR bool   // the last chunk ended in CR: a leading LF ends nothing
	started   bool   // a line was read: no byte order mark to skip
	ev        Event
	fields    bool // ev has a field (or, with KeepComments, a comment)
	size      int  // bytes of ev's lines so far
	err       error
}

// NewParser returns a parser with opts.
func NewParser(opts Options) *Parser { return &Parser{opts: opts} }

var bom = []byte("\xEF\xBB\xBF")

// Feed parses b, calling emit for each event completed in it. An error from
// emit stops the parse and is returned.
func (p *Parser) Feed(b []byte, emit func(Event) error) error {
	if p.err != nil {
		return p.err
	}
	for len(b) > 0 {
		if p.pendingCR {
			p.pendingCR = false
			if b[0] == '\n' {
				b = b[1:]
				continue
			}
		}
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			if err := p.grow(len(b)); err != nil {
				return err
			}
			p.line = append(p.line, b...)
			return nil
		}
		if err := p.grow(i); err != nil {
			return err
		}
		p.line = append(p.line, b[:i]...)
		p.pendingCR = b[i] == '\r'
		b = b[i+1:]
		if err := p.endLine(emit); err != nil {
			p.err = err
			return err
		}
	}
	return nil
}

// End ends the stream: it returns the event the stream ended in the middle
// of, if any (its unterminated last line included), and resets the parser.
func (p *Parser) End() (Event, bool) {
	if p.err != nil {
		return Event{}, false
	}
	if len(p.line) > 0 {
		p.field(p.line)
		p.line = p.line[:0]
	}
	ev, ok := p.ev, p.fields
	p.reset()
	p.started, p.pendingCR = false, false
	return ev, ok
}

func (p *Parser) grow(n int) error {
	p.size += n
	if max := p.opts.max(); p.size > max {
		p.err = fmt.Errorf("%w: larger than %d bytes", ErrEventTooLarge, max)
		return p.err
	}
	return nil
}

func (p *Parser) reset() {
	p.ev, p.fields, p.size = Event{}, false, 0
}

func (p *Parser) endLine(emit func(Event) error) error {
	line := p.line
	p.line = p.line[:0]
	if len(line) == 0 {
		p.started = true
		if !p.fields {
			p.reset()
			return nil // a blank line with nothing before it dispatches nothing
		}
		ev := p.ev
		p.reset()
		return emit(ev)
	}
	p.field(line)
	return nil
}

// field interprets one non-blank line.
func (p *Parser) field(line []byte) {
	if !p.started {
		p.started = true
		line = bytes.TrimPrefix(line, bom)
		if len(line) == 0 {
			return
		}
	}
	name, value, found := bytes.Cut(line, []byte(":"))
	if found && len(value) > 0 && value[0] == ' ' {
		value = value[1:]
	}
	switch string(name) {
	case "": // a comment
		if p.opts.KeepComments {
			p.ev.Comments = append(p.ev.Comments, string(value))
			p.fields = true
		}
	case "data":
		if p.ev.HasData {
			p.ev.Data = append(p.ev.Data, '\n')
		}
		p.ev.Data = append(p.ev.Data, value...)
		p.ev.HasData, p.fields = true, true
	case "event":
		p.ev.Type, p.fields = string(value), true
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			p.ev.ID, p.ev.HasID, p.fields = string(value), true, true
		}
	case "retry":
		if ms, ok := digits(value); ok {
			p.ev.Retry, p.ev.HasRetry, p.fields = time.Duration(ms)*time.Millisecond, true, true
		}
	}
	// Other fields are ignored, as the standard says.
}

// digits parses a retry value: ASCII digits only.
func digits(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n > int64(1<<63-1)/int64(time.Millisecond) {
		return 0, false
	}
	return n, true
}
