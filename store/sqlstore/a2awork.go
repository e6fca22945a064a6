package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley/store"
)

// The A2A work queue (store.A2AWorkQueue), in a2a_work. An item is free
// while its lease_until is at or before the claim's now; 0 when it was
// never claimed or was returned.

const a2aWorkColumns = `id, task_id, payload, owner, lease_until, attempts`

func scanA2AWork(row interface{ Scan(...any) error }) (store.A2AWork, error) {
	var w store.A2AWork
	var until int64
	if err := row.Scan(&w.ID, &w.TaskID, (*[]byte)(&w.Payload), &w.Owner, &until, &w.Attempts); err != nil {
		return store.A2AWork{}, err
	}
	if until != 0 {
		w.LeaseUntil = fromMicros(until)
	}
	return w, nil
}

// EnqueueA2AWork implements store.A2AWorkQueue.
func (db *DB) EnqueueA2AWork(ctx context.Context, taskID string, payload []byte) (int64, error) {
	var id int64
	err := db.inTx(ctx, "enqueue a2a work", func(tx *sql.Tx) (bool, error) {
		if err := db.txQueryRow(ctx, tx, `INSERT INTO a2a_work (task_id, payload) VALUES (?, ?) RETURNING id`,
			taskID, string(payload)).Scan(&id); err != nil {
			return false, err
		}
		return true, db.emit(ctx, tx, store.KindA2AWork, taskID, id, db.now())
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// ClaimA2AWork implements store.A2AWorkQueue.
func (db *DB) ClaimA2AWork(ctx context.Context, owner string, now time.Time, lease time.Duration) (store.A2AWork, error) {
	if owner == "" {
		return store.A2AWork{}, errors.New("claim a2a work: the owner is empty")
	}
	at := micros(now)
	// The condition is repeated on the outer UPDATE so that an item
	// claimed by a concurrent transaction between selection and update is
	// not taken twice (PostgreSQL skips the rows other claims have locked;
	// SQLite runs one write transaction at a time).
	query := `UPDATE a2a_work SET owner = ?, lease_until = ?, attempts = attempts + 1
		WHERE id = (SELECT id FROM a2a_work WHERE lease_until <= ? ORDER BY id LIMIT 1` + db.dialect.SkipLocked + `)
		AND lease_until <= ?
		RETURNING ` + a2aWorkColumns
	var out store.A2AWork
	err := db.inTx(ctx, "claim a2a work", func(tx *sql.Tx) (bool, error) {
		var err error
		out, err = scanA2AWork(db.txQueryRow(ctx, tx, query, owner, micros(now.Add(lease)), at, at))
		if errors.Is(err, sql.ErrNoRows) {
			return false, fmt.Errorf("claim a2a work: none ready: %w", store.ErrNotFound)
		}
		return false, err
	})
	if err != nil {
		return store.A2AWork{}, err
	}
	return out, nil
}

// ExtendA2AWork implements store.A2AWorkQueue.
func (db *DB) ExtendA2AWork(ctx context.Context, id int64, owner string, until time.Time) error {
	return db.heldA2AWork(ctx, "extend a2a work", id, owner, `UPDATE a2a_work SET lease_until = ? WHERE id = ? AND owner = ?`, false, micros(until))
}

// CompleteA2AWork implements store.A2AWorkQueue.
func (db *DB) CompleteA2AWork(ctx context.Context, id int64, owner string) error {
	return db.heldA2AWork(ctx, "complete a2a work", id, owner, `DELETE FROM a2a_work WHERE id = ? AND owner = ?`, false)
}

// ReturnA2AWork implements store.A2AWorkQueue.
func (db *DB) ReturnA2AWork(ctx context.Context, id int64, owner string) error {
	return db.heldA2AWork(ctx, "return a2a work", id, owner, `UPDATE a2a_work SET owner = '', lease_until = 0 WHERE id = ? AND owner = ?`, true)
}

// heldA2AWork runs stmt (ending in RETURNING task_id; its arguments:
// first, then id and owner) on an item owner holds; ErrNotFound if owner
// holds no such item. wake emits a KindA2AWork change, the item being free
// again.
func (db *DB) heldA2AWork(ctx context.Context, op string, id int64, owner, stmt string, wake bool, first ...any) error {
	if owner == "" {
		return fmt.Errorf("%s: the owner is empty", op)
	}
	return db.inTx(ctx, op, func(tx *sql.Tx) (bool, error) {
		var taskID string
		err := db.txQueryRow(ctx, tx, stmt+` RETURNING task_id`, append(first, id, owner)...).Scan(&taskID)
		if errors.Is(err, sql.ErrNoRows) {
			return false, fmt.Errorf("a2a work %d held by %q: %w", id, owner, store.ErrNotFound)
		}
		if err != nil || !wake {
			return false, err
		}
		return true, db.emit(ctx, tx, store.KindA2AWork, taskID, id, db.now())
	})
}
