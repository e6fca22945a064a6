package a2astore

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv/workqueue"

	"github.com/parleyhq/parley/store"
)

// WorkQueueOptions tune a WorkQueue. The zero value is usable.
type WorkQueueOptions struct {
	// Owner names this replica on the items it holds. Default: random.
	Owner string
	// Lease is how long a claim lasts without a heartbeat; the SDK
	// heartbeats at a third of it. Default 30s.
	Lease time.Duration
	// Poll is how often a waiting Read looks for work nobody announced:
	// an item whose holder died, or one enqueued while the Notifier was
	// not listening. Default 5s.
	Poll time.Duration
	// Notifier wakes waiting Reads when work is enqueued or returned.
	// Nil: Reads only poll.
	Notifier *Notifier
	// Now is the clock of leases. Default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// WorkQueue is a workqueue.ReadWriter over store.A2AWorkQueue, for
// workqueue.NewPullQueue: the replicas sharing the store share the work,
// each item held by one of them under a lease.
type WorkQueue struct {
	st        store.A2AWorkQueue
	opts      WorkQueueOptions
	closed    chan struct{}
	closeOnce sync.Once
	// waiting, if set (by tests), is called when a Read starts waiting;
	// settled after an item was completed or returned.
	waiting, settled func()

	// held counts the items claimed and not yet completed or returned;
	// idle, when Drain waits, is closed once held is 0.
	heldMu sync.Mutex
	held   int
	idle   chan struct{}
}

var _ workqueue.ReadWriter = (*WorkQueue)(nil)

// NewWorkQueue returns a WorkQueue over st.
func NewWorkQueue(st store.A2AWorkQueue, opts WorkQueueOptions) *WorkQueue {
	if opts.Owner == "" {
		opts.Owner = "replica-" + rand.Text()
	}
	if opts.Lease <= 0 {
		opts.Lease = 30 * time.Second
	}
	if opts.Poll <= 0 {
		opts.Poll = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &WorkQueue{st: st, opts: opts, closed: make(chan struct{})}
}

// Close makes Read return workqueue.ErrQueueClosed, which stops the SDK's
// pull loop once the executions it started finish. Items held stay held
// until completed, returned, or their leases end.
func (q *WorkQueue) Close() error {
	q.closeOnce.Do(func() { close(q.closed) })
	return nil
}

// Drain waits until every item this queue handed out was completed or
// returned, or ctx ends. Call it after Close, before the store closes: an
// execution still running finishes its task's last writes (its final
// state, the push notifications the SDK sends after it) through the store,
// and the SDK fails the task if one of them fails.
func (q *WorkQueue) Drain(ctx context.Context) error {
	q.heldMu.Lock()
	if q.held == 0 {
		q.heldMu.Unlock()
		return nil
	}
	if q.idle == nil {
		q.idle = make(chan struct{})
	}
	idle := q.idle
	q.heldMu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("a2a work queue: %d executions still running: %w", q.heldCount(), ctx.Err())
	}
}

func (q *WorkQueue) heldCount() int {
	q.heldMu.Lock()
	defer q.heldMu.Unlock()
	return q.held
}

// hold counts an item handed out; release counts it settled.
func (q *WorkQueue) hold() {
	q.heldMu.Lock()
	q.held++
	q.heldMu.Unlock()
}

func (q *WorkQueue) release() {
	q.heldMu.Lock()
	defer q.heldMu.Unlock()
	q.held--
	if q.held == 0 && q.idle != nil {
		close(q.idle)
		q.idle = nil
	}
}

// Write implements workqueue.Writer: it enqueues the payload as JSON.
func (q *WorkQueue) Write(ctx context.Context, p *workqueue.Payload) (a2a.TaskID, error) {
	if p == nil || p.TaskID == "" {
		return "", fmt.Errorf("work without a task: %w", a2a.ErrInvalidParams)
	}
	data, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("the request cannot be queued: %w", a2a.ErrInvalidParams)
	}
	if _, err := q.st.EnqueueA2AWork(ctx, string(p.TaskID), data); err != nil {
		q.opts.Logger.ErrorContext(ctx, "a2a work queue: enqueue", "task", p.TaskID, "error", err)
		return "", fmt.Errorf("the work queue failed: %w", a2a.ErrInternalError)
	}
	return p.TaskID, nil
}

