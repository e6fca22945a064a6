package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/parleyhq/parley/store"
)

// The audit log (store.Audit), in audit_log, with its chain head in the
// one row of audit_head. An append (of one record or a batch) first takes
// the head with an UPDATE … RETURNING, which on PostgreSQL holds the row's
// lock until commit, so appends from every replica queue there and each
// links onto the hash its predecessor committed; on SQLite the write
// transaction is already exclusive. Seq is assigned from the head, not
// from a database sequence, so that a rolled-back append leaves no gap for
// a verifier to mistake for a removed record. Appends emit nothing on the
// feed.
//
// The audit outbox (store.AuditOutbox), in audit_outbox: inTx inserts the
// record of a write there, in the write's transaction; ChainAuditOutbox
// moves it into the chain. It reads the outbox only once it holds the
// head: on PostgreSQL (READ COMMITTED) each statement sees what committed
// before it began, so it sees the deletions of the replica that held the
// head before, and never chains a record twice.

const auditColumns = `seq, at, subject, client, action, target, ticket_id, outcome, detail,
	parent, request_id, task_id, negotiation_id, prev_hash, hash`

// auditOutboxColumns are the outbox's columns but its id: audit_log's
// without the chain's.
const auditOutboxColumns = `at, subject, client, action, target, ticket_id, outcome, detail,
	parent, request_id, task_id, negotiation_id`

func scanAudit(row interface{ Scan(...any) error }) (store.AuditRecord, error) {
	var r store.AuditRecord
	var at int64
	var detail string
	if err := row.Scan(&r.Seq, &at, &r.Subject, &r.Client, &r.Action, &r.Target, &r.TicketID, &r.Outcome, &detail,
		&r.Parent, &r.RequestID, &r.TaskID, &r.NegotiationID, &r.PrevHash, &r.Hash); err != nil {
		return store.AuditRecord{}, err
	}
	r.At = fromMicros(at)
	if detail != "" {
		r.Detail = []byte(detail)
	}
	return r, nil
}

// AppendAudit implements store.Audit.
func (db *DB) AppendAudit(ctx context.Context, r store.AuditRecord) (store.AuditRecord, error) {
	out, err := db.AppendAuditBatch(ctx, []store.AuditRecord{r})
	if err != nil {
		return store.AuditRecord{}, err
	}
	return out[0], nil
}

// auditInsertRows is how many records one INSERT statement carries: 15
// parameters each, well under SQLite's and PostgreSQL's limits.
const auditInsertRows = 64

// AppendAuditBatch implements store.Audit.
func (db *DB) AppendAuditBatch(ctx context.Context, rs []store.AuditRecord) ([]store.AuditRecord, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	out, _, err := db.chainAudit(ctx, rs, 0)
	return out, err
}

// ChainAuditOutbox implements store.AuditOutbox.
func (db *DB) ChainAuditOutbox(ctx context.Context, rs []store.AuditRecord, limit int) ([]store.AuditRecord, int, error) {
	return db.chainAudit(ctx, rs, limit)
}

// checkedAudit returns rs as they will be stored and hashed, or why one
// cannot be.
func checkedAudit(rs []store.AuditRecord) ([]store.AuditRecord, error) {
	out := make([]store.AuditRecord, len(rs))
	for i, r := range rs {
		if err := store.CheckAuditRecord(r); err != nil {
			if len(rs) > 1 {
				err = fmt.Errorf("record %d of %d: %w", i+1, len(rs), err)
			}
			return nil, err
		}
		// Hash what a later read returns: the time at microsecond precision.
		r.At = fromMicros(micros(r.At))
		if len(r.Detail) == 0 {
			r.Detail = nil
		}
		out[i] = r
	}
	return out, nil
}

