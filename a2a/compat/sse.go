package compat

import (
	"bytes"
	"errors"
)

// maxSSEEvent bounds one buffered server-sent event (4 MiB, as @a2a-js/sdk).
const maxSSEEvent = 4 << 20

var errSSETooLarge = errors.New("a2a compat: server-sent event larger than 4 MiB")

// sseTranslator rewrites a text/event-stream event by event: it buffers the
// lines of the current event only, and when the blank line that ends it
// arrives, hands the event (with its data translated) to emit. Lines other
// than data (id, event, retry, comments) are kept in place.
type sseTranslator struct {
	translate func(data []byte) []byte

	line      []byte   // the line being read
	pendingCR bool     // the previous chunk ended in CR: skip a leading LF
	fields    [][]byte // non-data lines of the current event
	data      []byte   // data lines joined with LF
	hasData   bool
	dataAt    int // index in fields before which the data line goes
	size      int
}

// feed consumes a chunk of the stream, calling emit for each complete event.
func (t *sseTranslator) feed(p []byte, emit func([]byte) error) error {
	for len(p) > 0 {
		if t.pendingCR {
			t.pendingCR = false
			if p[0] == '\n' {
				p = p[1:]
				continue
			}
		}
		i := bytes.IndexAny(p, "\r\n")
		if i < 0 {
			t.line = append(t.line, p...)
			t.size += len(p)
			if t.size > maxSSEEvent {
				return errSSETooLarge
			}
			return nil
		}
		t.line = append(t.line, p[:i]...)
		t.size += i
		if t.size > maxSSEEvent {
			return errSSETooLarge
		}
		t.pendingCR = p[i] == '\r'
		p = p[i+1:]
		if err := t.endLine(emit); err != nil {
			return err
		}
	}
	return nil
}

// close flushes an event the stream ended in the middle of.
func (t *sseTranslator) close(emit func([]byte) error) error {
	if len(t.line) > 0 {
		if err := t.endLine(emit); err != nil {
			return err
		}
	}
	if t.hasData || len(t.fields) > 0 {
		return t.dispatch(emit)
	}
	return nil
}

func (t *sseTranslator) endLine(emit func([]byte) error) error {
	line := t.line
	t.line = t.line[:0]
	if len(line) == 0 {
		return t.dispatch(emit)
	}
	if v, ok := bytes.CutPrefix(line, []byte("data:")); ok {
		v = bytes.TrimPrefix(v, []byte(" "))
		if t.hasData {
			t.data = append(t.data, '\n')
		} else {
			t.hasData = true
			t.dataAt = len(t.fields)
		}
		t.data = append(t.data, v...)
		return nil
	}
	t.fields = append(t.fields, bytes.Clone(line))
	return nil
}

func (t *sseTranslator) dispatch(emit func([]byte) error) error {
	var out bytes.Buffer
	var data []byte
	if t.hasData {
		data = t.translate(t.data)
	}
	for i, f := range t.fields {
		if t.hasData && i == t.dataAt {
			writeData(&out, data)
		}
		out.Write(f)
		out.WriteByte('\n')
	}
	if t.hasData && t.dataAt == len(t.fields) {
		writeData(&out, data)
	}
	out.WriteByte('\n')
	t.fields, t.data, t.hasData, t.dataAt, t.size = nil, t.data[:0], false, 0, 0
	return emit(out.Bytes())
}

func writeData(out *bytes.Buffer, data []byte) {
	for _, l := range bytes.Split(data, []byte("\n")) {
		out.WriteString("data: ")
		out.Write(l)
		out.WriteByte('\n')
	}
}