// Read implements workqueue.ReadWriter: it blocks until it claims an item,
// ctx ends or the queue is closed (both workqueue.ErrQueueClosed).
func (q *WorkQueue) Read(ctx context.Context) (workqueue.Message, error) {
	poll := time.NewTimer(q.opts.Poll)
	defer poll.Stop()
	for {
		woken := q.opts.Notifier.wait(store.KindA2AWork, "")
		select {
		case <-q.closed:
			return nil, workqueue.ErrQueueClosed
		case <-ctx.Done():
			return nil, workqueue.ErrQueueClosed
		default:
		}
		w, err := q.st.ClaimA2AWork(ctx, q.opts.Owner, q.opts.Now(), q.opts.Lease)
		switch {
		case err == nil:
			var p workqueue.Payload
			if err := json.Unmarshal(w.Payload, &p); err != nil {
				// Nothing can run it: drop it rather than hand it out forever.
				q.opts.Logger.ErrorContext(ctx, "a2a work queue: dropping an unreadable item", "id", w.ID, "task", w.TaskID, "error", err)
				if err := q.st.CompleteA2AWork(ctx, w.ID, q.opts.Owner); err != nil {
					q.opts.Logger.WarnContext(ctx, "a2a work queue: drop", "id", w.ID, "error", err)
				}
				continue
			}
			q.hold()
			return &workMessage{q: q, item: w, payload: &p}, nil
		case errors.Is(err, store.ErrNotFound):
			if q.waiting != nil {
				q.waiting()
			}
		default:
			if ctx.Err() != nil {
				return nil, workqueue.ErrQueueClosed
			}
			// The SDK's pull loop logs it and retries with a backoff.
			return nil, fmt.Errorf("claim work: %w", err)
		}
		select {
		case <-woken:
		case <-poll.C:
			poll.Reset(q.opts.Poll)
		case <-q.closed:
			return nil, workqueue.ErrQueueClosed
		case <-ctx.Done():
			return nil, workqueue.ErrQueueClosed
		}
	}
}

// workMessage is a claimed item. It is a workqueue.Heartbeater: the SDK
// extends the lease while the execution runs.
type workMessage struct {
	q       *WorkQueue
	item    store.A2AWork
	payload *workqueue.Payload
}

var (
	_ workqueue.Message     = (*workMessage)(nil)
	_ workqueue.Heartbeater = (*workMessage)(nil)
)

func (m *workMessage) Payload() *workqueue.Payload { return m.payload }

// Complete deletes the item.
func (m *workMessage) Complete(ctx context.Context) error {
	defer m.settled()
	return m.q.st.CompleteA2AWork(ctx, m.item.ID, m.q.opts.Owner)
}

func (m *workMessage) settled() {
	m.q.release()
	if m.q.settled != nil {
		m.q.settled()
	}
}

// Return releases the item for any replica to claim again.
func (m *workMessage) Return(ctx context.Context, cause error) error {
	m.q.opts.Logger.InfoContext(ctx, "a2a work queue: returning an item", "id", m.item.ID, "task", m.item.TaskID, "cause", cause)
	defer m.settled()
	return m.q.st.ReturnA2AWork(ctx, m.item.ID, m.q.opts.Owner)
}

// HeartbeatInterval is a third of the lease: two heartbeats may fail
// before the lease ends.
func (m *workMessage) HeartbeatInterval() time.Duration { return m.q.opts.Lease / 3 }

// Heartbeat extends the lease; it fails once another replica took the
// item over.
func (m *workMessage) Heartbeat(ctx context.Context) error {
	return m.q.st.ExtendA2AWork(ctx, m.item.ID, m.q.opts.Owner, m.q.opts.Now().Add(m.q.opts.Lease))
}
