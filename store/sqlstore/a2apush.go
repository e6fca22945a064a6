package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/parleyhq/parley/store"
)

// Push notification configurations of A2A tasks (store.A2APushConfigs),
// in a2a_push_configs. They are not workspace changes: nothing goes on the
// feed.

// SaveA2APushConfig implements store.A2APushConfigs.
func (db *DB) SaveA2APushConfig(ctx context.Context, taskID, id string, config []byte) error {
	if id == "" {
		return errors.New("save a2a push config: the configuration ID is empty")
	}
	return db.inTx(ctx, "save a2a push config", func(tx *sql.Tx) (bool, error) {
		// An update keeps seq, and so the configuration's place.
		_, err := db.txExec(ctx, tx, `INSERT INTO a2a_push_configs (task_id, id, config) VALUES (?, ?, ?)
			ON CONFLICT (task_id, id) DO UPDATE SET config = excluded.config`, taskID, id, string(config))
		return false, err
	})
}

// GetA2APushConfig implements store.A2APushConfigs.
func (db *DB) GetA2APushConfig(ctx context.Context, taskID, id string) (store.A2APushConfig, error) {
	c := store.A2APushConfig{TaskID: taskID, ID: id}
	err := db.queryRow(ctx, db.reader, `SELECT config FROM a2a_push_configs WHERE task_id = ? AND id = ?`, taskID, id).Scan((*[]byte)(&c.Config))
	if errors.Is(err, sql.ErrNoRows) {
		return store.A2APushConfig{}, fmt.Errorf("a2a push config %q of task %q: %w", id, taskID, store.ErrNotFound)
	}
	if err != nil {
		return store.A2APushConfig{}, db.fail("get a2a push config", err)
	}
	return c, nil
}

// ListA2APushConfigs implements store.A2APushConfigs.
func (db *DB) ListA2APushConfigs(ctx context.Context, taskID string) ([]store.A2APushConfig, error) {
	rows, err := db.query(ctx, db.reader, `SELECT id, config FROM a2a_push_configs WHERE task_id = ? ORDER BY seq`, taskID)
	if err != nil {
		return nil, db.fail("list a2a push configs", err)
	}
	defer rows.Close()
	var out []store.A2APushConfig
	for rows.Next() {
		c := store.A2APushConfig{TaskID: taskID}
		if err := rows.Scan(&c.ID, (*[]byte)(&c.Config)); err != nil {
			return nil, db.fail("list a2a push configs", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, db.fail("list a2a push configs", err)
	}
	return out, nil
}

// DeleteA2APushConfig implements store.A2APushConfigs.
func (db *DB) DeleteA2APushConfig(ctx context.Context, taskID, id string) error {
	return db.inTx(ctx, "delete a2a push config", func(tx *sql.Tx) (bool, error) {
		_, err := db.txExec(ctx, tx, `DELETE FROM a2a_push_configs WHERE task_id = ? AND id = ?`, taskID, id)
		return false, err
	})
}

// DeleteA2APushConfigs implements store.A2APushConfigs.
func (db *DB) DeleteA2APushConfigs(ctx context.Context, taskID string) error {
	return db.inTx(ctx, "delete a2a push configs", func(tx *sql.Tx) (bool, error) {
		_, err := db.txExec(ctx, tx, `DELETE FROM a2a_push_configs WHERE task_id = ?`, taskID)
		return false, err
	})
}
