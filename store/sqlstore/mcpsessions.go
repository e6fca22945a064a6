package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/parleyhq/parley/store"
)

// MCP sessions (store.MCPSessions), in mcp_sessions. Only the deletion of a
// session another replica copied (copied, set by CopyMCPSession) is on the
// feed (store.KindMCPSession), for the other replicas to close their
// copies; the sweep emits nothing, as each copy ends by its own idle timer.
// A session's event streams (mcp_streams, and their events by ON DELETE
// CASCADE) go with it, in the same transaction.

const mcpSessionColumns = `id, protocol_version, initialize_params, log_level, user_id, created_at, last_active`

// CreateMCPSession implements store.MCPSessions.
func (db *DB) CreateMCPSession(ctx context.Context, s store.MCPSession) error {
	if s.ID == "" {
		return errors.New("create MCP session: the ID is empty")
	}
	if s.LastActive.Before(s.CreatedAt) {
		s.LastActive = s.CreatedAt
	}
	// In a transaction, not a statement of its own: sessions opened at the
	// same time then share a commit (Dialect.GroupCommit). A first
	// deliverer is named as SetMCPSessionDeliverer names one: from the last
	// change committed now on.
	since := `0`
	if s.Deliverer != "" {
		since = `COALESCE((SELECT MAX(seq) FROM changes), (SELECT purged_through FROM feed_state))`
	}
	exists := false
	err := db.inTx(ctx, "create MCP session", func(tx *sql.Tx) (bool, error) {
		res, err := db.txExec(ctx, tx, `INSERT INTO mcp_sessions (`+mcpSessionColumns+`, copied, deliverer, deliverer_since)
			VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, `+since+`)
			ON CONFLICT (id) DO NOTHING`,
			s.ID, s.ProtocolVersion, string(s.InitializeParams), s.LogLevel, s.UserID, micros(s.CreatedAt), micros(s.LastActive), s.Deliverer)
		if err != nil {
			return false, err
		}
		n, err := res.RowsAffected()
		exists = err == nil && n == 0
		return false, err
	})
	if err != nil {
		return err
	}
	if exists {
		return fmt.Errorf("MCP session: %w", store.ErrExists)
	}
	return nil
}

