package store

import (
	"context"
	"encoding/json"
	"time"
)

// MCPSessionResponse is a client's JSON-RPC response to a request the
// server sent in a session (elicitation, sampling), received by a replica
// whose copy of the session did not send that request. It waits here for
// the replica that did (package mcpbridge, sessionresponses.go).
type MCPSessionResponse struct {
	// SessionID is the Mcp-Session-Id of the session.
	SessionID string
	// RPCID is the response's JSON-RPC id as compact JSON text: `3` or
	// `"abc"`.
	RPCID string
	// Body is the response, one JSON-RPC message.
	Body json.RawMessage
	// At is when the replica received it.
	At time.Time
}

// KindMCPSessionResponse is the feed kind of a stored MCPSessionResponse:
// every replica hears of it, and the one that sent the request takes it.
// The key is the session ID.
const KindMCPSessionResponse = "mcp_session_response"

// MCPSessionResponses keeps clients' responses until the replica that
// asked takes them. A session's responses go with the session (its
// DeleteMCPSession and SweepMCPSessions).
type MCPSessionResponses interface {
	// AddMCPSessionResponse stores a response and emits a
	// KindMCPSessionResponse change, in one transaction. ErrNotFound if the
	// session does not exist. A response with the (session, RPC id) of one
	// still stored is a client's retry: it changes nothing and emits
	// nothing.
	AddMCPSessionResponse(ctx context.Context, r MCPSessionResponse) error
	// ListMCPSessionResponses returns a session's stored responses, oldest
	// first.
	ListMCPSessionResponses(ctx context.Context, sessionID string) ([]MCPSessionResponse, error)
	// DeleteMCPSessionResponse deletes a response once delivered. Deleting
	// one that is not there is not an error. Not on the feed.
	DeleteMCPSessionResponse(ctx context.Context, sessionID, rpcID string) error
	// SweepMCPSessionResponses deletes the responses received before
	// before (nobody took them), and returns how many it deleted.
	SweepMCPSessionResponses(ctx context.Context, before time.Time) (int64, error)
}
