package upstream

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

func TestUpstreamError(t *testing.T) {
	answer := &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "unknown tool"}
	// go-sdk's sentinels are internal: the same code and message.
	rejected := &jsonrpc.Error{Code: -32005, Message: "rejected by transport"}
	closing := &jsonrpc.Error{Code: -32003, Message: "client is closing"}
	tests := []struct {
		name      string
		err       error
		answered  bool
		transport bool
	}{
		{"the upstream's answer", fmt.Errorf("calling %q: %w", "tools/call", answer), true, false},
		{"connection broke mid-call", fmt.Errorf("calling %q: sending: %w: %w", "tools/call", rejected, errors.New("Post: EOF")), false, true},
		{"session closing", fmt.Errorf("calling %q: %w", "ping", closing), false, true},
		{"an upstream's own -32005, in its words", &jsonrpc.Error{Code: -32005, Message: "quota exceeded"}, true, false},
		{"an HTTP error with a JSON-RPC body", fmt.Errorf("POST: %w: %w: Bad Request", answer, rejected), true, false},
		{"not JSON-RPC at all", errors.New("EOF"), false, true},
		{"cancelled by the caller", context.Canceled, false, false},
		{"none", nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := UpstreamError(tt.err); ok != tt.answered {
				t.Errorf("UpstreamError(%v) answered = %v, want %v", tt.err, ok, tt.answered)
			}
			if got := transportFailure(tt.err); got != tt.transport {
				t.Errorf("transportFailure(%v) = %v, want %v", tt.err, got, tt.transport)
			}
		})
	}
}
