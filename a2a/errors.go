package a2a

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	a2ago "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"
	"google.golang.org/grpc/status"

	"github.com/parleyhq/parley/store"
)

// a2aErrors are the errors a2a-go turns into specific JSON-RPC codes and
// gRPC statuses.
var a2aErrors = []error{
	a2ago.ErrParseError, a2ago.ErrInvalidRequest, a2ago.ErrMethodNotFound, a2ago.ErrInvalidParams,
	a2ago.ErrInternalError, a2ago.ErrServerError, a2ago.ErrTaskNotFound, a2ago.ErrTaskNotCancelable,
	a2ago.ErrPushNotificationNotSupported, a2ago.ErrUnsupportedOperation, a2ago.ErrUnsupportedContentType,
	a2ago.ErrInvalidAgentResponse, a2ago.ErrAuthenticatedExtendedCardNotConfigured,
}

// isA2AError reports whether a2a-go already knows how to put err on the
// wire: one of its errors, or a gRPC status.
func isA2AError(err error) bool {
	for _, e := range a2aErrors {
		if errors.Is(err, e) {
			return true
		}
	}
	_, isStatus := status.FromError(err)
	return isStatus
}

// MapError turns an error from the server's own code (the task store, the
// tool caller) into an A2A error that says what went wrong. a2a-go sends
// any other error as JSON-RPC -32603 with no detail at all. Errors that
// are A2A errors already pass unchanged. The detail (err's text) goes
// into the JSON-RPC error's data.error and the gRPC status message.
func MapError(err error) error {
	switch {
	case err == nil:
		return nil
	case isA2AError(err):
		return err
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %v", a2ago.ErrTaskNotFound, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// gRPC reports these as Canceled / DeadlineExceeded.
		return fmt.Errorf("%w: the request ended before it finished: %w", a2ago.ErrInternalError, err)
	case errors.Is(err, store.ErrUnavailable):
		return fmt.Errorf("%w: the gateway's store is unavailable: %v", a2ago.ErrServerError, err)
	default:
		return fmt.Errorf("%w: %v", a2ago.ErrInternalError, err)
	}
}

// errorInterceptor maps and logs the errors of every call.
type errorInterceptor struct {
	a2asrv.PassthroughCallInterceptor
	log *slog.Logger
}

func (i errorInterceptor) After(ctx context.Context, callCtx *a2asrv.CallContext, resp *a2asrv.Response) error {
	if resp == nil || resp.Err == nil {
		return nil
	}
	method := ""
	if callCtx != nil {
		method = callCtx.Method()
	}
	if isA2AError(resp.Err) {
		// The caller's mistake (unknown task, bad params): worth a debug line.
		i.log.DebugContext(ctx, "a2a call refused", "method", method, "caller", CallerFrom(ctx), "err", resp.Err)
		return resp.Err
	}
	mapped := MapError(resp.Err)
	i.log.ErrorContext(ctx, "a2a call failed", "method", method, "caller", CallerFrom(ctx), "err", resp.Err)
	return mapped
}
