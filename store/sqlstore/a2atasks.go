package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley/store"
)

// Tasks of the gateway's own A2A server (store.A2ATasks), in a2a_tasks,
// and their event logs, in a2a_task_events.
//
// A write is one versioned statement on the task's row followed by the
// event's insert, in one transaction: a reader sees the task before or
// after it, never half of it, and never a task version without its event.

const a2aTaskColumns = `id, context_id, caller, state, task, version, created_at, updated_at`

func scanA2ATask(row interface{ Scan(...any) error }) (store.A2ATask, error) {
	var t store.A2ATask
	var created, updated int64
	if err := row.Scan(&t.ID, &t.ContextID, &t.Caller, &t.State, (*[]byte)(&t.Task), &t.Version, &created, &updated); err != nil {
		return store.A2ATask{}, err
	}
	t.CreatedAt, t.UpdatedAt = fromMicros(created), fromMicros(updated)
	return t, nil
}

// CreateA2ATask implements store.A2ATasks.
func (db *DB) CreateA2ATask(ctx context.Context, t store.A2ATask, event []byte) (int64, error) {
	if t.ID == "" {
		return 0, errors.New("create a2a task: the task ID is empty")
	}
	err := db.inTx(ctx, "create a2a task", func(tx *sql.Tx) (bool, error) {
		res, err := db.txExec(ctx, tx, `INSERT INTO a2a_tasks (`+a2aTaskColumns+`) VALUES (?, ?, ?, ?, ?, 1, ?, ?)
			ON CONFLICT (id) DO NOTHING`,
			t.ID, t.ContextID, t.Caller, t.State, string(t.Task), micros(t.CreatedAt), micros(t.CreatedAt))
		if err != nil {
			return false, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return false, err
		} else if n == 0 {
			return false, fmt.Errorf("a2a task %q: %w", t.ID, store.ErrExists)
		}
		if err := db.appendA2ATaskEvent(ctx, tx, t.ID, 1, event, t.CreatedAt); err != nil {
			return false, err
		}
		return true, db.emit(ctx, tx, store.KindA2ATask, t.ID, 1, t.CreatedAt)
	})
	if err != nil {
		return 0, err
	}
	return 1, nil
}

// UpdateA2ATask implements store.A2ATasks.
func (db *DB) UpdateA2ATask(ctx context.Context, t store.A2ATask, prevVersion int64, event []byte) (int64, error) {
	var version int64
	err := db.inTx(ctx, "update a2a task", func(tx *sql.Tx) (bool, error) {
		// prevVersion 0 matches any version: the update is unconditional.
		err := db.txQueryRow(ctx, tx, `UPDATE a2a_tasks SET context_id = ?, state = ?, task = ?, updated_at = ?, version = version + 1
			WHERE id = ? AND (? = 0 OR version = ?) RETURNING version`,
			t.ContextID, t.State, string(t.Task), micros(t.UpdatedAt), t.ID, prevVersion, prevVersion).Scan(&version)
		if errors.Is(err, sql.ErrNoRows) {
			var current int64
			err := db.txQueryRow(ctx, tx, `SELECT version FROM a2a_tasks WHERE id = ?`, t.ID).Scan(&current)
			if errors.Is(err, sql.ErrNoRows) {
				return false, fmt.Errorf("a2a task %q: %w", t.ID, store.ErrNotFound)
			}
			if err != nil {
				return false, err
			}
			return false, &store.VersionConflictError{Kind: store.KindA2ATask, Key: t.ID, Expected: prevVersion, Current: current}
		}
		if err != nil {
			return false, err
		}
		if err := db.appendA2ATaskEvent(ctx, tx, t.ID, version, event, t.UpdatedAt); err != nil {
			return false, err
		}
		return true, db.emit(ctx, tx, store.KindA2ATask, t.ID, version, t.UpdatedAt)
	})
	if err != nil {
		return 0, err
	}
	return version, nil
}

func (db *DB) appendA2ATaskEvent(ctx context.Context, tx *sql.Tx, taskID string, version int64, event []byte, at time.Time) error {
	if event == nil {
		return nil
	}
	if _, err := db.txExec(ctx, tx, `INSERT INTO a2a_task_events (task_id, version, event, at) VALUES (?, ?, ?, ?)`,
		taskID, version, string(event), micros(at)); err != nil {
		return fmt.Errorf("append a2a task event: %w", err)
	}
	return nil
}

