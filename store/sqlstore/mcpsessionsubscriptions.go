package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/parleyhq/parley/store"
)

// MCP sessions' subscriptions and the replica that delivers their updates
// (store.MCPSessionSubscriptions): the subscriptions in
// mcp_session_subscriptions, which go with the session by ON DELETE
// CASCADE, so that a session's DELETE and the sweep of idle sessions take
// them along; the deliverer in the session's own row (migration 0018).
// Nothing here is on the feed.

// SubscribeMCPSession implements store.MCPSessionSubscriptions.
func (db *DB) SubscribeMCPSession(ctx context.Context, sessionID, uri string) error {
	res, err := db.exec(ctx, db.writer, `INSERT INTO mcp_session_subscriptions (session_id, uri)
		SELECT ?, ? WHERE EXISTS (SELECT 1 FROM mcp_sessions WHERE id = ?)
		ON CONFLICT (session_id, uri) DO NOTHING`, sessionID, uri, sessionID)
	if err != nil {
		return db.fail("record MCP session subscription", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return db.fail("record MCP session subscription", err)
	} else if n == 1 {
		return nil
	}
	// Subscribed already, or no such session.
	return db.mcpSessionExists(ctx, "record MCP session subscription", sessionID)
}

// UnsubscribeMCPSession implements store.MCPSessionSubscriptions.
func (db *DB) UnsubscribeMCPSession(ctx context.Context, sessionID, uri string) error {
	if _, err := db.exec(ctx, db.writer, `DELETE FROM mcp_session_subscriptions WHERE session_id = ? AND uri = ?`,
		sessionID, uri); err != nil {
		return db.fail("delete MCP session subscription", err)
	}
	return nil
}

// SetMCPSessionDeliverer implements store.MCPSessionSubscriptions. The
// feed's last sequence number is read in the transaction that hands over:
// on PostgreSQL, changes become visible in sequence order (parley_emit), so
// one committed later has a greater number.
func (db *DB) SetMCPSessionDeliverer(ctx context.Context, sessionID, replica string, onlyIfNone bool) (bool, error) {
	if replica == "" {
		return false, errors.New("set MCP session deliverer: the replica is empty")
	}
	var named string
	err := db.inTx(ctx, "set MCP session deliverer", func(tx *sql.Tx) (bool, error) {
		// prevSince is where the previous deliverer's period began: it
		// delivers the changes after it up to the handover.
		var prev string
		var prevSince int64
		err := db.txQueryRow(ctx, tx, `SELECT deliverer, deliverer_since FROM mcp_sessions WHERE id = ?`, sessionID).Scan(&prev, &prevSince)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return false, fmt.Errorf("MCP session: %w", store.ErrNotFound)
		case err != nil:
			return false, err
		case prev != "" && (prev == replica || onlyIfNone):
			named = prev
			return false, nil
		}
		if _, err := db.txExec(ctx, tx, `UPDATE mcp_sessions SET deliverer = ?,
			deliverer_since = COALESCE((SELECT MAX(seq) FROM changes), (SELECT purged_through FROM feed_state)),
			prev_deliverer = ?, prev_deliverer_since = ? WHERE id = ?`, replica, prev, prevSince, sessionID); err != nil {
			return false, err
		}
		named = replica
		return false, nil
	})
	if err != nil {
		return false, err
	}
	return named == replica, nil
}

// GetMCPSessionDeliverers implements store.MCPSessionSubscriptions.
func (db *DB) GetMCPSessionDeliverers(ctx context.Context, sessionIDs []string) (map[string]string, error) {
	out := make(map[string]string, len(sessionIDs))
	for batch := range slices.Chunk(sessionIDs, maxDelivererRead) {
		// As many placeholders as the next power of two, the last ID
		// repeated: a handful of statements to prepare, not one per count.
		n := 1
		for n < len(batch) {
			n *= 2
		}
		args := make([]any, n)
		for i := range args {
			args[i] = batch[min(i, len(batch)-1)]
		}
		rows, err := db.query(db.lookupCtx(ctx), db.reader, `SELECT id, deliverer FROM mcp_sessions WHERE id IN (`+placeholders(n)+`)`, args...)
		if err != nil {
			return nil, db.fail("get MCP session deliverers", err)
		}
		for rows.Next() {
			var id, replica string
			if err := rows.Scan(&id, &replica); err != nil {
				rows.Close()
				return nil, db.fail("get MCP session deliverers", err)
			}
			out[id] = replica
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, db.fail("get MCP session deliverers", err)
		}
	}
	return out, nil
}

// maxDelivererRead bounds the IDs one query of GetMCPSessionDeliverers
// binds.
const maxDelivererRead = 256

// MCPSessionSubscribers implements store.MCPSessionSubscriptions.
func (db *DB) MCPSessionSubscribers(ctx context.Context, replica string, seq int64, uris []string) ([]store.MCPSessionSubscription, error) {
	if len(uris) == 0 {
		return nil, nil
	}
	// The previous deliverer's share is bounded below too: its feed may
	// reach, after the handover, changes from before its own period.
	args := []any{replica, seq, replica, seq, seq}
	for _, u := range uris {
		args = append(args, u)
	}
	rows, err := db.query(ctx, db.reader, `SELECT s.session_id, s.uri FROM mcp_session_subscriptions AS s
		JOIN mcp_sessions AS d ON d.id = s.session_id
		WHERE ((d.deliverer = ? AND d.deliverer_since < ?) OR (d.prev_deliverer = ? AND d.deliverer_since >= ? AND d.prev_deliverer_since < ?))
			AND s.uri IN (`+placeholders(len(uris))+`)
		ORDER BY s.session_id, s.uri`, args...)
	if err != nil {
		return nil, db.fail("list MCP session subscribers", err)
	}
	defer rows.Close()
	var out []store.MCPSessionSubscription
	for rows.Next() {
		var s store.MCPSessionSubscription
		if err := rows.Scan(&s.SessionID, &s.URI); err != nil {
			return nil, db.fail("list MCP session subscribers", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, db.fail("list MCP session subscribers", err)
	}
	return out, nil
}

// mcpSessionExists returns nil if the session exists, ErrNotFound if not.
func (db *DB) mcpSessionExists(ctx context.Context, op, sessionID string) error {
	var one int
	err := db.queryRow(ctx, db.reader, `SELECT 1 FROM mcp_sessions WHERE id = ?`, sessionID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("MCP session: %w", store.ErrNotFound)
	}
	if err != nil {
		return db.fail(op, err)
	}
	return nil
}
