package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley/store"
)

// Replicas and the calls of durable session streams (store.MCPReplicas), in
// mcp_replicas and mcp_stream_calls. A stream's call is written by
// WriteEvents (store.StreamCall) with the stream's opening, and goes with
// the stream by ON DELETE CASCADE. Nothing here is on the feed: a replica
// reads a call when a client resumes its stream.

// callSQL records a stream's call once.
const callSQL = `INSERT INTO mcp_stream_calls (session_id, stream_id, owner, request) VALUES (?, ?, ?, ?)
	ON CONFLICT (session_id, stream_id) DO NOTHING`

// BeatMCPReplica implements store.MCPReplicas.
func (db *DB) BeatMCPReplica(ctx context.Context, id string, at time.Time) error {
	if _, err := db.exec(ctx, db.writer, `INSERT INTO mcp_replicas (id, heartbeat_at) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`, id, micros(at)); err != nil {
		return db.fail("record replica heartbeat", err)
	}
	return nil
}

// EndMCPReplica implements store.MCPReplicas.
func (db *DB) EndMCPReplica(ctx context.Context, id string) error {
	if _, err := db.exec(ctx, db.writer, `UPDATE mcp_replicas SET heartbeat_at = 0 WHERE id = ?`, id); err != nil {
		return db.fail("record replica end", err)
	}
	return nil
}

// GetMCPStreamCall implements store.MCPReplicas.
func (db *DB) GetMCPStreamCall(ctx context.Context, session, stream string) (store.MCPStreamCall, error) {
	c := store.MCPStreamCall{Session: session, Stream: stream}
	var seen int64
	err := db.queryRow(ctx, db.reader, `SELECT c.owner, c.request, COALESCE(r.heartbeat_at, 0)
		FROM mcp_stream_calls AS c LEFT JOIN mcp_replicas AS r ON r.id = c.owner
		WHERE c.session_id = ? AND c.stream_id = ?`, session, stream).Scan(&c.Owner, &c.Request, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return store.MCPStreamCall{}, fmt.Errorf("call of stream %q: %w", stream, store.ErrNotFound)
	}
	if err != nil {
		return store.MCPStreamCall{}, db.fail("read stream call", err)
	}
	if seen > 0 {
		c.OwnerSeen = fromMicros(seen)
	}
	return c, nil
}

// TakeMCPStreamCall implements store.MCPReplicas.
func (db *DB) TakeMCPStreamCall(ctx context.Context, session, stream, from, to string) error {
	res, err := db.exec(ctx, db.writer, `UPDATE mcp_stream_calls SET owner = ?
		WHERE session_id = ? AND stream_id = ? AND owner = ?`, to, session, stream, from)
	if err != nil {
		return db.fail("take over stream call", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return db.fail("take over stream call", err)
	} else if n == 1 {
		return nil
	}
	if _, err := db.GetMCPStreamCall(ctx, session, stream); err != nil {
		return err
	}
	return fmt.Errorf("call of stream %q: another replica took it: %w", stream, store.ErrVersionConflict)
}

// SweepMCPReplicas implements store.MCPReplicas.
func (db *DB) SweepMCPReplicas(ctx context.Context, since time.Time) (int64, error) {
	res, err := db.exec(ctx, db.writer, `DELETE FROM mcp_replicas WHERE heartbeat_at < ?`, micros(since))
	if err != nil {
		return 0, db.fail("sweep replicas", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, db.fail("sweep replicas", err)
	}
	return n, nil
}
