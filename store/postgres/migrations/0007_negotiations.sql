-- Negotiations (store.Negotiations), leased to the replicas that run them.
-- Times are Unix microseconds; data is the whole negotiation as JSON TEXT,
-- owned by package negotiation. trigger_key is NULL when there is none, so
-- that only keys actually given must be unique. lease_owner is '' and
-- lease_expires 0 when nobody holds the negotiation.
CREATE TABLE negotiations (
	id            TEXT PRIMARY KEY,
	subject_kind  TEXT NOT NULL,
	subject_id    TEXT NOT NULL,
	trigger_key   TEXT UNIQUE,
	state         TEXT NOT NULL,
	data          TEXT NOT NULL,
	version       BIGINT NOT NULL,
	lease_owner   TEXT NOT NULL,
	lease_expires BIGINT NOT NULL,
	created_at    BIGINT NOT NULL,
	updated_at    BIGINT NOT NULL
);
-- Claims look for running negotiations whose lease has ended, oldest
-- update first.
CREATE INDEX negotiations_claim ON negotiations (state, lease_expires, updated_at, id);
-- Listing is by ID, by subject or by state.
CREATE INDEX negotiations_subject ON negotiations (subject_kind, subject_id, id);
CREATE INDEX negotiations_state ON negotiations (state, id);
