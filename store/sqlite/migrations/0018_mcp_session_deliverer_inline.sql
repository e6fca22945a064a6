-- A session's deliverer (store.MCPSessionSubscriptions) is kept in the
-- session's own row instead of a table of its own, and the sweep of idle
-- sessions reads last_active without an index. Both for the cost of a
-- session's two write transactions (opening it, its DELETE): each page a
-- SQLite commit changed is written to the WAL (two writes each), and the
-- deliverer's row and its key's index, and the last_active index, were
-- three of the five pages each of them changed. deliverer is '' while no
-- replica is named; the other three columns are the handover split of
-- migrations 0014 and 0015, renamed.
ALTER TABLE mcp_sessions ADD COLUMN deliverer TEXT NOT NULL DEFAULT '';
ALTER TABLE mcp_sessions ADD COLUMN deliverer_since INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mcp_sessions ADD COLUMN prev_deliverer TEXT NOT NULL DEFAULT '';
ALTER TABLE mcp_sessions ADD COLUMN prev_deliverer_since INTEGER NOT NULL DEFAULT 0;

UPDATE mcp_sessions SET deliverer = d.replica, deliverer_since = d.since_seq,
	prev_deliverer = d.prev_replica, prev_deliverer_since = d.prev_since_seq
	FROM mcp_session_deliverers AS d WHERE d.session_id = mcp_sessions.id;

-- mcp_session_deliverers stays, unused by this release, for replicas of
-- the previous release still running during a rolling upgrade: they keep
-- working, each release with its own record of deliverers, so that until
-- the last of them stops a subscribed session's updates may come through
-- a replica of each release, or through neither. A later release drops it.
DROP INDEX mcp_sessions_last_active;
