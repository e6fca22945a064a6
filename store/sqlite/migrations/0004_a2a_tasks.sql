-- Tasks of the gateway's own A2A server (store.A2ATasks). Times are Unix
-- microseconds; task is the whole A2A task as JSON. A save is one upsert,
-- so a reader sees one save or the next, never a mix. caller, context_id
-- and created_at are set by the first save and kept after.
CREATE TABLE a2a_tasks (
	id         TEXT PRIMARY KEY,
	context_id TEXT NOT NULL,
	caller     TEXT NOT NULL,
	state      TEXT NOT NULL,
	task       TEXT NOT NULL,
	version    INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
-- Listing is oldest first, by caller or by context.
CREATE INDEX a2a_tasks_created ON a2a_tasks (created_at, id);
CREATE INDEX a2a_tasks_caller ON a2a_tasks (caller, created_at, id);
CREATE INDEX a2a_tasks_context ON a2a_tasks (context_id, created_at, id);
