package agentpool

import (
	"errors"
	"fmt"

	"github.com/parleyhq/parley/a2a/compat"
	"github.com/parleyhq/parley/agentcards"
)

// CallError says in the caller's terms why a call to the named agent
// through a pooled client failed, for callers of the agent tools and the
// like: an agent that could not be reached (agentcards.NetErrorReason:
// "host x could not be resolved", "connection refused", "timed out"; a
// proxy's HTTP 5xx; a gRPC endpoint that is unavailable; the error is then
// ErrAgentUnreachable too), or what the agent answered, bounded by
// compat.SafeErrorText. Nothing of the gateway's side (its resolver, Go's
// error types, addresses) is in its message; errors.Is and errors.As
// still reach err. Log err itself for the detail.
func CallError(agent string, err error) error {
	if err == nil {
		return nil
	}
	var ce *callError
	if errors.As(err, &ce) {
		return err
	}
	if reason, ok := unreachableReason(err); ok {
		return &callError{msg: fmt.Sprintf("agent %q could not be reached: %s", agent, reason), errs: []error{ErrAgentUnreachable, err}}
	}
	return &callError{msg: fmt.Sprintf("agent %q: %s", agent, compat.SafeErrorText(err.Error())), errs: []error{err}}
}

func unreachableReason(err error) (string, bool) {
	if reason, ok := agentcards.NetErrorReason(err); ok {
		return reason, true
	}
	var hs *HTTPStatusError
	if errors.As(err, &hs) {
		return "it answered " + hs.Error(), true
	}
	var ue *UnavailableError
	if errors.As(err, &ue) {
		return ue.Reason, true
	}
	return "", false
}

type callError struct {
	msg  string
	errs []error
}

func (e *callError) Error() string   { return e.msg }
func (e *callError) Unwrap() []error { return e.errs }
