-- The previous deliverer of a session delivers the changes after the one
-- from which it delivered (prev_since_seq, its own since_seq) up to the
-- handover (since_seq), not every change up to the handover: a replica
-- whose feed lags would otherwise deliver, after a handover, changes made
-- before it ever delivered to the session (before the session subscribed).
-- 0 for a handover recorded before this column: the old rule.
ALTER TABLE mcp_session_deliverers ADD COLUMN prev_since_seq INTEGER NOT NULL DEFAULT 0;
