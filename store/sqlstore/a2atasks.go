package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley/store"
)

// Tasks of the gateway's own A2A server (store.A2ATasks), in a2a_tasks.
//
// a2a-go saves a task on every event of its execution while tasks/get
// reads it concurrently, so a save is a single INSERT … ON CONFLICT DO
// UPDATE: one statement replaces the row, and a reader sees the row before
// or after it, never half of it.

const a2aTaskColumns = `id, context_id, caller, state, task, version, created_at, updated_at`

func scanA2ATask(row interface{ Scan(...any) error }) (store.A2ATask, error) {
	var t store.A2ATask
	var task string
	var created, updated int64
	if err := row.Scan(&t.ID, &t.ContextID, &t.Caller, &t.State, &task, &t.Version, &created, &updated); err != nil {
		return store.A2ATask{}, err
	}
	t.Task = []byte(task)
	t.CreatedAt, t.UpdatedAt = fromMicros(created), fromMicros(updated)
	return t, nil
}

// SaveA2ATask implements store.A2ATasks.
func (db *DB) SaveA2ATask(ctx context.Context, id, contextID, caller, state string, taskJSON []byte, at time.Time) error {
	if id == "" {
		return errors.New("save a2a task: the task ID is empty")
	}
	return db.inTx(ctx, "save a2a task", func(tx *sql.Tx) (bool, error) {
		var version int64
		// caller, context_id and created_at keep what the first save wrote.
		err := tx.QueryRowContext(ctx, db.q(`INSERT INTO a2a_tasks (`+a2aTaskColumns+`) VALUES (?, ?, ?, ?, ?, 1, ?, ?)
			ON CONFLICT (id) DO UPDATE SET
				state = excluded.state,
				task = excluded.task,
				version = a2a_tasks.version + 1,
				updated_at = excluded.updated_at
			RETURNING version`),
			id, contextID, caller, state, string(taskJSON), micros(at), micros(at)).Scan(&version)
		if err != nil {
			return false, err
		}
		return true, db.emit(ctx, tx, store.KindA2ATask, id, version, at)
	})
}

// GetA2ATask implements store.A2ATasks.
func (db *DB) GetA2ATask(ctx context.Context, id string) (store.A2ATask, error) {
	t, err := scanA2ATask(db.reader.QueryRowContext(ctx, db.q(`SELECT `+a2aTaskColumns+` FROM a2a_tasks WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.A2ATask{}, fmt.Errorf("a2a task %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.A2ATask{}, db.fail("get a2a task", err)
	}
	return t, nil
}

// ListA2ATasks implements store.A2ATasks.
func (db *DB) ListA2ATasks(ctx context.Context, f store.A2ATaskFilter) ([]store.A2ATask, bool, error) {
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
	if f.After != "" {
		// Keyset pagination on (created_at, id); an unknown cursor matches
		// nothing rather than restarting from the beginning.
		where = append(where, `(created_at > (SELECT created_at FROM a2a_tasks WHERE id = ?)
			OR (created_at = (SELECT created_at FROM a2a_tasks WHERE id = ?) AND id > ?))`)
		args = append(args, f.After, f.After, f.After)
	}
	query := `SELECT ` + a2aTaskColumns + ` FROM a2a_tasks`
	return queryPage(ctx, db, "list a2a tasks", query, where, " ORDER BY created_at, id LIMIT ?", args, limit, scanA2ATask)
}
