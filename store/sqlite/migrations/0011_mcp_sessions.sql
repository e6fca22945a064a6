-- Sessions of MCP clients of the session-based protocol revisions
-- (store.MCPSessions), so that any replica serves any session. Times are
-- Unix microseconds; initialize_params is the client's initialize params
-- as JSON TEXT; user_id is '' for a session not bound to a user.
CREATE TABLE mcp_sessions (
	id                TEXT PRIMARY KEY,
	protocol_version  TEXT NOT NULL,
	initialize_params TEXT NOT NULL,
	log_level         TEXT NOT NULL,
	user_id           TEXT NOT NULL,
	created_at        INTEGER NOT NULL,
	last_active       INTEGER NOT NULL
);

-- The sweep of idle sessions.
CREATE INDEX mcp_sessions_last_active ON mcp_sessions (last_active);
