package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/parleyhq/parley/store"
)

// The audit log (store.Audit), in audit_log, with its chain head in the
// one row of audit_head. An append (of one record or a batch) first bumps
// the head's seq by the number of records with an UPDATE … RETURNING,
// which on PostgreSQL takes the row's lock until commit, so appends from
// every replica queue there and each links onto the hash its predecessor
// committed; on SQLite the write transaction is already exclusive. Seq is assigned from the head, not from a database
// sequence, so that a rolled-back append leaves no gap for a verifier to
// mistake for a removed record. Appends emit nothing on the feed.

const auditColumns = `seq, at, subject, client, action, target, ticket_id, outcome, detail,
	parent, request_id, task_id, negotiation_id, prev_hash, hash`

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

// AppendAuditBatch implements store.Audit. The whole batch takes one
// transaction and three kinds of statement: the head bump, which takes
// the head's lock for every record at once, one multi-row INSERT per
// auditInsertRows records, and the head's new hash.
func (db *DB) AppendAuditBatch(ctx context.Context, rs []store.AuditRecord) ([]store.AuditRecord, error) {
	if len(rs) == 0 {
		return nil, nil
	}
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
	err := db.inTx(ctx, "append audit records", func(tx *sql.Tx) (bool, error) {
		var head store.AuditChainHead
		err := tx.QueryRowContext(ctx, db.q(`UPDATE audit_head SET seq = seq + ? WHERE id = 1 RETURNING seq, hash`), int64(len(out))).
			Scan(&head.Seq, &head.Hash)
		if errors.Is(err, sql.ErrNoRows) {
			return false, fmt.Errorf("the audit chain head (table audit_head) is missing: %w", store.ErrCorrupt)
		}
		if err != nil {
			return false, err
		}
		// The bump returned the head after this batch; the batch links
		// onto the one before.
		head.Seq -= int64(len(out))
		head = store.ChainAudit(head, out)
		for chunk := range slices.Chunk(out, auditInsertRows) {
			args := make([]any, 0, 15*len(chunk))
			for _, r := range chunk {
				args = append(args, r.Seq, micros(r.At), r.Subject, r.Client, r.Action, r.Target, r.TicketID, r.Outcome, string(r.Detail),
					r.Parent, r.RequestID, r.TaskID, r.NegotiationID, r.PrevHash, r.Hash)
			}
			row := "(" + placeholders(15) + ")"
			values := strings.TrimSuffix(strings.Repeat(row+", ", len(chunk)), ", ")
			if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO audit_log (`+auditColumns+`) VALUES `+values), args...); err != nil {
				return false, err
			}
		}
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE audit_head SET hash = ? WHERE id = 1`), head.Hash); err != nil {
			return false, err
		}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
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
