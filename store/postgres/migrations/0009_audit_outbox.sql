-- The audit outbox: the record of a write, inserted in the write's own
-- transaction so that the two commit together or not at all, and waiting
-- there, not yet chained, until an appender moves it into audit_log (the
-- move takes the chain head, chains the rows in id order, deletes them and
-- commits, all in one transaction). Columns are audit_log's without the
-- chain's (seq, prev_hash, hash); see 0006_audit.sql.
CREATE TABLE audit_outbox (
	id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at             BIGINT NOT NULL,
	subject        TEXT NOT NULL,
	client         TEXT NOT NULL,
	action         TEXT NOT NULL,
	target         TEXT NOT NULL,
	ticket_id      TEXT NOT NULL,
	outcome        TEXT NOT NULL,
	detail         TEXT NOT NULL,
	parent         BIGINT NOT NULL,
	request_id     TEXT NOT NULL,
	task_id        TEXT NOT NULL,
	negotiation_id TEXT NOT NULL
);