// GetA2ATask implements store.A2ATasks.
func (db *DB) GetA2ATask(ctx context.Context, id string) (store.A2ATask, error) {
	t, err := scanA2ATask(db.queryRow(ctx, db.reader, `SELECT `+a2aTaskColumns+` FROM a2a_tasks WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.A2ATask{}, fmt.Errorf("a2a task %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.A2ATask{}, db.fail("get a2a task", err)
	}
	return t, nil
}

// ListA2ATasks implements store.A2ATasks.
func (db *DB) ListA2ATasks(ctx context.Context, f store.A2ATaskFilter) ([]store.A2ATask, int, bool, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	var where []string
	var args []any
	if f.Caller != "" {
		where = append(where, "caller = ?")
		args = append(args, f.Caller)
	}
	if f.ContextID != "" {
		where = append(where, "context_id = ?")
		args = append(args, f.ContextID)
	}
	if len(f.States) > 0 {
		where = append(where, "state IN ("+placeholders(len(f.States))+")")
		for _, s := range f.States {
			args = append(args, s)
		}
	}
	if !f.UpdatedAfter.IsZero() {
		where = append(where, "updated_at >= ?")
		args = append(args, micros(f.UpdatedAfter))
	}
	// The total ignores the cursor: it counts what the filter selects.
	count := `SELECT COUNT(*) FROM a2a_tasks`
	for i, w := range where {
		if i == 0 {
			count += " WHERE " + w
		} else {
			count += " AND " + w
		}
	}
	var total int
	if err := db.reader.QueryRowContext(ctx, db.q(count), args...).Scan(&total); err != nil {
		return nil, 0, false, db.fail("count a2a tasks", err)
	}
	order := " ORDER BY created_at, id LIMIT ?"
	switch {
	case f.NewestFirst:
		order = " ORDER BY updated_at DESC, id DESC LIMIT ?"
		if c := f.Before; c.ID != "" || !c.UpdatedAt.IsZero() {
			at := micros(c.UpdatedAt)
			where = append(where, "(updated_at < ? OR (updated_at = ? AND id < ?))")
			args = append(args, at, at, c.ID)
		}
	case f.After != "":
		// Keyset pagination on (created_at, id); an unknown cursor matches
		// nothing rather than restarting from the beginning.
		where = append(where, `(created_at > (SELECT created_at FROM a2a_tasks WHERE id = ?)
			OR (created_at = (SELECT created_at FROM a2a_tasks WHERE id = ?) AND id > ?))`)
		args = append(args, f.After, f.After, f.After)
	}
	query := `SELECT ` + a2aTaskColumns + ` FROM a2a_tasks`
	tasks, more, err := queryPage(ctx, db, "list a2a tasks", query, where, order, args, limit, scanA2ATask)
	if err != nil {
		return nil, 0, false, err
	}
	return tasks, total, more, nil
}

// A2ATaskEventsAfter implements store.A2ATasks.
func (db *DB) A2ATaskEventsAfter(ctx context.Context, taskID string, afterSeq int64, limit int) ([]store.A2ATaskEvent, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.query(ctx, db.reader, `SELECT seq, task_id, version, event, at FROM a2a_task_events
		WHERE task_id = ? AND seq > ? ORDER BY seq LIMIT ?`, taskID, afterSeq, limit)
	if err != nil {
		return nil, db.fail("read a2a task events", err)
	}
	defer rows.Close()
	var out []store.A2ATaskEvent
	for rows.Next() {
		var e store.A2ATaskEvent
		var at int64
		if err := rows.Scan(&e.Seq, &e.TaskID, &e.Version, (*[]byte)(&e.Event), &at); err != nil {
			return nil, db.fail("read a2a task events", err)
		}
		e.At = fromMicros(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, db.fail("read a2a task events", err)
	}
	return out, nil
}

// LastA2ATaskEventSeq implements store.A2ATasks.
func (db *DB) LastA2ATaskEventSeq(ctx context.Context, taskID string) (int64, error) {
	var last sql.NullInt64
	if err := db.queryRow(ctx, db.reader, `SELECT MAX(seq) FROM a2a_task_events WHERE task_id = ?`, taskID).Scan(&last); err != nil {
		return 0, db.fail("read a2a task events", err)
	}
	return last.Int64, nil
}

// SweepA2ATaskEvents implements store.A2ATasks.
func (db *DB) SweepA2ATaskEvents(ctx context.Context, states []string, olderThan time.Time) (int64, error) {
	if len(states) == 0 {
		return 0, nil
	}
	args := []any{}
	for _, s := range states {
		args = append(args, s)
	}
	args = append(args, micros(olderThan))
	var deleted int64
	err := db.inTx(ctx, "sweep a2a task events", func(tx *sql.Tx) (bool, error) {
		res, err := tx.ExecContext(ctx, db.q(`DELETE FROM a2a_task_events WHERE task_id IN (
			SELECT id FROM a2a_tasks WHERE state IN (`+placeholders(len(states))+`) AND updated_at < ?)`), args...)
		if err != nil {
			return false, err
		}
		deleted, err = res.RowsAffected()
		return false, err
	})
	return deleted, err
}
