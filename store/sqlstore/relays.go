package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/parleyhq/parley/store"
)

// Tasks relayed to registered agents (store.RelayedTasks), in
// relayed_tasks, keyed by (agent_key, task_id) with agent_key the agent's
// name lower-cased here (agentKey), as the registry matches names.
//
// A save is one INSERT … ON CONFLICT DO UPDATE … WHERE: the WHERE makes a
// save that is older than the record, or changes nothing, a no-op that
// does not bump the version. No save emits a change (store.RelayedTasks
// says why), so no save wakes the feed's subscribers either.

const relayedTaskColumns = `agent, task_id, context_id, caller, state, version, created_at, updated_at`

func scanRelayedTask(row interface{ Scan(...any) error }) (store.RelayedTask, error) {
	var t store.RelayedTask
	var created, updated int64
	if err := row.Scan(&t.Agent, &t.TaskID, &t.ContextID, &t.Caller, &t.State, &t.Version, &created, &updated); err != nil {
		return store.RelayedTask{}, err
	}
	t.CreatedAt, t.UpdatedAt = fromMicros(created), fromMicros(updated)
	return t, nil
}

// SaveRelayedTask implements store.RelayedTasks.
func (db *DB) SaveRelayedTask(ctx context.Context, t store.RelayedTask) error {
	if err := checkRelayedTask(t); err != nil {
		return err
	}
	return db.inTx(ctx, "save relayed task", func(tx *sql.Tx) (bool, error) {
		return false, db.saveRelayedTask(ctx, tx, t)
	})
}

// SaveRelayedTasks saves each task as SaveRelayedTask does, in order, in
// one transaction: the relay records tasks in batches, and a transaction
// per task would bound it by the store's commit rate. Either every save
// is done or none is.
func (db *DB) SaveRelayedTasks(ctx context.Context, ts []store.RelayedTask) error {
	for _, t := range ts {
		if err := checkRelayedTask(t); err != nil {
			return err
		}
	}
	if len(ts) == 0 {
		return nil
	}
	return db.inTx(ctx, "save relayed tasks", func(tx *sql.Tx) (bool, error) {
		for _, t := range ts {
			if err := db.saveRelayedTask(ctx, tx, t); err != nil {
				return false, err
			}
		}
		return false, nil
	})
}

func checkRelayedTask(t store.RelayedTask) error {
	switch {
	case t.Agent == "":
		return errors.New("save relayed task: the agent is empty")
	case t.TaskID == "":
		return errors.New("save relayed task: the task ID is empty")
	}
	return nil
}

// saveRelayedTask is one save in tx, through the prepared-statement cache
// (the relay saves a task or more per relayed call).
//
// The transaction reports nothing changed to inTx even when this wrote:
// inTx then wakes no feed subscriber (there is no change to read), and
// claims no audit intent of ctx. A relayed-task record is the gateway's
// note of a call to an agent, not a write a caller asked Parley for: the
// relay saves it in the background (a context with no audit intent), and
// the relayed call's own audit record does not wait for it.
func (db *DB) saveRelayedTask(ctx context.Context, tx *sql.Tx, t store.RelayedTask) error {
	at := micros(t.UpdatedAt)
	_, err := db.txExec(ctx, tx, `INSERT INTO relayed_tasks (agent_key, `+relayedTaskColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)
		ON CONFLICT (agent_key, task_id) DO UPDATE SET
			state = CASE WHEN excluded.state = '' THEN relayed_tasks.state ELSE excluded.state END,
			context_id = CASE WHEN relayed_tasks.context_id = '' THEN excluded.context_id ELSE relayed_tasks.context_id END,
			version = relayed_tasks.version + 1,
			updated_at = excluded.updated_at
		WHERE excluded.updated_at >= relayed_tasks.updated_at
			AND ((excluded.state <> '' AND excluded.state <> relayed_tasks.state)
				OR (relayed_tasks.context_id = '' AND excluded.context_id <> ''))`,
		agentKey(t.Agent), t.Agent, t.TaskID, t.ContextID, t.Caller, t.State, at, at)
	return err
}

// GetRelayedTask implements store.RelayedTasks.
func (db *DB) GetRelayedTask(ctx context.Context, agent, taskID string) (store.RelayedTask, error) {
	t, err := scanRelayedTask(db.reader.QueryRowContext(ctx, db.q(`SELECT `+relayedTaskColumns+` FROM relayed_tasks WHERE agent_key = ? AND task_id = ?`), agentKey(agent), taskID))
	if errors.Is(err, sql.ErrNoRows) {
		return store.RelayedTask{}, fmt.Errorf("relayed task %q of agent %q: %w", taskID, agent, store.ErrNotFound)
	}
	if err != nil {
		return store.RelayedTask{}, db.fail("get relayed task", err)
	}
	return t, nil
}

// ListRelayedTasks implements store.RelayedTasks.
func (db *DB) ListRelayedTasks(ctx context.Context, f store.RelayedTaskFilter) ([]store.RelayedTask, bool, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	var where []string
	var args []any
	if f.Agent != "" {
		where = append(where, "agent_key = ?")
		args = append(args, agentKey(f.Agent))
	}
	if f.Caller != "" {
		where = append(where, "caller = ?")
		args = append(args, f.Caller)
	}
	if len(f.States) > 0 {
		where = append(where, "state IN ("+placeholders(len(f.States))+")")
		for _, s := range f.States {
			args = append(args, s)
		}
	}
	if f.After != "" {
		// Keyset pagination on (created_at, agent_key, task_id); an unknown
		// cursor matches nothing rather than restarting from the beginning.
		agent, taskID, _ := store.SplitRelayedTaskKey(f.After)
		key := agentKey(agent)
		const cursor = `(SELECT created_at FROM relayed_tasks WHERE agent_key = ? AND task_id = ?)`
		where = append(where, `(created_at > `+cursor+`
			OR (created_at = `+cursor+` AND (agent_key > ? OR (agent_key = ? AND task_id > ?))))`)
		args = append(args, key, taskID, key, taskID, key, key, taskID)
	}
	query := `SELECT ` + relayedTaskColumns + ` FROM relayed_tasks`
	return queryPage(ctx, db, "list relayed tasks", query, where, " ORDER BY created_at, agent_key, task_id LIMIT ?", args, limit, scanRelayedTask)
}
