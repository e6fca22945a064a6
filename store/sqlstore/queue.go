package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley/store"
)

// PutAnalysis implements store.Analyses.
func (db *DB) PutAnalysis(ctx context.Context, a store.Analysis) (store.Analysis, error) {
	var out store.Analysis
	err := db.inTx(ctx, "put analysis", func(tx *sql.Tx) (bool, error) {
		var exists int
		err := tx.QueryRowContext(ctx, db.q(`SELECT 1 FROM tickets WHERE id = ?`), a.TicketID).Scan(&exists)
		if errors.Is(err, sql.ErrNoRows) {
			return false, fmt.Errorf("ticket %q: %w", a.TicketID, store.ErrNotFound)
		}
		if err != nil {
			return false, err
		}
		var updated int64
		var findings string
		err = tx.QueryRowContext(ctx, db.q(`INSERT INTO analyses (ticket_id, namespace, author, findings, version, updated_at)
			VALUES (?, ?, ?, ?, 1, ?)
			ON CONFLICT (ticket_id, namespace) DO UPDATE SET author = excluded.author, findings = excluded.findings,
				version = analyses.version + 1, updated_at = excluded.updated_at
			RETURNING ticket_id, namespace, author, findings, version, updated_at`),
			a.TicketID, a.Namespace, a.Author, string(a.Findings), micros(a.UpdatedAt)).
			Scan(&out.TicketID, &out.Namespace, &out.Author, &findings, &out.Version, &updated)
		if err != nil {
			return false, err
		}
		out.Findings, out.UpdatedAt = []byte(findings), fromMicros(updated)
		return true, db.emit(ctx, tx, store.KindAnalysis, out.TicketID+"/"+out.Namespace, out.Version, out.UpdatedAt)
	})
	if err != nil {
		return store.Analysis{}, err
	}
	return out, nil
}

