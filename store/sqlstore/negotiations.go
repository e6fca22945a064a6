package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley/store"
)

// Negotiations (store.Negotiations), in negotiations. trigger_key is NULL
// when empty, so that only keys actually given are unique; lease_owner is
// '' and lease_expires 0 when nobody holds the lease.
//
// Every conditional write (claim, update, renew) is one UPDATE whose WHERE
// carries the whole condition, so that it holds at the moment of the write
// on every backend; when it matches nothing, a second read in the same
// transaction tells why. A claim selects its row with the dialect's
// SkipLocked (FOR UPDATE SKIP LOCKED on PostgreSQL), so that concurrent
// claimers on several replicas pass over a row another one is taking; on
// SQLite the single writer serializes claims.

const negotiationColumns = `id, subject_kind, subject_id, trigger_key, state, data, version, lease_owner, lease_expires, created_at, updated_at`

func scanNegotiation(row interface{ Scan(...any) error }) (store.Negotiation, error) {
	var n store.Negotiation
	var trigger sql.NullString
	var data string
	var expires, created, updated int64
	if err := row.Scan(&n.ID, &n.SubjectKind, &n.SubjectID, &trigger, &n.State, &data, &n.Version,
		&n.LeaseOwner, &expires, &created, &updated); err != nil {
		return store.Negotiation{}, err
	}
	n.TriggerKey = trigger.String
	n.Data = []byte(data)
	if expires != 0 {
		n.LeaseExpires = fromMicros(expires)
	}
	n.CreatedAt, n.UpdatedAt = fromMicros(created), fromMicros(updated)
	return n, nil
}

func checkNegotiationState(state string) error {
	switch state {
	case store.NegotiationRunning, store.NegotiationPendingHuman, store.NegotiationDone:
		return nil
	}
	return fmt.Errorf("state %q is not %s, %s or %s", state, store.NegotiationRunning, store.NegotiationPendingHuman, store.NegotiationDone)
}

