package upstream

// Keeping an upstream's notifications ahead of its result.
//
// An upstream sends a call's progress and log messages on the call's
// stream before its result, and the host must get them in that order.
// go-sdk's client hands a response to the waiting call as soon as it is
// read, but queues notifications for a handler goroutine: the call can
// return while a notification read before its result still waits in the
// queue. So each HTTP session counts the progress and log notifications
// its streams carry as their bytes are read (before go-sdk parses them),
// its middleware counts them as they are handled, and a call waits, after
// its result, until the two agree (Lease.Settle). A stdio session has no
// such count: its late notifications are dropped (see session.go).

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"
)

// settleTimeout bounds the wait for notifications after a result: a
// notification counted but never handled (a body that looked like one)
// must not hold calls up.
const settleTimeout = time.Second

// noteCounter counts notifications read and not yet handled.
type noteCounter struct {
	mu      sync.Mutex
	pending int
	zero    chan struct{} // closed when pending drops to 0
}

func (n *noteCounter) add() {
	n.mu.Lock()
	if n.pending == 0 {
		n.zero = make(chan struct{})
	}
	n.pending++
	n.mu.Unlock()
}

func (n *noteCounter) done() {
	n.mu.Lock()
	if n.pending > 0 {
		n.pending--
		if n.pending == 0 {
			close(n.zero)
		}
	}
	n.mu.Unlock()
}

// wait returns once every notification counted has been handled, ctx
// ends, or settleTimeout passes.
func (n *noteCounter) wait(ctx context.Context) {
	n.mu.Lock()
	if n.pending == 0 {
		n.mu.Unlock()
		return
	}
	zero := n.zero
	n.mu.Unlock()
	t := time.NewTimer(settleTimeout)
	defer t.Stop()
	select {
	case <-zero:
	case <-ctx.Done():
	case <-t.C:
	}
}

// countingTransport counts the notifications in SSE response bodies.
type countingTransport struct {
	base  http.RoundTripper
	notes *noteCounter
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.Body == nil || !bytes.HasPrefix([]byte(resp.Header.Get("Content-Type")), []byte("text/event-stream")) {
		return resp, err
	}
	resp.Body = &countingBody{ReadCloser: resp.Body, notes: t.notes}
	return resp, nil
}

// countingBody scans an SSE stream's data lines as they are read.
type countingBody struct {
	io.ReadCloser
	notes *noteCounter
	line  []byte // the incomplete last line read
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	data := p[:n]
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if len(b.line) < maxLogLine {
				b.line = append(b.line, data...)
			}
			break
		}
		line := data[:i]
		if len(b.line) > 0 {
			line = append(b.line, line...)
			b.line = b.line[:0]
		}
		b.scan(line)
		data = data[i+1:]
	}
	return n, err
}

var (
	dataPrefix     = []byte("data:")
	progressMethod = []byte("notifications/progress")
	messageMethod  = []byte("notifications/message")
)

// scan counts line if it is the data of a progress or log notification.
// Only lines naming one of those methods are decoded.
func (b *countingBody) scan(line []byte) {
	line = bytes.TrimRight(line, "\r")
	rest, ok := bytes.CutPrefix(line, dataPrefix)
	if !ok || (!bytes.Contains(rest, progressMethod) && !bytes.Contains(rest, messageMethod)) {
		return
	}
	var msg struct {
		Method string          `json:"method"`
		ID     json.RawMessage `json:"id"`
	}
	if json.Unmarshal(rest, &msg) != nil || msg.ID != nil {
		return
	}
	if msg.Method == "notifications/progress" || msg.Method == "notifications/message" {
		b.notes.add()
	}
}