// GetMCPSession implements store.MCPSessions.
func (db *DB) GetMCPSession(ctx context.Context, id string) (store.MCPSession, error) {
	var s store.MCPSession
	var params string
	var created, active int64
	err := db.queryRow(ctx, db.reader, `SELECT `+mcpSessionColumns+` FROM mcp_sessions WHERE id = ?`, id).
		Scan(&s.ID, &s.ProtocolVersion, &params, &s.LogLevel, &s.UserID, &created, &active)
	if errors.Is(err, sql.ErrNoRows) {
		return store.MCPSession{}, fmt.Errorf("MCP session: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.MCPSession{}, db.fail("get MCP session", err)
	}
	s.InitializeParams = []byte(params)
	s.CreatedAt, s.LastActive = fromMicros(created), fromMicros(active)
	return s, nil
}

// CopyMCPSession implements store.MCPSessions.
func (db *DB) CopyMCPSession(ctx context.Context, id string) (store.MCPSession, error) {
	var s store.MCPSession
	var params string
	var created, active int64
	err := db.inTx(ctx, "copy MCP session", func(tx *sql.Tx) (bool, error) {
		return false, db.txQueryRow(ctx, tx, `UPDATE mcp_sessions SET copied = 1 WHERE id = ? RETURNING `+mcpSessionColumns, id).
			Scan(&s.ID, &s.ProtocolVersion, &params, &s.LogLevel, &s.UserID, &created, &active)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return store.MCPSession{}, fmt.Errorf("MCP session: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.MCPSession{}, err
	}
	s.InitializeParams = []byte(params)
	s.CreatedAt, s.LastActive = fromMicros(created), fromMicros(active)
	return s, nil
}

// SetMCPSessionLogLevel implements store.MCPSessions.
func (db *DB) SetMCPSessionLogLevel(ctx context.Context, id, level string, at time.Time) error {
	found := true
	err := db.inTx(ctx, "set MCP session log level", func(tx *sql.Tx) (bool, error) {
		res, err := db.txExec(ctx, tx, `UPDATE mcp_sessions SET log_level = ?,
			last_active = CASE WHEN last_active < ? THEN ? ELSE last_active END WHERE id = ? AND log_level <> ?`,
			level, micros(at), micros(at), id, level)
		if err != nil {
			return false, err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			if err != nil {
				return false, err
			}
			// A new level: the replicas holding a copy apply it.
			return true, db.emit(ctx, tx, store.KindMCPSessionLevel, id, 0, db.now())
		}
		// The same level again (a replica applying it replays it), or no
		// such session: activity only.
		res, err = db.txExec(ctx, tx, `UPDATE mcp_sessions SET
			last_active = CASE WHEN last_active < ? THEN ? ELSE last_active END WHERE id = ?`, micros(at), micros(at), id)
		if err != nil {
			return false, err
		}
		n, err := res.RowsAffected()
		found = n == 1
		return false, err
	})
	if err == nil && !found {
		return fmt.Errorf("MCP session: %w", store.ErrNotFound)
	}
	return err
}

// TouchMCPSession implements store.MCPSessions.
func (db *DB) TouchMCPSession(ctx context.Context, id string, at time.Time) error {
	return db.updateMCPSession(ctx, "touch MCP session",
		`UPDATE mcp_sessions SET last_active = CASE WHEN last_active < ? THEN ? ELSE last_active END WHERE id = ?`,
		micros(at), micros(at), id)
}

func (db *DB) updateMCPSession(ctx context.Context, op, query string, args ...any) error {
	res, err := db.exec(ctx, db.writer, query, args...)
	if err != nil {
		return db.fail(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return db.fail(op, err)
	}
	if n == 0 {
		return fmt.Errorf("MCP session: %w", store.ErrNotFound)
	}
	return nil
}

// DeleteMCPSession implements store.MCPSessions.
func (db *DB) DeleteMCPSession(ctx context.Context, id string) error {
	return db.inTx(ctx, "delete MCP session", func(tx *sql.Tx) (bool, error) {
		if _, err := db.txExec(ctx, tx, `DELETE FROM mcp_streams WHERE session_id = ?`, id); err != nil {
			return false, err
		}
		var copied int
		switch err := db.txQueryRow(ctx, tx, `DELETE FROM mcp_sessions WHERE id = ? RETURNING copied`, id).Scan(&copied); {
		case errors.Is(err, sql.ErrNoRows):
			return false, nil // gone already
		case err != nil:
			return false, err
		case copied == 0:
			// Held by no replica but the one deleting it, whose copy the
			// client's DELETE closed.
			return false, nil
		}
		return true, db.emit(ctx, tx, store.KindMCPSession, id, 0, db.now())
	})
}

// SweepMCPSessions implements store.MCPSessions. The idle sessions are
// found by reads, sweepBatch at a time in the order of their IDs, and
// each batch deleted in a transaction of its own, each session only if
// still idle: SQLite keeps no index of last_active (migration 0018), and
// its scan inside the write transaction would hold up every other write
// for as long.
func (db *DB) SweepMCPSessions(ctx context.Context, idleSince time.Time) (int64, error) {
	cutoff := micros(idleSince)
	var n int64
	after := ""
	for {
		batch, err := db.idleMCPSessions(ctx, cutoff, after)
		if err != nil || len(batch) == 0 {
			return n, err
		}
		after = batch[len(batch)-1].(string)
		var deleted int64
		err = db.inTx(ctx, "sweep MCP sessions", func(tx *sql.Tx) (bool, error) {
			rows, err := tx.QueryContext(db.writeCtx(ctx), db.q(`DELETE FROM mcp_sessions WHERE last_active < ? AND id IN (`+placeholders(len(batch))+`) RETURNING id`),
				append([]any{cutoff}, batch...)...)
			if err != nil {
				return false, err
			}
			gone, err := scanIDs(rows)
			if err != nil || len(gone) == 0 {
				return false, err
			}
			// Their streams go with them, whichever replica wrote them. (A
			// statement of its own each time, not a prepared one: the
			// count of IDs varies.)
			if _, err := tx.ExecContext(db.writeCtx(ctx), db.q(`DELETE FROM mcp_streams WHERE session_id IN (`+placeholders(len(gone))+`)`), gone...); err != nil {
				return false, err
			}
			deleted = int64(len(gone))
			return false, nil
		})
		if err != nil {
			return n, err
		}
		n += deleted
		if len(batch) < sweepBatch {
			return n, nil
		}
	}
}

// idleMCPSessions reads the IDs of up to sweepBatch sessions last active
// before cutoff whose IDs sort after after.
func (db *DB) idleMCPSessions(ctx context.Context, cutoff int64, after string) ([]any, error) {
	rows, err := db.query(ctx, db.reader, `SELECT id FROM mcp_sessions WHERE id > ? AND last_active < ? ORDER BY id LIMIT `+strconv.Itoa(sweepBatch), after, cutoff)
	if err != nil {
		return nil, db.fail("sweep MCP sessions", err)
	}
	ids, err := scanIDs(rows)
	if err != nil {
		return nil, db.fail("sweep MCP sessions", err)
	}
	return ids, nil
}

// scanIDs reads rows of one string column, and closes rows.
func scanIDs(rows *sql.Rows) ([]any, error) {
	defer rows.Close()
	var ids []any
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// sweepBatch is how many idle sessions one transaction of the sweep
// deletes.
const sweepBatch = 500