// CreateNegotiation implements store.Negotiations.
func (db *DB) CreateNegotiation(ctx context.Context, n store.Negotiation) (store.Negotiation, error) {
	if n.ID == "" {
		return store.Negotiation{}, errors.New("create negotiation: the ID is empty")
	}
	if err := checkNegotiationState(n.State); err != nil {
		return store.Negotiation{}, fmt.Errorf("create negotiation %q: %w", n.ID, err)
	}
	n.Version = 1
	n.CreatedAt = fromMicros(micros(n.CreatedAt))
	n.UpdatedAt = n.CreatedAt
	n.LeaseOwner, n.LeaseExpires = "", time.Time{}
	trigger := sql.NullString{String: n.TriggerKey, Valid: n.TriggerKey != ""}
	err := db.inTx(ctx, "create negotiation", func(tx *sql.Tx) (bool, error) {
		// No conflict target: a taken ID and a taken trigger key both do
		// nothing, and the reads below tell which it was.
		res, err := tx.ExecContext(ctx, db.q(`INSERT INTO negotiations (`+negotiationColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, '', 0, ?, ?) ON CONFLICT DO NOTHING`),
			n.ID, n.SubjectKind, n.SubjectID, trigger, n.State, string(n.Data), n.Version, micros(n.CreatedAt), micros(n.UpdatedAt))
		if err != nil {
			return false, err
		}
		if rows, err := res.RowsAffected(); err != nil {
			return false, err
		} else if rows == 0 {
			return false, db.negotiationExists(ctx, tx, n)
		}
		return true, db.emit(ctx, tx, store.KindNegotiation, n.ID, n.Version, n.UpdatedAt)
	})
	if err != nil {
		return store.Negotiation{}, err
	}
	return n, nil
}

// negotiationExists explains why an insert did nothing.
func (db *DB) negotiationExists(ctx context.Context, tx *sql.Tx, n store.Negotiation) error {
	var one int
	err := tx.QueryRowContext(ctx, db.q(`SELECT 1 FROM negotiations WHERE id = ?`), n.ID).Scan(&one)
	if err == nil {
		return fmt.Errorf("negotiation %q: %w", n.ID, store.ErrExists)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if n.TriggerKey != "" {
		var other string
		err := tx.QueryRowContext(ctx, db.q(`SELECT id FROM negotiations WHERE trigger_key = ?`), n.TriggerKey).Scan(&other)
		if err == nil {
			return fmt.Errorf("negotiation %q: trigger key %q is taken by negotiation %q: %w", n.ID, n.TriggerKey, other, store.ErrExists)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	return fmt.Errorf("negotiation %q: insert did nothing but neither its ID nor its trigger key is taken", n.ID)
}

// GetNegotiation implements store.Negotiations.
func (db *DB) GetNegotiation(ctx context.Context, id string) (store.Negotiation, error) {
	n, err := scanNegotiation(db.reader.QueryRowContext(ctx, db.q(`SELECT `+negotiationColumns+` FROM negotiations WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Negotiation{}, fmt.Errorf("negotiation %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Negotiation{}, db.fail("get negotiation", err)
	}
	return n, nil
}

// GetNegotiationByTrigger implements store.Negotiations.
func (db *DB) GetNegotiationByTrigger(ctx context.Context, triggerKey string) (store.Negotiation, error) {
	if triggerKey == "" {
		return store.Negotiation{}, fmt.Errorf("negotiation with an empty trigger key: %w", store.ErrNotFound)
	}
	n, err := scanNegotiation(db.reader.QueryRowContext(ctx, db.q(`SELECT `+negotiationColumns+` FROM negotiations WHERE trigger_key = ?`), triggerKey))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Negotiation{}, fmt.Errorf("negotiation with trigger key %q: %w", triggerKey, store.ErrNotFound)
	}
	if err != nil {
		return store.Negotiation{}, db.fail("get negotiation by trigger", err)
	}
	return n, nil
}

// ListNegotiations implements store.Negotiations.
func (db *DB) ListNegotiations(ctx context.Context, f store.NegotiationFilter) ([]store.Negotiation, bool, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	var where []string
	var args []any
	if f.SubjectKind != "" {
		where = append(where, "subject_kind = ?")
		args = append(args, f.SubjectKind)
	}
	if f.SubjectID != "" {
		where = append(where, "subject_id = ?")
		args = append(args, f.SubjectID)
	}
	if len(f.States) > 0 {
		where = append(where, "state IN ("+placeholders(len(f.States))+")")
		for _, s := range f.States {
			args = append(args, s)
		}
	}
	if f.After != "" {
		where = append(where, "id > ?")
		args = append(args, f.After)
	}
	query := `SELECT ` + negotiationColumns + ` FROM negotiations`
	return queryPage(ctx, db, "list negotiations", query, where, " ORDER BY id LIMIT ?", args, limit, scanNegotiation)
}

// ClaimNegotiation implements store.Negotiations.
func (db *DB) ClaimNegotiation(ctx context.Context, owner string, now time.Time, ttl time.Duration) (store.Negotiation, error) {
	if owner == "" {
		return store.Negotiation{}, errors.New("claim negotiation: the owner is empty")
	}
	at := micros(now)
	// The claimable condition is repeated on the outer UPDATE, so that a row
	// claimed by a concurrent transaction between selection and update is
	// not taken twice, whatever the backend's locking.
	const claimable = `state = ? AND (lease_owner = '' OR lease_expires <= ?)`
	query := `UPDATE negotiations SET lease_owner = ?, lease_expires = ?
		WHERE id = (SELECT id FROM negotiations WHERE ` + claimable + `
			ORDER BY updated_at, id LIMIT 1` + db.dialect.SkipLocked + `)
		AND ` + claimable + `
		RETURNING ` + negotiationColumns
	var out store.Negotiation
	err := db.inTx(ctx, "claim negotiation", func(tx *sql.Tx) (bool, error) {
		var err error
		out, err = scanNegotiation(tx.QueryRowContext(ctx, db.q(query), owner, micros(now.Add(ttl)),
			store.NegotiationRunning, at, store.NegotiationRunning, at))
		if errors.Is(err, sql.ErrNoRows) {
			return false, fmt.Errorf("claim negotiation for %q: %w", owner, store.ErrNoNegotiation)
		}
		return false, err
	})
	if err != nil {
		return store.Negotiation{}, err
	}
	return out, nil
}

// UpdateNegotiation implements store.Negotiations.
func (db *DB) UpdateNegotiation(ctx context.Context, n store.Negotiation, expected int64, owner string, now time.Time, ttl time.Duration) (store.Negotiation, error) {
	if err := checkNegotiationState(n.State); err != nil {
		return store.Negotiation{}, fmt.Errorf("update negotiation %q: %w", n.ID, err)
	}
	at := micros(now)
	// The lease after the write: extended for its owner while running,
	// released otherwise (a write without owner requires no live lease, so
	// it only clears an expired one).
	newOwner, newExpires := "", int64(0)
	if owner != "" && n.State == store.NegotiationRunning {
		newOwner, newExpires = owner, micros(now.Add(ttl))
	}
	leaseCond, leaseArgs := `(lease_owner = '' OR lease_expires <= ?)`, []any{at}
	if owner != "" {
		leaseCond, leaseArgs = `lease_owner = ? AND lease_expires > ?`, []any{owner, at}
	}
	args := append([]any{n.State, string(n.Data), micros(n.UpdatedAt), newOwner, newExpires, n.ID, expected}, leaseArgs...)
	var out store.Negotiation
	err := db.inTx(ctx, "update negotiation", func(tx *sql.Tx) (bool, error) {
		var err error
		out, err = scanNegotiation(tx.QueryRowContext(ctx, db.q(`UPDATE negotiations
			SET state = ?, data = ?, version = version + 1, updated_at = ?, lease_owner = ?, lease_expires = ?
			WHERE id = ? AND version = ? AND `+leaseCond+`
			RETURNING `+negotiationColumns), args...))
		if errors.Is(err, sql.ErrNoRows) {
			return false, db.negotiationRefused(ctx, tx, n.ID, expected, owner, now)
		}
		if err != nil {
			return false, err
		}
		return true, db.emit(ctx, tx, store.KindNegotiation, out.ID, out.Version, out.UpdatedAt)
	})
	if err != nil {
		return store.Negotiation{}, err
	}
	return out, nil
}

// negotiationRefused explains why a conditional update matched no row: the
// negotiation is missing, its lease is not as required, or its version
// moved on, checked in that order.
func (db *DB) negotiationRefused(ctx context.Context, tx *sql.Tx, id string, expected int64, owner string, now time.Time) error {
	var version, expires int64
	var holder string
	err := tx.QueryRowContext(ctx, db.q(`SELECT version, lease_owner, lease_expires FROM negotiations WHERE id = ?`), id).
		Scan(&version, &holder, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("negotiation %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return err
	}
	live := holder != "" && expires > micros(now)
	switch {
	case owner != "" && !(live && holder == owner):
		return fmt.Errorf("negotiation %q: %w: %q does not hold its lease", id, store.ErrLeaseLost, owner)
	case owner == "" && live:
		return fmt.Errorf("negotiation %q: %w: %q holds its lease until %s", id, store.ErrLeaseLost, holder,
			fromMicros(expires).Format(time.RFC3339Nano))
	case version != expected:
		return &store.VersionConflictError{Kind: store.KindNegotiation, Key: id, Expected: expected, Current: version}
	}
	return fmt.Errorf("negotiation %q: update matched nothing, yet its version and lease allow it", id)
}

// RenewNegotiationLease implements store.Negotiations.
func (db *DB) RenewNegotiationLease(ctx context.Context, id, owner string, now time.Time, ttl time.Duration) error {
	if owner == "" {
		return fmt.Errorf("renew negotiation %q lease: the owner is empty", id)
	}
	return db.inTx(ctx, "renew negotiation lease", func(tx *sql.Tx) (bool, error) {
		res, err := tx.ExecContext(ctx, db.q(`UPDATE negotiations SET lease_expires = ?
			WHERE id = ? AND lease_owner = ? AND lease_expires > ?`),
			micros(now.Add(ttl)), id, owner, micros(now))
		if err != nil {
			return false, err
		}
		if rows, err := res.RowsAffected(); err != nil {
			return false, err
		} else if rows == 0 {
			var one int
			err := tx.QueryRowContext(ctx, db.q(`SELECT 1 FROM negotiations WHERE id = ?`), id).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return false, fmt.Errorf("negotiation %q: %w", id, store.ErrNotFound)
			}
			if err != nil {
				return false, err
			}
			return false, fmt.Errorf("negotiation %q: %w: %q does not hold its lease", id, store.ErrLeaseLost, owner)
		}
		return false, nil
	})
}

// ReleaseNegotiationLease implements store.Negotiations.
func (db *DB) ReleaseNegotiationLease(ctx context.Context, id, owner string) error {
	if owner == "" {
		return nil
	}
	return db.inTx(ctx, "release negotiation lease", func(tx *sql.Tx) (bool, error) {
		// An expired lease still naming owner is cleared too: nobody else
		// took it, and clearing changes nothing for claimers.
		_, err := tx.ExecContext(ctx, db.q(`UPDATE negotiations SET lease_owner = '', lease_expires = 0
			WHERE id = ? AND lease_owner = ?`), id, owner)
		return false, err
	})
}
