package a2astore

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv/eventqueue"
	"github.com/a2aproject/a2a-go/v2/a2asrv/taskstore"

	"github.com/parleyhq/parley/store"
)

// EventsOptions tune Events. The zero value is usable.
type EventsOptions struct {
	// Notifier wakes waiting pulls when a task is written. Nil: they poll.
	Notifier *Notifier
	// MaxWait bounds how long a pull that finds no event waits for one
	// before returning empty. Default 10s.
	MaxWait time.Duration
	// Poll is how often a waiting pull looks for events the Notifier did
	// not announce. Default 1s.
	Poll time.Duration
	// Batch caps the events a pull returns. Default 100.
	Batch  int
	Logger *slog.Logger
}

// Events serves the task event logs of store.A2ATasks to
// eventqueue.NewPullQueueManager: use its Provider as the PullerProvider.
// A pull that finds nothing waits for the task's next write (up to
// MaxWait), so a small PullConfig.PollInterval costs no busy polling.
type Events struct {
	st   store.A2ATasks
	opts EventsOptions
	// waiting, if set (by tests), is called when a pull starts waiting.
	waiting func()
}

// NewEvents returns Events over st.
func NewEvents(st store.A2ATasks, opts EventsOptions) *Events {
	if opts.MaxWait <= 0 {
		opts.MaxWait = 10 * time.Second
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.Batch <= 0 {
		opts.Batch = 100
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Events{st: st, opts: opts}
}

// Provider implements eventqueue.PullerProvider. The puller starts after
// the task's newest event at the time it is created: the SDK reads the
// task itself afterwards, and skips the events its version covers.
func (e *Events) Provider(ctx context.Context, taskID a2a.TaskID) (eventqueue.Puller, error) {
	last, err := e.st.LastA2ATaskEventSeq(ctx, string(taskID))
	if err != nil {
		e.opts.Logger.ErrorContext(ctx, "a2a events: start", "task", taskID, "error", err)
		return nil, fmt.Errorf("the task's events cannot be read: %w", a2a.ErrInternalError)
	}
	return &puller{e: e, start: last}, nil
}

type puller struct {
	e     *Events
	start int64
}

// Pull implements eventqueue.Puller. The cursor is the seq of the last
// event returned (nil: the start).
func (p *puller) Pull(ctx context.Context, taskID a2a.TaskID, cursor eventqueue.PullCursor) (*eventqueue.PullResponse, error) {
	after := p.start
	if c, ok := cursor.(int64); ok {
		after = c
	}
	deadline := time.NewTimer(p.e.opts.MaxWait)
	defer deadline.Stop()
	var poll *time.Ticker
	for {
		woken := p.e.opts.Notifier.wait(store.KindA2ATask, string(taskID))
		events, err := p.e.st.A2ATaskEventsAfter(ctx, string(taskID), after, p.e.opts.Batch)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			p.e.opts.Logger.WarnContext(ctx, "a2a events: read", "task", taskID, "error", err)
			return nil, fmt.Errorf("the task's events cannot be read: %w", a2a.ErrInternalError)
		}
		if len(events) > 0 {
			msgs := make([]*eventqueue.Message, 0, len(events))
			for _, ev := range events {
				after = ev.Seq
				var m eventqueue.Message
				if err := json.Unmarshal(ev.Event, &m); err != nil {
					p.e.opts.Logger.WarnContext(ctx, "a2a events: skipping an unreadable event", "task", taskID, "seq", ev.Seq, "error", err)
					continue
				}
				// The stored version is the truth: an unconditional update
				// learns its version only from the store.
				m.TaskVersion = taskstore.TaskVersion(ev.Version)
				msgs = append(msgs, &m)
			}
			return &eventqueue.PullResponse{Messages: msgs, Cursor: after}, nil
		}
		if p.e.waiting != nil {
			p.e.waiting()
		}
		if poll == nil {
			poll = time.NewTicker(p.e.opts.Poll)
			defer poll.Stop()
		}
		select {
		case <-woken:
		case <-poll.C:
		case <-deadline.C:
			return &eventqueue.PullResponse{Cursor: after}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close implements eventqueue.Puller.
func (p *puller) Close(context.Context) error { return nil }
