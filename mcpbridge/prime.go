package mcpbridge

import (
	"bytes"
	"net/http"
	"sync"
	"time"
)

// primeHold bounds how long a session POST's stream may hold the flush of
// its priming event, or of a response, before sending it anyway.
//
// With an event store, go-sdk opens every session POST's stream
// (2025-11-25) with a priming event, an event ID and no data, so that a
// client whose connection breaks before the response can resume the
// stream, and it flushes every event as it writes it: a call answered with
// one response costs three writes (the priming event, the response, and
// the end of the chunked body once the handler returns). The end comes
// late, so the client, done with the call, often closes the connection
// rather than wait for it, and opens a new one for its next call.
//
// primeWriter sends the three in one write when the call is answered
// within primeHold: the client reads its response and the body's end
// together, and keeps the connection. A longer call gets its priming
// event primeHold late, as if the network were that much slower: its
// stream is resumable once the client has the ID, as before, and until
// then, as before the priming event arrived, a broken connection cannot be
// resumed (the client has no ID to resume from). Progress notifications,
// requests to the client and every other event are flushed at once, as
// before, with whatever was held.
var primeHold = 20 * time.Millisecond // a variable for tests

// primeWriter is the ResponseWriter of a session POST's stream: it holds
// the flush of a priming event or of a response until the next event that
// is neither, until the handler returns (net/http then sends everything
// with the end of the body), or for primeHold, whichever comes first.
//
// go-sdk writes the priming event from the request's goroutine and the
// stream's messages from the goroutine answering the call; it never writes
// two at once, but the timer's flush may come at any time: mu orders it
// with the writes. After ServeHTTP returns, nothing touches the
// ResponseWriter (finish).
type primeWriter struct {
	http.ResponseWriter
	flusher http.Flusher

	mu       sync.Mutex
	holdable bool // the last write was a priming event or a response
	held     bool // a flush is being held
	done     bool // ServeHTTP returned
	timer    *time.Timer
}

// newPrimeWriter wraps w, or returns nil if w cannot flush (then there is
// nothing to hold).
func newPrimeWriter(w http.ResponseWriter) *primeWriter {
	f, ok := w.(http.Flusher)
	if !ok {
		return nil
	}
	return &primeWriter{ResponseWriter: w, flusher: f}
}

// holdableEvent reports whether p, one SSE event as go-sdk writes it
// (event, id and data lines in one Write), is a priming event (no data)
// or carries a JSON-RPC response.
func holdableEvent(p []byte) bool {
	const dataField = "data: "
	i := bytes.Index(p, []byte(dataField))
	if i < 0 || (i > 0 && p[i-1] != '\n') || bytes.Count(p, []byte("\n\n")) != 1 || !bytes.HasSuffix(p, []byte("\n\n")) {
		return false
	}
	data := p[i+len(dataField) : len(p)-2]
	if bytes.IndexByte(data, '\n') >= 0 {
		return false // more than one data line: not one go-sdk wrote
	}
	return len(data) == 0 || isResponse(data)
}

func (pw *primeWriter) Write(p []byte) (int, error) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	pw.holdable = holdableEvent(p)
	return pw.ResponseWriter.Write(p)
}

func (pw *primeWriter) WriteHeader(code int) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	pw.ResponseWriter.WriteHeader(code)
}

// Flush holds the flush of a priming event or a response, and flushes
// after any other event at once (with what was held).
func (pw *primeWriter) Flush() {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if pw.holdable && !pw.done {
		if !pw.held {
			pw.held = true
			if pw.timer == nil {
				pw.timer = time.AfterFunc(primeHold, pw.flushHeld)
			} else {
				pw.timer.Reset(primeHold)
			}
		}
		return
	}
	if pw.held {
		pw.held = false
		pw.timer.Stop()
	}
	pw.flusher.Flush()
}

// flushHeld sends what is held once primeHold has passed without another
// flush.
func (pw *primeWriter) flushHeld() {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if pw.held && !pw.done {
		pw.held = false
		pw.flusher.Flush()
	}
}

// finish is called when ServeHTTP returns: net/http sends what is
// buffered, with the end of the body.
func (pw *primeWriter) finish() {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	pw.done = true
	pw.held = false
	if pw.timer != nil {
		pw.timer.Stop()
	}
}

// Unwrap lets http.ResponseController reach the connection's other
// controls (deadlines).
func (pw *primeWriter) Unwrap() http.ResponseWriter { return pw.ResponseWriter }
