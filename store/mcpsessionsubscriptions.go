package store

import "context"

// MCPSessionSubscription is a resource an MCP session subscribes to
// (resources/subscribe).
type MCPSessionSubscription struct {
	SessionID string
	URI       string
}

// MCPSessionSubscriptions keeps the resources each MCP session subscribes
// to, and which replica delivers the session's updates, so that a session
// hears of a change once, through whichever replica holds its standalone
// GET stream, wherever it subscribed (package mcpbridge,
// subscriptions.go). Both go with the session (DeleteMCPSession,
// SweepMCPSessions). Nothing here is on the feed: a replica reads the
// subscriptions when a resource changes.
type MCPSessionSubscriptions interface {
	// SubscribeMCPSession records that a session subscribes to uri.
	// Subscribing again is not an error. ErrNotFound if the session does
	// not exist.
	SubscribeMCPSession(ctx context.Context, sessionID, uri string) error
	// UnsubscribeMCPSession forgets a subscription. Forgetting one that
	// does not exist is not an error.
	UnsubscribeMCPSession(ctx context.Context, sessionID, uri string) error
	// SetMCPSessionDeliverer names the replica that delivers a session's
	// updates. With onlyIfNone, a replica already named stays. A handover
	// splits the change feed at the last change committed then: the
	// previous replica delivers the changes after the split that began its
	// own period up to it, the new one the later ones
	// (MCPSessionSubscribers), so that a change the replicas' feeds reach at
	// different times is delivered once, and none from before the session
	// had a deliverer. Naming the replica named
	// already changes nothing. It reports whether replica is the one named
	// now. ErrNotFound if the session does not exist.
	SetMCPSessionDeliverer(ctx context.Context, sessionID, replica string, onlyIfNone bool) (bool, error)
	// GetMCPSessionDeliverers returns, by session ID, the replica that
	// delivers each session's updates ("" if none is named), in one read;
	// a session that does not exist is left out.
	GetMCPSessionDeliverers(ctx context.Context, sessionIDs []string) (map[string]string, error)
	// MCPSessionSubscribers returns the subscriptions to any of uris of the
	// sessions whose change seq (Change.Seq) replica delivers, ordered by
	// session, then URI.
	MCPSessionSubscribers(ctx context.Context, replica string, seq int64, uris []string) ([]MCPSessionSubscription, error)
}
