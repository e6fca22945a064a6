package store

import (
	"context"
	"encoding/json"
	"time"
)

// MCPSession is a session of an MCP client of a session-based protocol
// revision (2025-11-25 and older), kept so that any replica can serve its
// requests: a replica that does not hold the session in memory rebuilds it
// from this record (package mcpbridge, sessions.go).
type MCPSession struct {
	// ID is the Mcp-Session-Id the client sends.
	ID string
	// ProtocolVersion is the version negotiated at initialize.
	ProtocolVersion string
	// InitializeParams is the client's initialize request's params as JSON:
	// its info, capabilities and requested version.
	InitializeParams json.RawMessage
	// LogLevel is the level the client set with logging/setLevel; empty
	// if it never set one.
	LogLevel string
	// UserID is the user the session is bound to (from the caller's
	// token); empty for a session opened without one. A request of another
	// user is refused.
	UserID string
	// CreatedAt is when initialize succeeded; LastActive when a request of
	// the session last reached a replica (recorded coarsely: see
	// MCPSessions.TouchMCPSession).
	CreatedAt  time.Time
	LastActive time.Time
	// Deliverer, when not empty, names the replica that delivers the
	// session's resource updates from its start
	// (MCPSessionSubscriptions.SetMCPSessionDeliverer), in the same write
	// as the session. CreateMCPSession reads it; GetMCPSession leaves it
	// empty (GetMCPSessionDeliverers reads the current one).
	Deliverer string
}

// KindMCPSession is the feed kind of an MCP session's end: a change is
// emitted when a session that another replica copied
// (MCPSessions.CopyMCPSession) is deleted (the client's DELETE, on
// whichever replica), so that every replica closes its copy of it. The key
// is the session ID.
const KindMCPSession = "mcp_session"

// KindMCPSessionLevel is the feed kind of a session's new log level: every
// replica holding a copy of the session applies it (the key is the
// session ID).
const KindMCPSessionLevel = "mcp_session_level"

// MCPSessions keeps MCP sessions. Only their deletion (KindMCPSession) and
// a new log level (KindMCPSessionLevel) are on the change feed: a replica
// reads a session when a request of it arrives.
type MCPSessions interface {
	// CreateMCPSession stores a new session. ErrExists if the ID is taken.
	CreateMCPSession(ctx context.Context, s MCPSession) error
	// GetMCPSession reads a session. ErrNotFound if it does not exist (it
	// never did, was deleted, or expired and was swept).
	GetMCPSession(ctx context.Context, id string) (MCPSession, error)
	// CopyMCPSession reads a session for a replica about to hold a copy of
	// it that did not open it, and records that one does: the session's
	// deletion is then on the feed (KindMCPSession). ErrNotFound as
	// GetMCPSession. A deletion and a copy are ordered: a copy made after
	// the deletion fails, and a deletion after the copy is on the feed.
	CopyMCPSession(ctx context.Context, id string) (MCPSession, error)
	// SetMCPSessionLogLevel records the session's log level and counts as
	// activity at at; if the level is new, it emits a KindMCPSessionLevel
	// change. ErrNotFound if the session does not exist.
	SetMCPSessionLogLevel(ctx context.Context, id, level string, at time.Time) error
	// TouchMCPSession records activity at at; a time earlier than the one
	// recorded changes nothing. ErrNotFound if the session does not exist.
	TouchMCPSession(ctx context.Context, id string, at time.Time) error
	// DeleteMCPSession deletes a session (the client ended it) and its
	// event streams (Events), whichever replica wrote them, and emits a
	// KindMCPSession change if the session existed and was copied
	// (CopyMCPSession). Deleting a session that does not exist is not an
	// error.
	DeleteMCPSession(ctx context.Context, id string) error
	// SweepMCPSessions deletes the sessions last active before idleSince,
	// with their event streams, and returns how many sessions it deleted.
	SweepMCPSessions(ctx context.Context, idleSince time.Time) (int64, error)
}
