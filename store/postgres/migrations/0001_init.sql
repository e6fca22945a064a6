-- Times are Unix microseconds; JSON documents are TEXT.
CREATE TABLE tickets (
	id         TEXT PRIMARY KEY,
	version    BIGINT NOT NULL,
	status     TEXT NOT NULL,
	category   TEXT NOT NULL DEFAULT '',
	data       TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX tickets_status ON tickets (status, id);
CREATE INDEX tickets_category ON tickets (category, id);

CREATE TABLE ticket_history (
	ticket_id TEXT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
	version   BIGINT NOT NULL,
	actor     TEXT NOT NULL,
	at        BIGINT NOT NULL,
	action    TEXT NOT NULL,
	detail    TEXT NOT NULL,
	PRIMARY KEY (ticket_id, version)
);

CREATE TABLE analyses (
	ticket_id  TEXT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
	namespace  TEXT NOT NULL,
	author     TEXT NOT NULL,
	findings   TEXT NOT NULL,
	version    BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (ticket_id, namespace)
);

CREATE TABLE tasks (
	id          TEXT PRIMARY KEY,
	type        TEXT NOT NULL,
	payload     TEXT NOT NULL,
	status      TEXT NOT NULL,
	claimant    TEXT NOT NULL,
	lease_token TEXT NOT NULL,
	lease_until BIGINT NOT NULL,
	-- When the task can next be claimed: its creation while pending, its
	-- lease's end while claimed, NULL once finished. Claims scan this index.
	ready_at    BIGINT,
	attempts    BIGINT NOT NULL,
	result      TEXT NOT NULL,
	error       TEXT NOT NULL,
	version     BIGINT NOT NULL,
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL
);
CREATE INDEX tasks_ready ON tasks (ready_at, id) WHERE ready_at IS NOT NULL;
CREATE INDEX tasks_status ON tasks (status);

-- Identity: sequence numbers are never reused after a sweep.
CREATE TABLE changes (
	seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind    TEXT NOT NULL,
	key     TEXT NOT NULL,
	version BIGINT NOT NULL,
	at      BIGINT NOT NULL
);
CREATE INDEX changes_at ON changes (at);

CREATE TABLE feed_state (purged_through BIGINT NOT NULL);
INSERT INTO feed_state (purged_through) VALUES (0);

-- parley_emit appends a change in one round trip. The advisory lock, held
-- until commit, serializes appenders so that sequence numbers become visible
-- in increasing order: a reader that has seen seq N never later finds a
-- smaller one committed. NOTIFY wakes the other replicas at commit.
CREATE FUNCTION parley_emit(p_kind TEXT, p_key TEXT, p_version BIGINT, p_at BIGINT) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_advisory_xact_lock(123563833844994); -- 0x7061726c6502: "parle" 02
	INSERT INTO changes (kind, key, version, at) VALUES (p_kind, p_key, p_version, p_at);
	PERFORM pg_notify('parley_changes', '');
END;
$$;
