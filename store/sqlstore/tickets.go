package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/parleyhq/parley/store"
)

const ticketColumns = `id, version, status, category, data, created_at, updated_at`

func scanTicket(row interface{ Scan(...any) error }) (store.Ticket, error) {
	var t store.Ticket
	var created, updated int64
	// Into []byte directly: database/sql copies the driver's value once
	// (a string first would copy the document twice).
	if err := row.Scan(&t.ID, &t.Version, &t.Status, &t.Category, (*[]byte)(&t.Data), &created, &updated); err != nil {
		return store.Ticket{}, err
	}
	if t.Data == nil {
		t.Data = []byte{} // as []byte(string) gave: the column is NOT NULL
	}
	t.CreatedAt, t.UpdatedAt = fromMicros(created), fromMicros(updated)
	return t, nil
}

// CreateTicket implements store.Tickets.
func (db *DB) CreateTicket(ctx context.Context, t store.Ticket, h store.HistoryEntry) (store.Ticket, error) {
	t.Version = 1
	t.UpdatedAt = t.CreatedAt
	err := db.inTx(ctx, "create ticket", func(tx *sql.Tx) (bool, error) {
		res, err := db.txExec(ctx, tx, `INSERT INTO tickets (`+ticketColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			t.ID, t.Version, t.Status, t.Category, string(t.Data), micros(t.CreatedAt), micros(t.UpdatedAt))
		if err != nil {
			return false, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return false, err
		} else if n == 0 {
			return false, fmt.Errorf("ticket %q: %w", t.ID, store.ErrExists)
		}
		if err := db.appendHistory(ctx, tx, t, h); err != nil {
			return false, err
		}
		return true, db.emit(ctx, tx, store.KindTicket, t.ID, t.Version, t.UpdatedAt)
	})
	if err != nil {
		return store.Ticket{}, err
	}
	return t, nil
}

// UpdateTicket implements store.Tickets.
func (db *DB) UpdateTicket(ctx context.Context, t store.Ticket, expectedVersion int64, h store.HistoryEntry) (store.Ticket, error) {
	var out store.Ticket
	err := db.inTx(ctx, "update ticket", func(tx *sql.Tx) (bool, error) {
		row := db.txQueryRow(ctx, tx, `UPDATE tickets SET version = version + 1, status = ?, category = ?, data = ?, updated_at = ?
			WHERE id = ? AND version = ? RETURNING `+ticketColumns,
			t.Status, t.Category, string(t.Data), micros(t.UpdatedAt), t.ID, expectedVersion)
		var err error
		out, err = scanTicket(row)
		if errors.Is(err, sql.ErrNoRows) {
			return false, db.ticketConflict(ctx, tx, t.ID, expectedVersion)
		}
		if err != nil {
			return false, err
		}
		if err := db.appendHistory(ctx, tx, out, h); err != nil {
			return false, err
		}
		return true, db.emit(ctx, tx, store.KindTicket, out.ID, out.Version, out.UpdatedAt)
	})
	if err != nil {
		return store.Ticket{}, err
	}
	return out, nil
}

// ticketConflict explains why a versioned update matched no row.
func (db *DB) ticketConflict(ctx context.Context, tx *sql.Tx, id string, expected int64) error {
	var current int64
	err := db.txQueryRow(ctx, tx, `SELECT version FROM tickets WHERE id = ?`, id).Scan(&current)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("ticket %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return err
	}
	return &store.VersionConflictError{Kind: store.KindTicket, Key: id, Expected: expected, Current: current}
}

func (db *DB) appendHistory(ctx context.Context, tx *sql.Tx, t store.Ticket, h store.HistoryEntry) error {
	detail := string(h.Detail)
	if detail == "" {
		detail = "null"
	}
	_, err := db.txExec(ctx, tx, `INSERT INTO ticket_history (ticket_id, version, actor, at, action, detail) VALUES (?, ?, ?, ?, ?, ?)`,
		t.ID, t.Version, h.Actor, micros(t.UpdatedAt), h.Action, detail)
	if err != nil {
		return fmt.Errorf("append ticket history: %w", err)
	}
	return nil
}

// GetTicket implements store.Tickets.
func (db *DB) GetTicket(ctx context.Context, id string) (store.Ticket, error) {
	t, err := scanTicket(db.queryRow(ctx, db.reader, `SELECT `+ticketColumns+` FROM tickets WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Ticket{}, fmt.Errorf("ticket %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Ticket{}, db.fail("get ticket", err)
	}
	return t, nil
}

// ListTickets implements store.Tickets.
func (db *DB) ListTickets(ctx context.Context, f store.TicketFilter) ([]store.Ticket, bool, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	var where []string
	var args []any
	if len(f.Statuses) > 0 {
		where = append(where, "status IN ("+placeholders(len(f.Statuses))+")")
		for _, s := range f.Statuses {
			args = append(args, s)
		}
	}
	if f.Category != "" {
		where = append(where, "category = ?")
		args = append(args, f.Category)
	}
	if f.After != "" {
		where = append(where, "id > ?")
		args = append(args, f.After)
	}
	query := `SELECT ` + ticketColumns + ` FROM tickets`
	return queryPage(ctx, db, "list tickets", query, where, " ORDER BY id LIMIT ?", args, limit, scanTicket)
}

// TicketHistory implements store.Tickets.
func (db *DB) TicketHistory(ctx context.Context, id string) ([]store.HistoryEntry, error) {
	rows, err := db.query(ctx, db.reader, `SELECT version, actor, at, action, detail FROM ticket_history WHERE ticket_id = ? ORDER BY version`, id)
	if err != nil {
		return nil, db.fail("ticket history", err)
	}
	defer rows.Close()
	var out []store.HistoryEntry
	for rows.Next() {
		var h store.HistoryEntry
		var at int64
		var detail string
		if err := rows.Scan(&h.Version, &h.Actor, &at, &h.Action, &detail); err != nil {
			return nil, db.fail("ticket history", err)
		}
		h.At = fromMicros(at)
		if detail != "null" {
			h.Detail = []byte(detail)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, db.fail("ticket history", err)
	}
	if len(out) == 0 {
		if _, err := db.GetTicket(ctx, id); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CountTickets implements store.Tickets.
func (db *DB) CountTickets(ctx context.Context) (map[string]int64, error) {
	return db.countBy(ctx, "count tickets", `SELECT status, COUNT(*) FROM tickets GROUP BY status`)
}

func (db *DB) countBy(ctx context.Context, op, query string) (map[string]int64, error) {
	rows, err := db.query(ctx, db.reader, query)
	if err != nil {
		return nil, db.fail(op, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return nil, db.fail(op, err)
		}
		out[k] = n
	}
	if err := rows.Err(); err != nil {
		return nil, db.fail(op, err)
	}
	return out, nil
}
