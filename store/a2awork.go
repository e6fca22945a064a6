package store

import (
	"context"
	"encoding/json"
	"time"
)

// KindA2AWork is the change kind of work becoming claimable on the A2A
// work queue (A2AWork): enqueued or returned. The key is the task ID, the
// version the work item's ID.
const KindA2AWork = "a2a_work"

// A2AWork is an item of the A2A work queue: a task's execution or
// cancelation that some replica must run. Payload is owned by the A2A
// layer.
type A2AWork struct {
	ID      int64
	TaskID  string
	Payload json.RawMessage
	// Owner is the replica holding the item until LeaseUntil; empty while
	// it waits.
	Owner      string
	LeaseUntil time.Time
	// Attempts counts the claims, this one included.
	Attempts int
}

// A2AWorkQueue is the A2A work queue shared by the replicas. An item is
// held under a lease: a replica that dies loses it when the lease ends,
// and another one claims it. Its changes only wake replicas: Enqueue and
// Return take no time, so the store stamps them with its own clock.
type A2AWorkQueue interface {
	// EnqueueA2AWork adds an item, claimable at once, and emits a
	// KindA2AWork change so that idle replicas wake.
	EnqueueA2AWork(ctx context.Context, taskID string, payload []byte) (id int64, err error)
	// ClaimA2AWork hands owner the oldest item that nobody holds or whose
	// lease ended at or before now, until now+lease, counting the
	// attempt. No item is ever held by two owners at once. ErrNotFound if
	// none is ready.
	ClaimA2AWork(ctx context.Context, owner string, now time.Time, lease time.Duration) (A2AWork, error)
	// ExtendA2AWork moves owner's lease on the item to until. ErrNotFound
	// if owner no longer holds it (it was completed, returned or claimed
	// by another owner after the lease ended).
	ExtendA2AWork(ctx context.Context, id int64, owner string, until time.Time) error
	// CompleteA2AWork deletes an item owner holds. ErrNotFound if owner no
	// longer holds it.
	CompleteA2AWork(ctx context.Context, id int64, owner string) error
	// ReturnA2AWork releases an item owner holds, claimable again at once,
	// and emits a KindA2AWork change. ErrNotFound if owner no longer holds
	// it.
	ReturnA2AWork(ctx context.Context, id int64, owner string) error
}
