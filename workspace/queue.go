package workspace

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"time"

	"github.com/parleyhq/parley/store"
)

// Analysis is one agent's findings for a ticket under its namespace.
type Analysis struct {
	Namespace string          `json:"namespace"`
	Author    string          `json:"author"`
	Findings  json.RawMessage `json:"findings"`
	Version   int64           `json:"version"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// SaveAnalysis writes findings for a ticket under a namespace, replacing
// what that namespace held. Agents analysing in parallel each use their own
// namespace, so they never overwrite each other.
func (w *Workspace) SaveAnalysis(ctx context.Context, actor, ticketID, namespace string, findings json.RawMessage) (Analysis, error) {
	if err := checkID("ticket_id", ticketID); err != nil {
		return Analysis{}, err
	}
	if err := checkID("namespace", namespace); err != nil {
		return Analysis{}, err
	}
	findings, err := checkJSON("findings", findings)
	if err != nil {
		return Analysis{}, err
	}
	a, err := w.st.PutAnalysis(ctx, store.Analysis{TicketID: ticketID, Namespace: namespace, Author: actor, Findings: findings, UpdatedAt: w.now()})
	if err != nil {
		return Analysis{}, err
	}
	return fromStoreAnalysis(a), nil
}

// AllAnalysis returns every namespace's findings for a ticket, by namespace.
func (w *Workspace) AllAnalysis(ctx context.Context, ticketID string) ([]Analysis, error) {
	if err := checkID("ticket_id", ticketID); err != nil {
		return nil, err
	}
	recs, err := w.st.ListAnalyses(ctx, ticketID)
	if err != nil {
		return nil, err
	}
	out := make([]Analysis, len(recs))
	for i, a := range recs {
		out[i] = fromStoreAnalysis(a)
	}
	return out, nil
}

func fromStoreAnalysis(a store.Analysis) Analysis {
	return Analysis{Namespace: a.Namespace, Author: a.Author, Findings: a.Findings, Version: a.Version, UpdatedAt: a.UpdatedAt}
}

// Task is an item of the shared work queue.
type Task struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Payload    json.RawMessage `json:"payload"`
	Status     string          `json:"status"`
	Claimant   string          `json:"claimant,omitempty"`
	LeaseToken string          `json:"lease_token,omitempty"`
	LeaseUntil *time.Time      `json:"lease_until,omitempty"`
	Attempts   int             `json:"attempts"`
	Result     json.RawMessage `json:"result,omitempty"`
	Error      string          `json:"error,omitempty"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

func fromStoreTask(t store.Task, withToken bool) Task {
	out := Task{ID: t.ID, Type: t.Type, Payload: t.Payload, Status: t.Status, Claimant: t.Claimant, Attempts: t.Attempts,
		Result: t.Result, Error: t.Error, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
	if withToken {
		out.LeaseToken = t.LeaseToken
	}
	if !t.LeaseUntil.IsZero() {
		lu := t.LeaseUntil
		out.LeaseUntil = &lu
	}
	return out
}

// CreateTask enqueues work of a type. An empty id gets a generated one.
func (w *Workspace) CreateTask(ctx context.Context, id, typ string, payload json.RawMessage) (Task, error) {
	if id == "" {
		id = "task-" + rand.Text()[:16]
	} else if err := checkID("task_id", id); err != nil {
		return Task{}, err
	}
	if err := checkID("type", typ); err != nil {
		return Task{}, err
	}
	payload, err := checkJSON("payload", payload)
	if err != nil {
		return Task{}, err
	}
	t, err := w.st.CreateTask(ctx, store.Task{ID: id, Type: typ, Payload: payload, CreatedAt: w.now()})
	if err != nil {
		return Task{}, err
	}
	return fromStoreTask(t, false), nil
}

// GetTask returns a task, without its lease token.
func (w *Workspace) GetTask(ctx context.Context, id string) (Task, error) {
	if err := checkID("task_id", id); err != nil {
		return Task{}, err
	}
	t, err := w.st.GetTask(ctx, id)
	if err != nil {
		return Task{}, err
	}
	return fromStoreTask(t, false), nil
}

// ClaimTask leases the oldest ready task of the given types to claimant.
// The returned task carries the lease token needed to complete or fail it.
// A lease of 0 means the default.
func (w *Workspace) ClaimTask(ctx context.Context, claimant string, types []string, lease time.Duration) (Task, error) {
	if err := checkID("claimant", claimant); err != nil {
		return Task{}, err
	}
	if len(types) == 0 {
		return Task{}, invalid("types", "name at least one task type to claim")
	}
	for _, typ := range types {
		if err := checkID("types", typ); err != nil {
			return Task{}, err
		}
	}
	switch {
	case lease == 0:
		lease = w.opts.DefaultLease
	case lease < time.Second || lease > w.opts.MaxLease:
		return Task{}, invalid("lease", "%v must be from 1s to %v", lease, w.opts.MaxLease)
	}
	now := w.now()
	t, err := w.st.ClaimTask(ctx, store.Claim{Types: types, Claimant: claimant, LeaseToken: rand.Text(), Now: now, LeaseUntil: now.Add(lease)})
	if err != nil {
		return Task{}, err
	}
	return fromStoreTask(t, true), nil
}

// CompleteTask finishes a claimed task with its result.
func (w *Workspace) CompleteTask(ctx context.Context, id, leaseToken string, result json.RawMessage) (Task, error) {
	result, err := checkJSON("result", result)
	if err != nil {
		return Task{}, err
	}
	return w.finish(ctx, id, leaseToken, store.TaskDone, result, "")
}

// FailTask gives up a claimed task: requeued for another attempt if retry,
// failed for good otherwise.
func (w *Workspace) FailTask(ctx context.Context, id, leaseToken, reason string, retry bool) (Task, error) {
	if err := checkText("error", reason, MaxTextLen); err != nil {
		return Task{}, err
	}
	status := store.TaskFailed
	if retry {
		status = store.TaskPending
	}
	return w.finish(ctx, id, leaseToken, status, nil, reason)
}

func (w *Workspace) finish(ctx context.Context, id, leaseToken, status string, result json.RawMessage, reason string) (Task, error) {
	if err := checkID("task_id", id); err != nil {
		return Task{}, err
	}
	if leaseToken == "" {
		return Task{}, invalid("lease_token", "must be the token returned by claim_task")
	}
	t, err := w.st.FinishTask(ctx, id, leaseToken, status, result, reason, w.now())
	if err != nil {
		return Task{}, err
	}
	return fromStoreTask(t, false), nil
}

// PipelineStatus counts tickets by status and open tasks.
type PipelineStatus struct {
	Tickets      map[Status]int64 `json:"tickets"`
	TotalTickets int64            `json:"total_tickets"`
	PendingTasks int64            `json:"pending_tasks"`
	ClaimedTasks int64            `json:"claimed_tasks"`
}

// Status reports the pipeline's counts. Every status is present, with 0
// where no ticket has it.
func (w *Workspace) Status(ctx context.Context) (PipelineStatus, error) {
	tickets, err := w.st.CountTickets(ctx)
	if err != nil {
		return PipelineStatus{}, err
	}
	tasks, err := w.st.CountOpenTasks(ctx)
	if err != nil {
		return PipelineStatus{}, err
	}
	ps := PipelineStatus{Tickets: make(map[Status]int64, len(Statuses)),
		PendingTasks: tasks[store.TaskPending], ClaimedTasks: tasks[store.TaskClaimed]}
	for _, s := range Statuses {
		ps.Tickets[s] = tickets[string(s)]
		ps.TotalTickets += tickets[string(s)]
	}
	return ps, nil
}
