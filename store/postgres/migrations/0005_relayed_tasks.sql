-- Tasks of registered agents relayed through /a2a/agents/{name}
-- (store.RelayedTasks): who asked which agent for what, and the task's
-- state as last seen passing through. Times are Unix microseconds.
-- agent_key is the agent's name lower-cased by the application (agents
-- are matched ignoring case, as in the registry); agent is the name as
-- registered. A save is one upsert; caller and created_at are set by the
-- first save and kept after.
CREATE TABLE relayed_tasks (
	agent_key  TEXT NOT NULL,
	agent      TEXT NOT NULL,
	task_id    TEXT NOT NULL,
	context_id TEXT NOT NULL,
	caller     TEXT NOT NULL,
	state      TEXT NOT NULL,
	version    BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (agent_key, task_id)
);
-- Listing is oldest first, by agent or by caller.
CREATE INDEX relayed_tasks_created ON relayed_tasks (created_at, agent_key, task_id);
CREATE INDEX relayed_tasks_agent ON relayed_tasks (agent_key, created_at, task_id);
CREATE INDEX relayed_tasks_caller ON relayed_tasks (caller, created_at, agent_key, task_id);
