package gateway

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// BodyTimeoutError is what reading a request body returns once the client
// has taken longer than http.body_read_timeout to send it. WriteBodyError
// answers it with 408.
type BodyTimeoutError struct {
	// Limit is the configured time allowed.
	Limit time.Duration
}

func (e *BodyTimeoutError) Error() string {
	return fmt.Sprintf("request body not received within %s", e.Limit)
}

// Timeout marks it as a timeout for code that asks (net.Error style).
func (e *BodyTimeoutError) Timeout() bool { return true }

// Is lets errors.Is(err, os.ErrDeadlineExceeded) hold, as it does for the
// raw connection error it replaces.
func (e *BodyTimeoutError) Is(target error) bool { return target == os.ErrDeadlineExceeded }

// limitBodyTime gives a request that carries a body a deadline for
// reading it, cfg.HTTP.BodyReadTimeout from now (the end of its headers),
// so that a client trickling its body a byte at a time cannot hold the
// connection for ever. The deadline is on the connection's reads, so it
// must be gone once the body has been read: what follows (a response
// streamed for as long as a task runs) must not be cut by it, and the
// server's own read that watches for the client going away would trip
// over it and cancel the request. net/http's HTTP/1 server lifts it when
// it starts that watch at the body's end; deadlineBody lifts it too, so
// that this holds whatever serves the connection. Requests without a body
// (an SSE GET) get no deadline at all: the watch is already running when
// the handler starts.
func (g *Gateway) limitBodyTime(next http.Handler) http.Handler {
	timeout := g.cfg.HTTP.BodyReadTimeout
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(timeout)); err != nil {
			// A writer without deadlines (a test recorder) has no
			// connection to protect.
			next.ServeHTTP(w, r)
			return
		}
		r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, timeout: timeout}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the read deadline once the body is read to its end
// and turns the deadline's error into a BodyTimeoutError.
type deadlineBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	done    bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF && !b.done:
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	case err != nil && errors.Is(err, os.ErrDeadlineExceeded):
		err = &BodyTimeoutError{Limit: b.timeout}
	}
	return n, err
}