// chainAudit appends, in one transaction, up to limit outbox records and
// then rs. The transaction takes the head (its lock, on PostgreSQL) for
// every record at once, reads the outbox, inserts with one multi-row
// INSERT per auditInsertRows records, deletes what it moved from the
// outbox, and writes the new head.
func (db *DB) chainAudit(ctx context.Context, rs []store.AuditRecord, limit int) ([]store.AuditRecord, int, error) {
	out, err := checkedAudit(rs)
	if err != nil {
		return nil, 0, err
	}
	moved := 0
	err = db.inTx(ctx, "append audit records", func(tx *sql.Tx) (bool, error) {
		moved = 0
		var head store.AuditChainHead
		err := db.txQueryRow(ctx, tx, `UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash`).Scan(&head.Seq, &head.Hash)
		if errors.Is(err, sql.ErrNoRows) {
			return false, fmt.Errorf("the audit chain head (table audit_head) is missing: %w", store.ErrCorrupt)
		}
		if err != nil {
			return false, err
		}
		var ids []any
		var all []store.AuditRecord
		if limit > 0 {
			ids, all, err = db.readAuditOutbox(ctx, tx, limit)
			if err != nil {
				return false, err
			}
		}
		all = append(all, out...)
		head = store.ChainAudit(head, all)
		copy(out, all[len(all)-len(out):])
		insert := cmp.Or(db.dialect.AuditInsert, "INSERT")
		for chunk := range slices.Chunk(all, auditInsertRows) {
			args := make([]any, 0, 15*len(chunk))
			for _, r := range chunk {
				args = append(args, r.Seq, micros(r.At), r.Subject, r.Client, r.Action, r.Target, r.TicketID, r.Outcome, string(r.Detail),
					r.Parent, r.RequestID, r.TaskID, r.NegotiationID, r.PrevHash, r.Hash)
			}
			row := "(" + placeholders(15) + ")"
			values := strings.TrimSuffix(strings.Repeat(row+", ", len(chunk)), ", ")
			if _, err := db.txExec(ctx, tx, insert+` INTO audit_log (`+auditColumns+`) VALUES `+values, args...); err != nil {
				return false, err
			}
		}
		if len(ids) > 0 {
			res, err := tx.ExecContext(ctx, db.q(`DELETE FROM audit_outbox WHERE id IN (`+placeholders(len(ids))+`)`), ids...)
			if err != nil {
				return false, fmt.Errorf("delete the chained records from the audit outbox: %w", err)
			}
			// Only if the head's lock failed to serialize appenders.
			if n, err := res.RowsAffected(); err == nil && n != int64(len(ids)) {
				return false, fmt.Errorf("%d of %d audit outbox records were chained meanwhile by another appender; nothing was chained",
					int64(len(ids))-n, len(ids))
			}
		}
		if _, err := db.txExec(ctx, tx, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, head.Seq, head.Hash); err != nil {
			return false, err
		}
		moved = len(ids)
		return false, nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, moved, nil
}

// readAuditOutbox reads up to limit outbox records, oldest first, as
// records to chain, with their ids.
func (db *DB) readAuditOutbox(ctx context.Context, tx *sql.Tx, limit int) ([]any, []store.AuditRecord, error) {
	query := `SELECT id, ` + auditOutboxColumns + ` FROM audit_outbox ORDER BY id LIMIT ?`
	var rows *sql.Rows
	var err error
	if st := db.txStmt(ctx, tx, query); st != nil {
		rows, err = st.QueryContext(ctx, limit)
	} else {
		rows, err = tx.QueryContext(ctx, db.q(query), limit)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read the audit outbox: %w", err)
	}
	defer rows.Close()
	var ids []any
	var rs []store.AuditRecord
	for rows.Next() {
		var id, at int64
		var r store.AuditRecord
		var detail string
		if err := rows.Scan(&id, &at, &r.Subject, &r.Client, &r.Action, &r.Target, &r.TicketID, &r.Outcome, &detail,
			&r.Parent, &r.RequestID, &r.TaskID, &r.NegotiationID); err != nil {
			return nil, nil, fmt.Errorf("read the audit outbox: %w", err)
		}
		r.At = fromMicros(at)
		if detail != "" {
			r.Detail = []byte(detail)
		}
		ids, rs = append(ids, id), append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read the audit outbox: %w", err)
	}
	return ids, rs, nil
}

// insertAuditOutbox puts r into the outbox inside tx, the transaction of
// the write it records.
func (db *DB) insertAuditOutbox(ctx context.Context, tx *sql.Tx, r store.AuditRecord) error {
	checked, err := checkedAudit([]store.AuditRecord{r})
	if err != nil {
		return err
	}
	r = checked[0]
	if _, err := db.txExec(ctx, tx, `INSERT INTO audit_outbox (`+auditOutboxColumns+`) VALUES (`+placeholders(12)+`)`,
		micros(r.At), r.Subject, r.Client, r.Action, r.Target, r.TicketID, r.Outcome, string(r.Detail),
		r.Parent, r.RequestID, r.TaskID, r.NegotiationID); err != nil {
		return fmt.Errorf("insert the call's audit record into the audit outbox: %w", err)
	}
	return nil
}

// AuditOutboxLen implements store.AuditOutbox.
func (db *DB) AuditOutboxLen(ctx context.Context) (int64, error) {
	var n int64
	if err := db.queryRow(ctx, db.reader, `SELECT COUNT(*) FROM audit_outbox`).Scan(&n); err != nil {
		return 0, db.fail("count the audit outbox", err)
	}
	return n, nil
}

// ListAudit implements store.Audit.
func (db *DB) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditRecord, bool, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	var where []string
	var args []any
	eq := func(column, value string) {
		if value != "" {
			where = append(where, column+" = ?")
			args = append(args, value)
		}
	}
	eq("ticket_id", f.TicketID)
	eq("subject", f.Subject)
	eq("client", f.Client)
	eq("outcome", f.Outcome)
	eq("request_id", f.RequestID)
	eq("task_id", f.TaskID)
	eq("negotiation_id", f.NegotiationID)
	if prefix, ok := strings.CutSuffix(f.Action, "*"); ok && strings.HasSuffix(prefix, ".") {
		where = append(where, `action LIKE ? ESCAPE '\'`)
		args = append(args, likeEscape(prefix)+"%")
	} else {
		eq("action", f.Action)
	}
	if f.Parent != 0 {
		where = append(where, "parent = ?")
		args = append(args, f.Parent)
	}
	if !f.Since.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, micros(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "at < ?")
		args = append(args, micros(f.Until))
	}
	order := "ASC"
	if f.After != 0 {
		if f.Newest {
			where = append(where, "seq < ?")
		} else {
			where = append(where, "seq > ?")
		}
		args = append(args, f.After)
	}
	if f.Newest {
		order = "DESC"
	}
	query := `SELECT ` + auditColumns + ` FROM audit_log`
	return queryPage(ctx, db, "list audit records", query, where, " ORDER BY seq "+order+" LIMIT ?", args, limit, scanAudit)
}

// AuditHead implements store.Audit.
func (db *DB) AuditHead(ctx context.Context) (store.AuditChainHead, error) {
	var h store.AuditChainHead
	err := db.reader.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&h.Seq, &h.Hash)
	if errors.Is(err, sql.ErrNoRows) {
		return store.AuditChainHead{}, fmt.Errorf("the audit chain head (table audit_head) is missing: %w", store.ErrCorrupt)
	}
	if err != nil {
		return store.AuditChainHead{}, db.fail("read audit chain head", err)
	}
	return h, nil
}
