package sse

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// ErrInvalidField is returned by Append and Writer.Write for an event whose
// type or ID contains a line break (or an ID, NUL): written out, it would
// change the stream's framing.
var ErrInvalidField = errors.New("an event's type or ID cannot contain a line break")

// Append appends ev to dst in the text/event-stream format, ended by a
// blank line: comments, then event, id, retry and data. Data is written a
// line per line of it; CRLF and CR in data are line breaks as for a reader
// (they come back as LF).
func Append(dst []byte, ev Event) ([]byte, error) {
	if strings.ContainsAny(ev.Type, "\r\n") || strings.ContainsAny(ev.ID, "\r\n\x00") {
		return dst, ErrInvalidField
	}
	for _, c := range ev.Comments {
		for _, l := range splitLines([]byte(c)) {
			dst = append(dst, ':', ' ')
			dst = append(dst, l...)
			dst = append(dst, '\n')
		}
	}
	if ev.Type != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, ev.Type...)
		dst = append(dst, '\n')
	}
	if ev.HasID || ev.ID != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, ev.ID...)
		dst = append(dst, '\n')
	}
	if ev.HasRetry {
		dst = append(dst, "retry: "...)
		dst = strconv.AppendInt(dst, ev.Retry.Milliseconds(), 10)
		dst = append(dst, '\n')
	}
	if ev.HasData || len(ev.Data) > 0 {
		for _, l := range splitLines(ev.Data) {
			dst = append(dst, "data: "...)
			dst = append(dst, l...)
			dst = append(dst, '\n')
		}
	}
	return append(dst, '\n'), nil
}

// splitLines splits b at CRLF, LF and CR; an empty b is one empty line.
func splitLines(b []byte) [][]byte {
	var lines [][]byte
	for {
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			return append(lines, b)
		}
		lines = append(lines, b[:i])
		if b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n' {
			i++
		}
		b = b[i+1:]
	}
}

// Writer writes events to an io.Writer, each in one Write, flushed after
// it when the writer can be (an http.ResponseWriter, through
// http.ResponseController; anything with a Flush method).
type Writer struct {
	w   io.Writer
	buf []byte
}

// NewWriter returns a writer of events to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write writes ev and flushes it.
func (w *Writer) Write(ev Event) error {
	b, err := Append(w.buf[:0], ev)
	if err != nil {
		return err
	}
	w.buf = b
	return w.WriteRaw(b)
}

// WriteRaw writes bytes already in the text/event-stream format (whole
// events, as Append renders them) and flushes them.
func (w *Writer) WriteRaw(b []byte) error {
	if _, err := w.w.Write(b); err != nil {
		return err
	}
	switch f := w.w.(type) {
	case http.ResponseWriter:
		// The controller reaches a flusher behind wrapping middleware.
		if err := http.NewResponseController(f).Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
	case interface{ Flush() error }:
		return f.Flush()
	case interface{ Flush() }:
		f.Flush()
	}
	return nil
}
