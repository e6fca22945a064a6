package a2a

import (
	"context"
	"errors"
	"log/slog"

	a2ago "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"
)

// ownershipInterceptor lets a caller read, cancel, resubscribe to or
// continue only the tasks it started, unless it is an administrator. A
// task of someone else's is answered as not found, so that its existence
// does not leak.
type ownershipInterceptor struct {
	a2asrv.PassthroughCallInterceptor
	tasks   *TaskStore
	isAdmin func(context.Context) bool
	log     *slog.Logger
}

func (o ownershipInterceptor) Before(ctx context.Context, _ *a2asrv.CallContext, req *a2asrv.Request) (context.Context, error) {
	var id a2ago.TaskID
	switch p := req.Payload.(type) {
	case *a2ago.TaskQueryParams: // tasks/get
		id = p.ID
	case *a2ago.TaskIDParams: // tasks/cancel, tasks/resubscribe
		id = p.ID
	case *a2ago.MessageSendParams: // a message continuing a task
		if p.Message != nil {
			id = p.Message.TaskID
		}
	}
	if id == "" || (o.isAdmin != nil && o.isAdmin(ctx)) {
		return ctx, nil
	}
	owner, err := o.tasks.Caller(ctx, id)
	if errors.Is(err, a2ago.ErrTaskNotFound) {
		return ctx, nil // the handler says so itself
	}
	if err != nil {
		// Refuse rather than skip the check; say why, as errorInterceptor
		// does for failures past this point.
		o.log.ErrorContext(ctx, "a2a call failed: reading the task's owner", "task", id, "caller", CallerFrom(ctx), "err", err)
		return ctx, MapError(err)
	}
	if owner != CallerFrom(ctx) {
		return ctx, a2ago.ErrTaskNotFound
	}
	return ctx, nil
}
