-- A session's deliverer (store.MCPSessionSubscriptions) is kept in the
-- session's own row instead of a table of its own: one row fewer written
-- when a session opens and deleted when it ends (the SQLite schema's
-- reason; here it spares an insert, a delete and a join). deliverer is ''
-- while no replica is named; the other three columns are the handover
-- split of migrations 0014 and 0015, renamed. The last_active index stays:
-- unlike SQLite's, PostgreSQL's commits do not write whole pages.
ALTER TABLE mcp_sessions ADD COLUMN deliverer TEXT NOT NULL DEFAULT '';
ALTER TABLE mcp_sessions ADD COLUMN deliverer_since BIGINT NOT NULL DEFAULT 0;
ALTER TABLE mcp_sessions ADD COLUMN prev_deliverer TEXT NOT NULL DEFAULT '';
ALTER TABLE mcp_sessions ADD COLUMN prev_deliverer_since BIGINT NOT NULL DEFAULT 0;

UPDATE mcp_sessions SET deliverer = d.replica, deliverer_since = d.since_seq,
	prev_deliverer = d.prev_replica, prev_deliverer_since = d.prev_since_seq
	FROM mcp_session_deliverers AS d WHERE d.session_id = mcp_sessions.id;

-- mcp_session_deliverers stays, unused by this release, for replicas of
-- the previous release still running during a rolling upgrade: they keep
-- working, each release with its own record of deliverers, so that until
-- the last of them stops a subscribed session's updates may come through
-- a replica of each release, or through neither. A later release drops it.
