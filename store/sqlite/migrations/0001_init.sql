-- Times are Unix microseconds; JSON documents are TEXT.
CREATE TABLE tickets (
	id         TEXT PRIMARY KEY,
	version    INTEGER NOT NULL,
	status     TEXT NOT NULL,
	category   TEXT NOT NULL DEFAULT '',
	data       TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX tickets_status ON tickets (status, id);
CREATE INDEX tickets_category ON tickets (category, id);

CREATE TABLE ticket_history (
	ticket_id TEXT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
	version   INTEGER NOT NULL,
	actor     TEXT NOT NULL,
	at        INTEGER NOT NULL,
	action    TEXT NOT NULL,
	detail    TEXT NOT NULL,
	PRIMARY KEY (ticket_id, version)
);

CREATE TABLE analyses (
	ticket_id  TEXT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
	namespace  TEXT NOT NULL,
	author     TEXT NOT NULL,
	findings   TEXT NOT NULL,
	version    INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (ticket_id, namespace)
);

CREATE TABLE tasks (
	id          TEXT PRIMARY KEY,
	type        TEXT NOT NULL,
	payload     TEXT NOT NULL,
	status      TEXT NOT NULL,
	claimant    TEXT NOT NULL,
	lease_token TEXT NOT NULL,
	lease_until INTEGER NOT NULL,
	-- When the task can next be claimed: its creation while pending, its
	-- lease's end while claimed, NULL once finished. Claims scan this index.
	ready_at    INTEGER,
	attempts    INTEGER NOT NULL,
	result      TEXT NOT NULL,
	error       TEXT NOT NULL,
	version     INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
);
CREATE INDEX tasks_ready ON tasks (ready_at, id) WHERE ready_at IS NOT NULL;
CREATE INDEX tasks_status ON tasks (status);

-- AUTOINCREMENT: sequence numbers are never reused after a sweep.
CREATE TABLE changes (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	kind    TEXT NOT NULL,
	key     TEXT NOT NULL,
	version INTEGER NOT NULL,
	at      INTEGER NOT NULL
);
CREATE INDEX changes_at ON changes (at);

CREATE TABLE feed_state (purged_through INTEGER NOT NULL);
INSERT INTO feed_state (purged_through) VALUES (0);
