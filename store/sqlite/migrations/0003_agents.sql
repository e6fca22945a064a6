-- The registry of A2A agents (store.Agents). Times are Unix microseconds,
-- 0 for never; card documents are TEXT. Names are unique ignoring case:
-- name_key is the name lower-cased by the application (the same Unicode
-- rules on every backend), and lookups go through it.
--
-- skill_ids and tags hold one entry per line with a newline before and
-- after each, so that an exact entry is found with LIKE '%\nentry\n%';
-- search_text is lower-cased free text. agentcards derives all three from
-- the card.
CREATE TABLE agents (
	name_key      TEXT PRIMARY KEY,
	name          TEXT NOT NULL,
	version       INTEGER NOT NULL,
	source_url    TEXT NOT NULL,
	card          TEXT NOT NULL,
	card_hash     TEXT NOT NULL,
	skill_ids     TEXT NOT NULL,
	tags          TEXT NOT NULL,
	search_text   TEXT NOT NULL,
	-- A fetched card awaiting approval (drift); NULL when there is none.
	pending_card  TEXT,
	pending_hash  TEXT NOT NULL,
	drift_summary TEXT NOT NULL,
	drift_at      INTEGER NOT NULL,
	health        TEXT NOT NULL,
	health_error  TEXT NOT NULL,
	checked_at    INTEGER NOT NULL,
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL
);
