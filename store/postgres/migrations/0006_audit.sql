-- The tamper-evident audit log (store.Audit). Records are appended, never
-- updated or deleted by Parley. Times are Unix microseconds; detail is a
-- JSON document as TEXT (hashed byte for byte, so never JSONB). Every
-- column but hash is covered by hash: see store.AuditEncoding for the
-- canonical encoding. Empty strings, and parent 0, mean "none".
CREATE TABLE audit_log (
	seq            BIGINT PRIMARY KEY,
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
	negotiation_id TEXT NOT NULL,
	prev_hash      TEXT NOT NULL,
	hash           TEXT NOT NULL
);
-- Listing is by seq, filtered by ticket, principal, time or a link.
CREATE INDEX audit_log_at ON audit_log (at, seq);
CREATE INDEX audit_log_ticket ON audit_log (ticket_id, seq);
CREATE INDEX audit_log_subject ON audit_log (subject, seq);
CREATE INDEX audit_log_task ON audit_log (task_id, seq);
CREATE INDEX audit_log_negotiation ON audit_log (negotiation_id, seq);
CREATE INDEX audit_log_request ON audit_log (request_id, seq);

-- The chain head: one row, the last appended seq and its hash. An append
-- updates it first, which serializes appends across replicas (the row
-- lock is held to commit), and a verifier compares the chain's end with
-- it to notice records removed from the end.
CREATE TABLE audit_head (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	seq  BIGINT NOT NULL,
	hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');
