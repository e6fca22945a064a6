-- The feed's retention counts from when the store committed a change, on
-- the store's own clock (committed_at), no longer from the time the caller
-- stamped it with (at): an old or skewed caller time must not get a change
-- swept before its subscribers read it. Changes already in the feed count
-- from their caller time, the only time known for them.
ALTER TABLE changes ADD COLUMN committed_at BIGINT;
UPDATE changes SET committed_at = at;
ALTER TABLE changes ALTER COLUMN committed_at SET NOT NULL;
DROP INDEX changes_at;
CREATE INDEX changes_committed_at ON changes (committed_at);

-- parley_emit as in 0001_init, with the store's commit time. The advisory
-- lock, held until commit, serializes appenders so that sequence numbers
-- become visible in increasing order.
CREATE FUNCTION parley_emit(p_kind TEXT, p_key TEXT, p_version BIGINT, p_at BIGINT, p_committed_at BIGINT) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_advisory_xact_lock(123563833844994); -- 0x7061726c6502: "parle" 02
	INSERT INTO changes (kind, key, version, at, committed_at) VALUES (p_kind, p_key, p_version, p_at, p_committed_at);
	PERFORM pg_notify('parley_changes', '');
END;
$$;

-- The four-argument form stays for replicas of the previous release still
-- running during a rolling upgrade: their changes count from the server's
-- clock.
CREATE OR REPLACE FUNCTION parley_emit(p_kind TEXT, p_key TEXT, p_version BIGINT, p_at BIGINT) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM parley_emit(p_kind, p_key, p_version, p_at, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint);
END;
$$;
