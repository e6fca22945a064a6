package mcpbridge

import (
	"context"
	"sync"
	"time"

	"github.com/parleyhq/parley/store"
)

// delivererReads batches the reads of standalone GET streams opening at
// about the same time (sessionSubscriptions.streamOpened): each must learn
// whether its session's deliverer is still this replica before its
// response's headers leave, and on SQLite most of such a read's cost is
// the read itself (a connection, a read transaction, the page cache
// reloaded after the writes since the last one), not the row. The first
// stream of a batch waits up to delivererLinger for others, then reads
// every session of the batch at once; the others wait for that read. A
// stream's headers leave at most delivererLinger later than they would
// without the batch; nothing else waits on it.
type delivererReads struct {
	store  store.MCPSessionSubscriptions
	linger time.Duration

	mu  sync.Mutex
	cur *delivererBatch // the batch taking IDs; nil if none
}

// delivererLinger is how long the first stream of a batch waits for
// others. At a thousand sessions opened a second, a batch takes a few.
const delivererLinger = 2 * time.Millisecond

// maxDelivererBatch ends a batch early: its first stream reads at once.
const maxDelivererBatch = 64

// delivererBatch is one read of several sessions' deliverers.
type delivererBatch struct {
	ids  []string
	full chan struct{} // closed when ids reached maxDelivererBatch
	done chan struct{} // closed once got and err are set
	got  map[string]string
	err  error
}

// read returns the replica named as session id's deliverer ("" if none),
// and whether the session exists. The read runs with the context of the
// batch's first caller; ctx bounds only this caller's wait.
func (r *delivererReads) read(ctx context.Context, id string) (string, bool, error) {
	r.mu.Lock()
	b := r.cur
	lead := b == nil
	if lead {
		b = &delivererBatch{full: make(chan struct{}), done: make(chan struct{})}
		r.cur = b
	}
	b.ids = append(b.ids, id)
	if len(b.ids) == maxDelivererBatch {
		r.cur = nil
		close(b.full)
	}
	r.mu.Unlock()
	if lead {
		t := time.NewTimer(r.linger)
		select {
		case <-t.C:
		case <-b.full:
			t.Stop()
		}
		r.mu.Lock()
		if r.cur == b {
			r.cur = nil
		}
		r.mu.Unlock()
		// No one appends to ids once the batch is sealed above.
		b.got, b.err = r.store.GetMCPSessionDeliverers(ctx, b.ids)
		close(b.done)
	}
	select {
	case <-b.done:
	case <-ctx.Done():
		return "", false, ctx.Err()
	}
	if b.err != nil {
		return "", false, b.err
	}
	named, ok := b.got[id]
	return named, ok, nil
}
