package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley/store"
)

// Clients' responses waiting for the replica that asked
// (store.MCPSessionResponses), in mcp_session_responses. A stored response
// is on the feed (store.KindMCPSessionResponse, keyed by session), in the
// same transaction, so that every replica hears of it. A session's
// responses go with it (ON DELETE CASCADE from mcp_sessions).

// AddMCPSessionResponse implements store.MCPSessionResponses.
func (db *DB) AddMCPSessionResponse(ctx context.Context, r store.MCPSessionResponse) error {
	if r.SessionID == "" || r.RPCID == "" {
		return errors.New("add MCP session response: the session or the RPC id is empty")
	}
	return db.inTx(ctx, "add MCP session response", func(tx *sql.Tx) (bool, error) {
		var one int
		err := db.txQueryRow(ctx, tx, `SELECT 1 FROM mcp_sessions WHERE id = ?`, r.SessionID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return false, fmt.Errorf("MCP session: %w", store.ErrNotFound)
		}
		if err != nil {
			return false, err
		}
		res, err := db.txExec(ctx, tx, `INSERT INTO mcp_session_responses (session_id, rpc_id, body, at) VALUES (?, ?, ?, ?)
			ON CONFLICT (session_id, rpc_id) DO NOTHING`, r.SessionID, r.RPCID, string(r.Body), micros(r.At))
		if err != nil {
			return false, err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return false, err // a retry of a response still waiting
		}
		return true, db.emit(ctx, tx, store.KindMCPSessionResponse, r.SessionID, 0, r.At)
	})
}

// ListMCPSessionResponses implements store.MCPSessionResponses.
func (db *DB) ListMCPSessionResponses(ctx context.Context, sessionID string) ([]store.MCPSessionResponse, error) {
	rows, err := db.query(ctx, db.reader, `SELECT rpc_id, body, at FROM mcp_session_responses
		WHERE session_id = ? ORDER BY at, rpc_id`, sessionID)
	if err != nil {
		return nil, db.fail("list MCP session responses", err)
	}
	defer rows.Close()
	var out []store.MCPSessionResponse
	for rows.Next() {
		r := store.MCPSessionResponse{SessionID: sessionID}
		var body string
		var at int64
		if err := rows.Scan(&r.RPCID, &body, &at); err != nil {
			return nil, db.fail("list MCP session responses", err)
		}
		r.Body, r.At = []byte(body), fromMicros(at)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, db.fail("list MCP session responses", err)
	}
	return out, nil
}

// DeleteMCPSessionResponse implements store.MCPSessionResponses.
func (db *DB) DeleteMCPSessionResponse(ctx context.Context, sessionID, rpcID string) error {
	_, err := db.exec(ctx, db.writer, `DELETE FROM mcp_session_responses WHERE session_id = ? AND rpc_id = ?`, sessionID, rpcID)
	return db.fail("delete MCP session response", err)
}

// SweepMCPSessionResponses implements store.MCPSessionResponses.
func (db *DB) SweepMCPSessionResponses(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.exec(ctx, db.writer, `DELETE FROM mcp_session_responses WHERE at < ?`, micros(before))
	if err != nil {
		return 0, db.fail("sweep MCP session responses", err)
	}
	n, err := res.RowsAffected()
	return n, db.fail("sweep MCP session responses", err)
}
