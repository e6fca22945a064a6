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
// its result, until as many have been handled as had been read
// (Lease.Settle). A stdio session has no such count: its late
// notifications are dropped (see session.go).

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"
)

// settleStall bounds the wait for notifications after a result while
// none is handled: a notification counted but never handled (a body that
// looked like one) must not hold the call up for longer. A handler that is
// merely slow (a loaded machine) keeps the wait going: each notification
// it hands over starts the bound again.
const settleStall = 5 * time.Second

// noteCounter counts the notifications read and those handled.
type noteCounter struct {
	mu      sync.Mutex
	read    uint64        // counted in the bodies as they were read
	handled uint64        // handed to the middleware, never more than read
	changed chan struct{} // closed when handled grows; nil if no one waits
}

func (n *noteCounter) add() {
	n.mu.Lock()
	n.read++
	n.mu.Unlock()
}

func (n *noteCounter) done() {
	n.mu.Lock()
	// One that was not counted (a line longer than the scan keeps) is not
	// a handled one of those counted.
	if n.handled < n.read {
		n.handled++
		if n.changed != nil {
			close(n.changed)
			n.changed = nil
		}
	}
	n.mu.Unlock()
}

// wait returns once as many notifications have been handled as were read
// when it was called, or ctx ends, or none is handled for settleStall. A
// call's own notifications come before its result on its stream, so they
// are read, and queued for the handler, before the call returns; the
// handler takes the queue in order, so once as many have been handled as
// were read then, the call's have been. Notifications read later, of other
// calls of the session, do not hold it up.
func (n *noteCounter) wait(ctx context.Context) {
	n.mu.Lock()
	target := n.read
	for n.handled < target {
		if n.changed == nil {
			n.changed = make(chan struct{})
		}
		changed := n.changed
		n.mu.Unlock()
		t := time.NewTimer(settleStall)
		select {
		case <-changed:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
			return
		}
		n.mu.Lock()
	}
	n.mu.Unlock()
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
