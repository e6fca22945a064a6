package a2a

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/a2aproject/a2a-go/v2/a2asrv/taskstore"

	"github.com/parleyhq/parley/a2a/compat"
	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/store"
)

// deniedOtherCallersTask is the audit reason of a call refused because its
// task is another caller's.
const deniedOtherCallersTask = "the task belongs to another caller"

// Owner names the caller that started a task; store.ErrNotFound when
// there is no such task.
type Owner func(ctx context.Context, taskID string) (string, error)

// ownershipInterceptor lets a caller read, cancel, subscribe to, continue
// or configure push notifications for only the tasks it started, unless it
// is an administrator. A task of someone else's is answered as not found,
// so that its existence does not leak; the audit record of the call says
// what happened (audit.NoteDenied, naming the task).
type ownershipInterceptor struct {
	a2asrv.PassthroughCallInterceptor
	owner   Owner
	isAdmin func(context.Context) bool
	log     *slog.Logger
}

// payloadTaskID is the task a call's payload names, and whether the call
// configures push notifications.
func payloadTaskID(payload any) (id a2ago.TaskID, push bool) {
	switch p := payload.(type) {
	case *a2ago.GetTaskRequest:
		return p.ID, false
	case *a2ago.CancelTaskRequest:
		return p.ID, false
	case *a2ago.SubscribeToTaskRequest:
		return p.ID, false
	case *a2ago.SendMessageRequest: // a message continuing a task
		if p.Message != nil {
			return p.Message.TaskID, false
		}
	case *a2ago.PushConfig:
		return p.TaskID, true
	case *a2ago.GetTaskPushConfigRequest:
		return p.TaskID, true
	case *a2ago.ListTaskPushConfigRequest:
		return p.TaskID, true
	case *a2ago.DeleteTaskPushConfigRequest:
		return p.TaskID, true
	}
	return "", false
}

func (o ownershipInterceptor) Before(ctx context.Context, _ *a2asrv.CallContext, req *a2asrv.Request) (context.Context, any, error) {
	var id a2ago.TaskID
	var push bool
	if req != nil {
		id, push = payloadTaskID(req.Payload)
	}
	if id == "" {
		return ctx, nil, nil
	}
	audit.NoteTask(ctx, string(id))
	if o.isAdmin != nil && o.isAdmin(ctx) {
		return ctx, nil, nil
	}
	owner, err := o.owner(ctx, string(id))
	if errors.Is(err, store.ErrNotFound) {
		if push {
			// The handler would answer that the task's push configs are
			// empty or unsupported, which for another caller's task it
			// cannot: the answers would tell a task that exists from one
			// that does not.
			return ctx, nil, a2ago.ErrTaskNotFound
		}
		return ctx, nil, nil // the handler says so itself
	}
	if err != nil {
		// Refuse rather than skip the check; say why, as errorInterceptor
		// does for failures past this point.
		o.log.ErrorContext(ctx, "a2a call failed: reading the task's owner", "task", audit.BoundID(string(id)), "caller", CallerFrom(ctx), "err", err)
		audit.NoteFailed(ctx, "the task's owner could not be read")
		return ctx, nil, MapError(err)
	}
	if owner != CallerFrom(ctx) {
		o.log.InfoContext(ctx, "a2a call refused: another caller's task", "task", audit.BoundID(string(id)), "caller", CallerFrom(ctx))
		audit.NoteDenied(ctx, deniedOtherCallersTask)
		return ctx, nil, a2ago.ErrTaskNotFound
	}
	return ctx, nil, nil
}

// endedTaskInterceptor answers a subscription to a task that has ended
// with UnsupportedOperationError, as A2A 1.0 §3.1.6 requires (and the 0.3
// bindings carry as their equivalent). The SDK would answer with the
// task's last state (on a replica that follows tasks through the store)
// or "no active execution" (on one that runs them itself). It runs after
// the ownership check, so that another caller's task stays not found.
type endedTaskInterceptor struct {
	a2asrv.PassthroughCallInterceptor
	tasks taskstore.Store
}