// ListAnalyses implements store.Analyses.
func (db *DB) ListAnalyses(ctx context.Context, ticketID string) ([]store.Analysis, error) {
	rows, err := db.reader.QueryContext(ctx, db.q(`SELECT ticket_id, namespace, author, findings, version, updated_at
		FROM analyses WHERE ticket_id = ? ORDER BY namespace`), ticketID)
	if err != nil {
		return nil, db.fail("list analyses", err)
	}
	defer rows.Close()
	var out []store.Analysis
	for rows.Next() {
		var a store.Analysis
		var findings string
		var updated int64
		if err := rows.Scan(&a.TicketID, &a.Namespace, &a.Author, &findings, &a.Version, &updated); err != nil {
			return nil, db.fail("list analyses", err)
		}
		a.Findings, a.UpdatedAt = []byte(findings), fromMicros(updated)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, db.fail("list analyses", err)
	}
	if len(out) == 0 {
		if _, err := db.GetTicket(ctx, ticketID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

const taskColumns = `id, type, payload, status, claimant, lease_token, lease_until, attempts, result, error, version, created_at, updated_at`

// taskInsertColumns adds ready_at, which scanTask does not read.
const taskInsertColumns = taskColumns + `, ready_at`

func scanTask(row interface{ Scan(...any) error }) (store.Task, error) {
	var t store.Task
	var payload, result string
	var leaseUntil, created, updated int64
	if err := row.Scan(&t.ID, &t.Type, &payload, &t.Status, &t.Claimant, &t.LeaseToken, &leaseUntil,
		&t.Attempts, &result, &t.Error, &t.Version, &created, &updated); err != nil {
		return store.Task{}, err
	}
	t.Payload = []byte(payload)
	if result != "" {
		t.Result = []byte(result)
	}
	if leaseUntil != 0 {
		t.LeaseUntil = fromMicros(leaseUntil)
	}
	t.CreatedAt, t.UpdatedAt = fromMicros(created), fromMicros(updated)
	return t, nil
}

// CreateTask implements store.Tasks.
func (db *DB) CreateTask(ctx context.Context, t store.Task) (store.Task, error) {
	t.Status, t.Version, t.UpdatedAt = store.TaskPending, 1, t.CreatedAt
	err := db.inTx(ctx, "create task", func(tx *sql.Tx) (bool, error) {
		res, err := tx.ExecContext(ctx, db.q(`INSERT INTO tasks (`+taskInsertColumns+`)
			VALUES (?, ?, ?, ?, '', '', 0, 0, '', '', ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`),
			t.ID, t.Type, string(t.Payload), t.Status, t.Version, micros(t.CreatedAt), micros(t.UpdatedAt), micros(t.CreatedAt))
		if err != nil {
			return false, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return false, err
		} else if n == 0 {
			return false, fmt.Errorf("task %q: %w", t.ID, store.ErrExists)
		}
		return true, db.emit(ctx, tx, store.KindTask, t.ID, t.Version, t.UpdatedAt)
	})
	if err != nil {
		return store.Task{}, err
	}
	return t, nil
}

// GetTask implements store.Tasks.
func (db *DB) GetTask(ctx context.Context, id string) (store.Task, error) {
	t, err := scanTask(db.reader.QueryRowContext(ctx, db.q(`SELECT `+taskColumns+` FROM tasks WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Task{}, fmt.Errorf("task %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Task{}, db.fail("get task", err)
	}
	return t, nil
}

// ClaimTask implements store.Tasks.
func (db *DB) ClaimTask(ctx context.Context, c store.Claim) (store.Task, error) {
	if len(c.Types) == 0 {
		return store.Task{}, fmt.Errorf("claim task: no task types given: %w", store.ErrNoTask)
	}
	now := micros(c.Now)
	args := []any{c.Claimant, c.LeaseToken, micros(c.LeaseUntil), micros(c.LeaseUntil), now, now}
	for _, typ := range c.Types {
		args = append(args, typ)
	}
	args = append(args, now)
	// ready_at is repeated on the outer UPDATE so that a row claimed by a
	// concurrent transaction between selection and update is not taken twice.
	query := `UPDATE tasks SET status = 'claimed', claimant = ?, lease_token = ?, lease_until = ?, ready_at = ?,
			attempts = attempts + 1, version = version + 1, updated_at = ?
		WHERE id = (SELECT id FROM tasks WHERE ready_at <= ? AND type IN (` + placeholders(len(c.Types)) + `)
			ORDER BY ready_at, id LIMIT 1` + db.dialect.SkipLocked + `)
		AND ready_at <= ?
		RETURNING ` + taskColumns
	var out store.Task
	err := db.inTx(ctx, "claim task", func(tx *sql.Tx) (bool, error) {
		var err error
		out, err = scanTask(tx.QueryRowContext(ctx, db.q(query), args...))
		if errors.Is(err, sql.ErrNoRows) {
			return false, fmt.Errorf("claim task of types %q: %w", c.Types, store.ErrNoTask)
		}
		if err != nil {
			return false, err
		}
		return true, db.emit(ctx, tx, store.KindTask, out.ID, out.Version, c.Now)
	})
	if err != nil {
		return store.Task{}, err
	}
	return out, nil
}

// FinishTask implements store.Tasks.
func (db *DB) FinishTask(ctx context.Context, id, leaseToken, status string, result json.RawMessage, errMsg string, now time.Time) (store.Task, error) {
	switch status {
	case store.TaskDone, store.TaskFailed, store.TaskPending:
	default:
		return store.Task{}, fmt.Errorf("finish task %q: status %q is not done, failed or pending", id, status)
	}
	readyAt := sql.NullInt64{Int64: micros(now), Valid: status == store.TaskPending}
	var out store.Task
	err := db.inTx(ctx, "finish task", func(tx *sql.Tx) (bool, error) {
		// A requeued task drops its claim so that it is claimable at once.
		var err error
		out, err = scanTask(tx.QueryRowContext(ctx, db.q(`UPDATE tasks SET status = ?, result = ?, error = ?,
				claimant = CASE WHEN ? = 'pending' THEN '' ELSE claimant END,
				lease_token = CASE WHEN ? = 'pending' THEN '' ELSE lease_token END,
				lease_until = CASE WHEN ? = 'pending' THEN 0 ELSE lease_until END,
				ready_at = ?,
				version = version + 1, updated_at = ?
			WHERE id = ? AND status = 'claimed' AND lease_token = ? AND lease_until > ?
			RETURNING `+taskColumns),
			status, string(result), errMsg, status, status, status, readyAt, micros(now), id, leaseToken, micros(now)))
		if errors.Is(err, sql.ErrNoRows) {
			var cur string
			err := tx.QueryRowContext(ctx, db.q(`SELECT status FROM tasks WHERE id = ?`), id).Scan(&cur)
			if errors.Is(err, sql.ErrNoRows) {
				return false, fmt.Errorf("task %q: %w", id, store.ErrNotFound)
			}
			if err != nil {
				return false, err
			}
			return false, fmt.Errorf("task %q (now %s): %w: the lease expired or another claimant holds it", id, cur, store.ErrLeaseLost)
		}
		if err != nil {
			return false, err
		}
		return true, db.emit(ctx, tx, store.KindTask, out.ID, out.Version, now)
	})
	if err != nil {
		return store.Task{}, err
	}
	return out, nil
}

// CountOpenTasks implements store.Tasks.
func (db *DB) CountOpenTasks(ctx context.Context) (map[string]int64, error) {
	return db.countBy(ctx, "count tasks", `SELECT status, COUNT(*) FROM tasks WHERE status IN ('pending', 'claimed') GROUP BY status`)
}
