-- A2A 1.0 tasks (store.A2ATasks, A2APushConfigs, A2AWorkQueue). Times are
-- Unix microseconds.
--
-- Each task write appends the event that caused it, with the version it
-- gave the task, in the same transaction: a replica streaming the task
-- reads them after the last seq it saw.
CREATE TABLE a2a_task_events (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	task_id TEXT NOT NULL,
	version INTEGER NOT NULL,
	event   TEXT NOT NULL,
	at      INTEGER NOT NULL
);
CREATE INDEX a2a_task_events_task ON a2a_task_events (task_id, seq);
-- ListTasks is newest update first, for a caller or for everyone.
CREATE INDEX a2a_tasks_updated ON a2a_tasks (updated_at, id);
CREATE INDEX a2a_tasks_caller_updated ON a2a_tasks (caller, updated_at, id);
-- The retention sweep finds finished tasks by state and age.
CREATE INDEX a2a_tasks_state_updated ON a2a_tasks (state, updated_at);

-- Push notification configurations; seq keeps the creation order.
CREATE TABLE a2a_push_configs (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	task_id TEXT NOT NULL,
	id      TEXT NOT NULL,
	config  TEXT NOT NULL,
	UNIQUE (task_id, id)
);

-- The work queue: an item is free while lease_until <= now (0 when never
-- claimed or returned), else owner holds it.
CREATE TABLE a2a_work (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	task_id     TEXT NOT NULL,
	payload     TEXT NOT NULL,
	owner       TEXT NOT NULL DEFAULT '',
	lease_until INTEGER NOT NULL DEFAULT 0,
	attempts    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX a2a_work_ready ON a2a_work (lease_until, id);
