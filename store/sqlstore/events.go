package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/parleyhq/parley/store"
)

// Events of resumable streams (store.Events), in mcp_streams and mcp_events.
//
// A stream's row counts its appends (next_index), so an index is assigned
// by the UPDATE that bumps it: the row's write lock (PostgreSQL) or the
// single writer (SQLite) makes concurrent appenders take consecutive
// indices, and a rolled-back append gives its index back, so indices have no
// gaps. Only a prefix of a stream is ever deleted, and purged_through
// records how far, in the same transaction.
//
// Error messages name the stream but never the session: an MCP session ID
// lets whoever holds it talk in that session, and these errors end up in
// logs.

// defaultEventPage is the page EventsAfter returns when the caller sets no
// limit.
const defaultEventPage = 1000

// OpenStream implements store.Events.
func (db *DB) OpenStream(ctx context.Context, session, stream string, at time.Time) error {
	return db.inTx(ctx, "open stream", func(tx *sql.Tx) (bool, error) {
		_, err := db.txExec(ctx, tx, openStreamSQL, session, stream, micros(at), micros(at))
		// Not a workspace change: nothing goes on the feed.
		return false, err
	})
}

// AppendEvent implements store.Events.
func (db *DB) AppendEvent(ctx context.Context, session, stream string, data []byte, at time.Time, keep int) (int64, error) {
	if data == nil {
		// The column is NOT NULL; an empty payload is a marker event.
		data = []byte{}
	}
	// With no cap, next_index - keep never rises above purged_through.
	keepN := int64(math.MaxInt64)
	if keep > 0 {
		keepN = int64(keep)
	}
	var index, purged int64
	err := db.inTx(ctx, "append stream event", func(tx *sql.Tx) (bool, error) {
		err := db.txQueryRow(ctx, tx, appendEventSQL+` RETURNING next_index - 1, purged_through`,
			micros(at), micros(at), keepN, keepN, session, stream).Scan(&index, &purged)
		if errors.Is(err, sql.ErrNoRows) {
			return false, fmt.Errorf("append to stream %q: not open (never opened, or its session closed or swept): %w", stream, store.ErrNotFound)
		}
		if err != nil {
			return false, err
		}
		if _, err := db.txExec(ctx, tx, insertEventSQL, session, stream, index, data); err != nil {
			return false, err
		}
		if keep > 0 && purged >= 0 {
			if _, err := db.txExec(ctx, tx, trimEventsSQL, session, stream, purged); err != nil {
				return false, err
			}
		}
		return false, nil
	})
	if err != nil {
		return 0, err
	}
	return index, nil
}

