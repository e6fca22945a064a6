-- The resources each MCP session subscribes to (store.MCPSessionSubscriptions),
-- and the one replica that delivers the session's updates: the replica
-- holding its open standalone GET stream, else the last one that did, else
-- the one that served its first subscribe. Both go with the session.
CREATE TABLE mcp_session_subscriptions (
	session_id TEXT NOT NULL REFERENCES mcp_sessions (id) ON DELETE CASCADE,
	uri        TEXT NOT NULL,
	PRIMARY KEY (session_id, uri)
);

-- A change's fan-out looks subscriptions up by resource.
CREATE INDEX mcp_session_subscriptions_uri ON mcp_session_subscriptions (uri, session_id);

-- A handover splits the change feed at since_seq, the last change committed
-- when replica took over: prev_replica delivers the changes up to it,
-- replica the later ones, so that each change is delivered once.
CREATE TABLE mcp_session_deliverers (
	session_id   TEXT PRIMARY KEY REFERENCES mcp_sessions (id) ON DELETE CASCADE,
	replica      TEXT NOT NULL,
	since_seq    BIGINT NOT NULL,
	prev_replica TEXT NOT NULL
);
