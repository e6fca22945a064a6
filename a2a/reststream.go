package a2a

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/parleyhq/parley/internal/sse"
)

// holdStreamStart answers a REST stream that fails before its first event
// as the HTTP error it is. The SDK's REST handler starts every stream
// (200, text/event-stream) before the call runs, so a call refused at once
// (a subscription to a task that has ended, a message whose push callback
// is refused) went out as a 200 stream whose one event is the error, which
// clients of the HTTP+JSON binding (@a2a-js/sdk 1.3.0 and 0.3.14) do not
// read as an error. It holds the stream back until its first event: an
// error is answered with the error's HTTP status and body, anything else
// goes out as the stream it is.
func holdStreamStart(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isRESTStream(r) {
			next.ServeHTTP(w, r)
			return
		}
		h := &heldStream{w: w, parser: sse.NewParser(sse.Options{})}
		next.ServeHTTP(h, r)
		h.release() // a stream that ended before any event
	})
}

// isRESTStream: a REST request the SDK answers with a stream.
func isRESTStream(r *http.Request) bool {
	p := r.URL.Path
	return strings.HasSuffix(p, "/message:stream") || strings.HasSuffix(p, ":subscribe")
}

// errDecided stops the parse of a held stream once its first event is in.
var errDecided = errors.New("decided")

type heldStream struct {
	w       http.ResponseWriter
	parser  *sse.Parser
	status  int
	buf     bytes.Buffer
	decided bool
	dropped bool // the stream was answered as an error: the rest is discarded
}

func (h *heldStream) Header() http.Header { return h.w.Header() }

func (h *heldStream) WriteHeader(status int) {
	if h.decided {
		if !h.dropped {
			h.w.WriteHeader(status)
		}
		return
	}
	h.status = status
}

func (h *heldStream) Write(p []byte) (int, error) {
	if h.decided {
		if h.dropped {
			return len(p), nil
		}
		return h.w.Write(p)
	}
	h.buf.Write(p)
	// Decide on the first event with data (keep-alive comments carry none).
	err := h.parser.Feed(p, func(ev sse.Event) error {
		if !ev.HasData {
			return nil
		}
		h.decide(ev.Data)
		return errDecided
	})
	if err != nil && !errors.Is(err, errDecided) {
		h.release() // not a stream this can read: pass it on as it is
	}
	return len(p), nil
}

func (h *heldStream) Flush() {
	if h.decided && !h.dropped {
		if f, ok := h.w.(http.Flusher); ok {
			f.Flush()
		}
	}
}

func (h *heldStream) Unwrap() http.ResponseWriter { return h.w }

// release sends what is held as it is, if nothing was decided yet.
func (h *heldStream) release() {
	if h.decided {
		return
	}
	h.decided = true
	if h.status != 0 {
		h.w.WriteHeader(h.status)
	}
	_, _ = h.w.Write(h.buf.Bytes())
	h.buf = bytes.Buffer{}
}

func (h *heldStream) decide(data []byte) {
	var doc struct {
		Error *struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &doc) != nil || doc.Error == nil || doc.Error.Code < 400 || doc.Error.Code > 599 {
		h.release()
		if f, ok := h.w.(http.Flusher); ok {
			f.Flush()
		}
		return
	}
	h.decided, h.dropped = true, true
	h.w.Header().Set("Content-Type", "application/json")
	for _, k := range []string{"Cache-Control", "Connection", "X-Accel-Buffering"} {
		h.w.Header().Del(k)
	}
	h.w.WriteHeader(doc.Error.Code)
	_, _ = h.w.Write(append(data, '\n'))
}
