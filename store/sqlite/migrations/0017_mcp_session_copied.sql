-- Whether a replica other than the one that opened a session has held a
-- copy of it (MCPSessions.CopyMCPSession). Only then does the session's
-- deletion go on the change feed, for those copies to close: a session
-- that never left its replica ends there, without a change that every
-- subscriber of every replica reads. 1 for the sessions opened before
-- this column, whose copies are unknown.
ALTER TABLE mcp_sessions ADD COLUMN copied INTEGER NOT NULL DEFAULT 1;