func (e endedTaskInterceptor) Before(ctx context.Context, _ *a2asrv.CallContext, req *a2asrv.Request) (context.Context, any, error) {
	sub, ok := req.Payload.(*a2ago.SubscribeToTaskRequest)
	if !ok || sub == nil || sub.ID == "" {
		return ctx, nil, nil
	}
	stored, err := e.tasks.Get(ctx, sub.ID)
	if err != nil || stored == nil || stored.Task == nil {
		return ctx, nil, nil // the handler answers as it finds it
	}
	if state := stored.Task.Status.State; state.Terminal() {
		return ctx, nil, &publicError{kind: a2ago.ErrUnsupportedOperation,
			msg: fmt.Sprintf("the task has ended (%s): subscribe to a task while it runs, or get it", stateWord(state))}
	}
	return ctx, nil, nil
}

// stateWord is a task state as a word ("completed"), in neither
// version's spelling.
func stateWord(s a2ago.TaskState) string {
	return strings.ToLower(strings.TrimPrefix(string(s), "TASK_STATE_"))
}

// callbackInterceptor refuses a push-notification config whose callback
// URL the gateway may not call (the registry's SSRF guard), when it is set
// and when a message carries one, before anything is stored.
type callbackInterceptor struct {
	a2asrv.PassthroughCallInterceptor
	check func(ctx context.Context, url string) error
	log   *slog.Logger
}

func (c callbackInterceptor) Before(ctx context.Context, _ *a2asrv.CallContext, req *a2asrv.Request) (context.Context, any, error) {
	var cfg *a2ago.PushConfig
	switch p := req.Payload.(type) {
	case *a2ago.PushConfig:
		cfg = p
	case *a2ago.SendMessageRequest:
		if p.Config != nil {
			cfg = p.Config.PushConfig
		}
	}
	if cfg == nil || c.check == nil {
		return ctx, nil, nil
	}
	if err := c.check(ctx, cfg.URL); err != nil {
		c.log.WarnContext(ctx, "a2a: push-notification callback refused", "caller", CallerFrom(ctx), "url", cfg.URL, "err", err)
		audit.NoteDenied(ctx, "the push-notification callback URL is not allowed")
		return ctx, nil, fmt.Errorf("%w: the push-notification callback URL %q is not allowed: %s",
			a2ago.ErrInvalidParams, compat.SafeErrorText(cfg.URL), compat.SafeErrorText(err.Error()))
	}
	return ctx, nil, nil
}

// auditInterceptor tells the audit record of each call (audit.Note) what
// the call's answer says: the task a message created, and that the call
// failed, however the binding carries the failure (a JSON-RPC error in a
// 200 answer, an HTTP status, a gRPC status). It runs on every binding,
// so that their records read alike.
type auditInterceptor struct {
	a2asrv.PassthroughCallInterceptor
}

func (auditInterceptor) After(ctx context.Context, _ *a2asrv.CallContext, resp *a2asrv.Response) error {
	if resp == nil {
		return nil
	}
	if id := responseTaskID(resp.Payload); id != "" {
		audit.NoteTask(ctx, string(id))
	}
	if resp.Err != nil {
		audit.NoteFailed(ctx, failureReason(resp.Err))
	}
	return nil
}

// responseTaskID is the task an answer (or a streamed event) is about.
func responseTaskID(payload any) a2ago.TaskID {
	// Each pointer type on its own: an answer without a value arrives as
	// a typed nil.
	switch p := payload.(type) {
	case *a2ago.Task:
		if p != nil {
			return p.ID
		}
	case *a2ago.Message:
		if p != nil {
			return p.TaskID
		}
	case *a2ago.TaskStatusUpdateEvent:
		if p != nil {
			return p.TaskID
		}
	case *a2ago.TaskArtifactUpdateEvent:
		if p != nil {
			return p.TaskID
		}
	case *a2ago.PushConfig:
		if p != nil {
			return p.TaskID
		}
	}
	return ""
}

// failureReason names a failure for the audit record with a fixed text:
// the A2A error's own ("task not found"), or "internal error". The error's
// text may echo what the caller sent; it goes to the log.
func failureReason(err error) string {
	for _, e := range a2aErrors {
		if e == a2ago.ErrInternalError {
			continue
		}
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return a2ago.ErrInternalError.Error()
}