// EventsAfter implements store.Events.
//
// It reads the events first and the stream's watermark second, without a
// transaction: a trim deletes events and raises the watermark in one commit,
// so if it removed any event the first read needed, the second read sees the
// raised watermark and the call fails instead of returning a gap.
func (db *DB) EventsAfter(ctx context.Context, session, stream string, index int64, limit int) ([]store.StreamEvent, error) {
	if index < -1 {
		index = -1
	}
	if limit <= 0 {
		limit = defaultEventPage
	}
	rows, err := db.query(ctx, db.reader, `SELECT idx, data FROM mcp_events
		WHERE session_id = ? AND stream_id = ? AND idx > ? ORDER BY idx LIMIT ?`, session, stream, index, limit)
	if err != nil {
		return nil, db.fail("read stream events", err)
	}
	defer rows.Close()
	var out []store.StreamEvent
	for rows.Next() {
		var e store.StreamEvent
		if err := rows.Scan(&e.Index, &e.Data); err != nil {
			return nil, db.fail("read stream events", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, db.fail("read stream events", err)
	}
	rows.Close()

	var purged int64
	err = db.queryRow(ctx, db.reader, `SELECT purged_through FROM mcp_streams WHERE session_id = ? AND stream_id = ?`,
		session, stream).Scan(&purged)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read stream %q: not open (never opened, or its session closed or swept): %w", stream, store.ErrNotFound)
	}
	if err != nil {
		return nil, db.fail("read stream events", err)
	}
	if index < purged {
		return nil, fmt.Errorf("read stream %q after event %d: events up to %d were dropped: %w", stream, index, purged, store.ErrEventsPurged)
	}
	return out, nil
}

// CloseSession implements store.Events.
func (db *DB) CloseSession(ctx context.Context, session string) error {
	return db.inTx(ctx, "close stream session", func(tx *sql.Tx) (bool, error) {
		// ON DELETE CASCADE takes the events with their streams.
		_, err := db.txExec(ctx, tx, closeSessionSQL, session)
		return false, err
	})
}

// SweepEvents implements store.Events.
//
// A session's standalone stream ("") stays while any stream of the session
// is active: deleting it would make the session's next notification fail to
// append, and its client unable to resume that stream, although the session
// is alive.
//
// It deletes stream rows only, and lets ON DELETE CASCADE take their events:
// on PostgreSQL a concurrent append holds the stream's row, so the sweep
// waits for it, sees the fresh activity and keeps the stream, rather than
// deleting some of its events and leaving it looking whole.
func (db *DB) SweepEvents(ctx context.Context, olderThan time.Time) (int64, error) {
	var deleted int64
	err := db.inTx(ctx, "sweep stream events", func(tx *sql.Tx) (bool, error) {
		res, err := tx.ExecContext(ctx, db.q(`DELETE FROM mcp_streams WHERE last_at < ?
			AND (stream_id <> '' OR NOT EXISTS (SELECT 1 FROM mcp_streams AS live
				WHERE live.session_id = mcp_streams.session_id AND live.last_at >= ?))`),
			micros(olderThan), micros(olderThan))
		if err != nil {
			return false, err
		}
		deleted, err = res.RowsAffected()
		return false, err
	})
	return deleted, err
}

// The statements of the stream writes, with ? placeholders.
const (
	openStreamSQL = `INSERT INTO mcp_streams (session_id, stream_id, next_index, purged_through, opened_at, last_at)
		VALUES (?, ?, 0, -1, ?, ?)
		ON CONFLICT (session_id, stream_id) DO UPDATE SET
			last_at = CASE WHEN excluded.last_at > mcp_streams.last_at THEN excluded.last_at ELSE mcp_streams.last_at END`
	// appendEventSQL bumps a stream's next index; its SET expressions read
	// the row as it was: the new event's index is the old next_index, and
	// the cap drops every index up to old next_index - keep.
	appendEventSQL = `UPDATE mcp_streams SET
			next_index = next_index + 1,
			last_at = CASE WHEN ? > last_at THEN ? ELSE last_at END,
			purged_through = CASE WHEN next_index - ? > purged_through THEN next_index - ? ELSE purged_through END
		WHERE session_id = ? AND stream_id = ?`
	insertEventSQL  = `INSERT INTO mcp_events (session_id, stream_id, idx, data) VALUES (?, ?, ?, ?)`
	trimEventsSQL   = `DELETE FROM mcp_events WHERE session_id = ? AND stream_id = ? AND idx <= ?`
	closeSessionSQL = `DELETE FROM mcp_streams WHERE session_id = ?`
	nextIndexSQL    = `SELECT next_index FROM mcp_streams WHERE session_id = ? AND stream_id = ?`
)

// WriteEvents implements store.Events. Its statements are prepared once
// per store (see DB.prepared), not per batch.
func (db *DB) WriteEvents(ctx context.Context, writes []store.StreamEventWrite) ([]store.StreamEventResult, error) {
	results := make([]store.StreamEventResult, len(writes))
	err := db.inTx(ctx, "write stream events", func(tx *sql.Tx) (bool, error) {
		clear(results)
		for i, w := range writes {
			switch w.Op {
			case store.StreamOpen:
				if _, err := db.txExec(ctx, tx, openStreamSQL, w.Session, w.Stream, micros(w.At), micros(w.At)); err != nil {
					return false, err
				}
			case store.StreamCloseSession:
				if _, err := db.txExec(ctx, tx, closeSessionSQL, w.Session); err != nil {
					return false, err
				}
			case store.StreamCall:
				data := w.Data
				if data == nil {
					data = []byte{}
				}
				if _, err := db.txExec(ctx, tx, callSQL, w.Session, w.Stream, w.Owner, data); err != nil {
					return false, err
				}
			case store.StreamAppend:
				index, err := db.writeEvent(ctx, tx, w)
				if err != nil {
					var we writeError
					if !errors.As(err, &we) {
						return false, err
					}
					results[i].Err = we.err
					continue
				}
				results[i].Index = index
			default:
				return false, fmt.Errorf("unknown stream event write %d", w.Op)
			}
		}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// writeError is a failure of one write of WriteEvents, which leaves the
// transaction going.
type writeError struct{ err error }

func (e writeError) Error() string { return e.err.Error() }

// writeEvent appends one event inside WriteEvents' transaction.
func (db *DB) writeEvent(ctx context.Context, tx *sql.Tx, w store.StreamEventWrite) (int64, error) {
	data := w.Data
	if data == nil {
		data = []byte{}
	}
	keepN := int64(math.MaxInt64)
	if w.Keep > 0 {
		keepN = int64(w.Keep)
	}
	query, args := appendEventSQL+` RETURNING next_index - 1, purged_through`,
		[]any{micros(w.At), micros(w.At), keepN, keepN, w.Session, w.Stream}
	if w.Index >= 0 {
		query, args = appendEventSQL+` AND next_index = ? RETURNING next_index - 1, purged_through`, append(args, w.Index)
	}
	var index, purged int64
	err := db.txQueryRow(ctx, tx, query, args...).Scan(&index, &purged)
	if errors.Is(err, sql.ErrNoRows) {
		var next int64
		err := db.txQueryRow(ctx, tx, nextIndexSQL, w.Session, w.Stream).Scan(&next)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, writeError{fmt.Errorf("append to stream %q: not open (never opened, or its session closed or swept): %w", w.Stream, store.ErrNotFound)}
		}
		if err != nil {
			return 0, err
		}
		return 0, writeError{fmt.Errorf("append to stream %q as event %d: its next event is %d: %w", w.Stream, w.Index, next, store.ErrVersionConflict)}
	}
	if err != nil {
		return 0, err
	}
	if _, err := db.txExec(ctx, tx, insertEventSQL, w.Session, w.Stream, index, data); err != nil {
		return 0, err
	}
	if w.Keep > 0 && purged >= 0 {
		if _, err := db.txExec(ctx, tx, trimEventsSQL, w.Session, w.Stream, purged); err != nil {
			return 0, err
		}
	}
	return index, nil
}
