-- The feed's retention counts from when the store committed a change, on
-- the store's own clock (committed_at), no longer from the time the caller
-- stamped it with (at): an old or skewed caller time must not get a change
-- swept before its subscribers read it. Changes already in the feed count
-- from their caller time, the only time known for them.
ALTER TABLE changes ADD COLUMN committed_at INTEGER NOT NULL DEFAULT 0;
UPDATE changes SET committed_at = at;
DROP INDEX changes_at;
CREATE INDEX changes_committed_at ON changes (committed_at);
