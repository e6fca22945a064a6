-- A2A 1.0 tasks (store.A2ATasks, A2APushConfigs, A2AWorkQueue). Times are
-- Unix microseconds.
--
-- Each task write appends the event that caused it, with the version it
-- gave the task, in the same transaction. The write holds the task's row
-- lock until it commits, so the events of one task commit in seq order: a
-- reader resuming after a seq of the task misses none of its events.
CREATE TABLE a2a_task_events (
	seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	task_id TEXT NOT NULL,
	version BIGINT NOT NULL,
	event   TEXT NOT NULL,
	at      BIGINT NOT NULL
);
CREATE INDEX a2a_task_events_task ON a2a_task_events (task_id, seq);
-- ListTasks is newest update first, for a caller or for everyone.
CREATE INDEX a2a_tasks_updated ON a2a_tasks (updated_at, id);
CREATE INDEX a2a_tasks_caller_updated ON a2a_tasks (caller, updated_at, id);
-- The retention sweep finds finished tasks by state and age.
CREATE INDEX a2a_tasks_state_updated ON a2a_tasks (state, updated_at);

-- Push notification configurations; seq keeps the creation order.
CREATE TABLE a2a_push_configs (
	seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	task_id TEXT NOT NULL,
	id      TEXT NOT NULL,
	config  TEXT NOT NULL,
	UNIQUE (task_id, id)
);

-- The work queue: an item is free while lease_until <= now (0 when never
-- claimed or returned), else owner holds it.
CREATE TABLE a2a_work (
	id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	task_id     TEXT NOT NULL,
	payload     TEXT NOT NULL,
	owner       TEXT NOT NULL DEFAULT '',
	lease_until BIGINT NOT NULL DEFAULT 0,
	attempts    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX a2a_work_ready ON a2a_work (lease_until, id);
