-- Durable session streams on any replica (store.MCPReplicas): which replica
-- runs the call a stream answers, and when each replica was last heard of,
-- so that a replica resuming a client's stream can tell a call still
-- running elsewhere from one whose replica stopped, and take it over.
-- heartbeat_at is Unix microseconds; 0 for a replica that stopped.
CREATE TABLE mcp_replicas (
	id           TEXT PRIMARY KEY,
	heartbeat_at BIGINT NOT NULL
);

-- A stream's call goes with the stream (its session's end, the sweep).
CREATE TABLE mcp_stream_calls (
	session_id TEXT NOT NULL,
	stream_id  TEXT NOT NULL,
	owner      TEXT NOT NULL,
	request    BYTEA NOT NULL,
	PRIMARY KEY (session_id, stream_id),
	FOREIGN KEY (session_id, stream_id) REFERENCES mcp_streams (session_id, stream_id) ON DELETE CASCADE
);
