-- Events of resumable MCP streams (store.Events). Times are Unix
-- microseconds. A stream row counts its appends, so indices are assigned
-- under the row's write and never reused; purged_through is the highest
-- index dropped by the per-stream cap (-1 for none), so that resuming from
-- before it is refused instead of silently skipping events.
CREATE TABLE mcp_streams (
	session_id     TEXT NOT NULL,
	stream_id      TEXT NOT NULL,
	next_index     BIGINT NOT NULL,
	purged_through BIGINT NOT NULL,
	opened_at      BIGINT NOT NULL,
	last_at        BIGINT NOT NULL,
	PRIMARY KEY (session_id, stream_id)
);
-- Sweeps delete streams by last activity.
CREATE INDEX mcp_streams_last_at ON mcp_streams (last_at);

-- Deleting a stream (closed session, sweep) deletes its events with it.
CREATE TABLE mcp_events (
	session_id TEXT NOT NULL,
	stream_id  TEXT NOT NULL,
	idx        BIGINT NOT NULL,
	data       BYTEA NOT NULL,
	PRIMARY KEY (session_id, stream_id, idx),
	FOREIGN KEY (session_id, stream_id) REFERENCES mcp_streams (session_id, stream_id) ON DELETE CASCADE
);
