package a2a

import (
	"context"
	"errors"
	"log/slog"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"google.golang.org/grpc/status"

	"github.com/parleyhq/parley/a2a/compat"
	"github.com/parleyhq/parley/store"
)

// a2aErrors are the errors the SDK turns into specific JSON-RPC codes and
// gRPC statuses.
var a2aErrors = []error{
	a2ago.ErrParseError, a2ago.ErrInvalidRequest, a2ago.ErrMethodNotFound, a2ago.ErrInvalidParams,
	a2ago.ErrInternalError, a2ago.ErrServerError, a2ago.ErrTaskNotFound, a2ago.ErrTaskNotCancelable,
	a2ago.ErrPushNotificationNotSupported, a2ago.ErrUnsupportedOperation, a2ago.ErrUnsupportedContentType,
	a2ago.ErrInvalidAgentResponse, a2ago.ErrExtendedCardNotConfigured, a2ago.ErrExtensionSupportRequired,
	a2ago.ErrVersionNotSupported, a2ago.ErrUnauthenticated, a2ago.ErrUnauthorized,
}

// isA2AError reports whether the SDK already knows how to put err on the
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

// publicError is an error as a caller sees it: its A2A kind (an the SDK
// sentinel, which picks the JSON-RPC code and the gRPC status) and a
// message in the caller's terms, bounded by compat.SafeErrorText, with
// nothing of the chain of errors behind it: that goes to the log.
type publicError struct {
	kind  error
	msg   string
	cause error // context.Canceled or DeadlineExceeded, for gRPC's status; else nil
}

func (e *publicError) Error() string { return e.msg }

func (e *publicError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.kind, e.cause}
	}
	return []error{e.kind}
}

// MapError turns an error from the server's own code (the task store, the
// tool caller) or from the SDK into an A2A error that says what went wrong
// in the caller's terms. the SDK sends any other error as JSON-RPC -32603
// with no detail at all, and an A2A error with its whole text (the chain
// of wrapped errors, every id echoed in full) in the JSON-RPC error's
// data.error and the gRPC status message. So: an A2A error keeps its kind
// and its text, bounded (compat.SafeErrorText: a 100 KB task id comes
// back as 64 characters and "…"); an internal error, or anything else,
// says what kind of failure it was, never its text (a database's or a
// library's message). gRPC
// statuses pass unchanged. Log the error itself before mapping it.
func MapError(err error) error {
	var pub *publicError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pub):
		return pub
	case errors.Is(err, a2ago.ErrInternalError), errors.Is(err, a2ago.ErrServerError):
		// The gateway's failure, not the caller's: its text is internal.
		return &publicError{kind: a2ago.ErrInternalError, msg: internalFailure}
	case isA2AError(err):
		for _, kind := range a2aErrors {
			if !errors.Is(err, kind) {
				continue
			}
			if !explainsInput[kind] {
				// The SDK wraps these in the steps it took ("failed to
				// cancel: canceler setup failed: failed to load a task:
				// task not found"): its internals, not the caller's news.
				return &publicError{kind: kind, msg: kind.Error()}
			}
			return &publicError{kind: kind, msg: compat.SafeErrorText(err.Error())}
		}
		return err // a gRPC status
	case errors.Is(err, store.ErrNotFound):
		return &publicError{kind: a2ago.ErrTaskNotFound, msg: a2ago.ErrTaskNotFound.Error()}
	case errors.Is(err, context.Canceled):
		// gRPC reports these as Canceled / DeadlineExceeded.
		return &publicError{kind: a2ago.ErrInternalError, msg: "the request ended before it finished", cause: context.Canceled}
	case errors.Is(err, context.DeadlineExceeded):
		return &publicError{kind: a2ago.ErrInternalError, msg: "the request ended before it finished (it took too long)", cause: context.DeadlineExceeded}
	case errors.Is(err, store.ErrUnavailable):
		return &publicError{kind: a2ago.ErrServerError, msg: "the gateway's store is unavailable; try again later"}
	default:
		return &publicError{kind: a2ago.ErrInternalError, msg: internalFailure}
	}
}

// explainsInput are the A2A errors whose text says what was wrong with
// the request (which parameter, which value), worth passing on bounded;
// the others are answered with their kind's own words.
var explainsInput = map[error]bool{
	a2ago.ErrParseError: true, a2ago.ErrInvalidRequest: true, a2ago.ErrInvalidParams: true,
	a2ago.ErrMethodNotFound: true, a2ago.ErrUnsupportedContentType: true, a2ago.ErrExtensionSupportRequired: true,
}

const internalFailure = "the gateway failed to handle the request (the details are in its log)"

// errorInterceptor maps and logs the errors of every call. It replaces
// the response's error rather than returning one, so that the
// interceptors outside it still see the call's answer.
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
	} else {
		i.log.ErrorContext(ctx, "a2a call failed", "method", method, "caller", CallerFrom(ctx), "err", resp.Err)
	}
	resp.Err = MapError(resp.Err)
	return nil
}
