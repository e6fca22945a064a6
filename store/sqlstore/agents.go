package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parleyhq/parley/store"
)

// The registry of A2A agents (store.Agents), in agents. Names are unique
// ignoring case through name_key, the name lower-cased here in Go so that
// both backends fold case by the same rules.

const agentColumns = `name, version, source_url, card, card_hash, skill_ids, tags, search_text,
	pending_card, pending_hash, drift_summary, drift_at, health, health_error, checked_at, created_at, updated_at`

func agentKey(name string) string { return strings.ToLower(name) }

// listColumn joins entries, lower-cased, one per line with a newline
// before and after each, so that LIKE '%\nentry\n%' finds a whole entry.
// Both sides of a match are lower-cased here: SQLite's LIKE ignores ASCII
// case and PostgreSQL's does not.
func listColumn(entries []string) string {
	if len(entries) == 0 {
		return ""
	}
	return "\n" + strings.ToLower(strings.Join(entries, "\n")) + "\n"
}

func splitListColumn(s string) []string {
	s = strings.Trim(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// likeEscape escapes LIKE's wildcards and the escape character itself;
// queries use ESCAPE '\'.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// microsOrZero stores the zero time as 0 ("never").
func microsOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return micros(t)
}

func fromMicrosOrZero(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return fromMicros(v)
}

func scanAgent(row interface{ Scan(...any) error }) (store.Agent, error) {
	var a store.Agent
	var card, skillIDs, tags string
	var pending sql.NullString
	var driftAt, checkedAt, created, updated int64
	if err := row.Scan(&a.Name, &a.Version, &a.SourceURL, &card, &a.CardHash, &skillIDs, &tags, &a.SearchText,
		&pending, &a.PendingHash, &a.DriftSummary, &driftAt, &a.Health.Status, &a.Health.Error, &checkedAt, &created, &updated); err != nil {
		return store.Agent{}, err
	}
	a.Card = []byte(card)
	a.SkillIDs, a.Tags = splitListColumn(skillIDs), splitListColumn(tags)
	if pending.Valid {
		a.PendingCard = []byte(pending.String)
	}
	a.DriftAt = fromMicrosOrZero(driftAt)
	a.Health.CheckedAt = fromMicrosOrZero(checkedAt)
	a.CreatedAt, a.UpdatedAt = fromMicros(created), fromMicros(updated)
	return a, nil
}

func pendingValue(a store.Agent) any {
	if a.PendingCard == nil {
		return nil
	}
	return string(a.PendingCard)
}

// CreateAgent implements store.Agents.
func (db *DB) CreateAgent(ctx context.Context, a store.Agent) (store.Agent, error) {
	if a.Name == "" {
		return store.Agent{}, errors.New("create agent: the name is empty")
	}
	a.Version = 1
	a.UpdatedAt = a.CreatedAt
	if a.Health.Status == "" {
		a.Health.Status = store.AgentUnknown
	}
	err := db.inTx(ctx, "create agent", func(tx *sql.Tx) (bool, error) {
		res, err := tx.ExecContext(ctx, db.q(`INSERT INTO agents (name_key, `+agentColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name_key) DO NOTHING`),
			agentKey(a.Name), a.Name, a.Version, a.SourceURL, string(a.Card), a.CardHash,
			listColumn(a.SkillIDs), listColumn(a.Tags), strings.ToLower(a.SearchText),
			pendingValue(a), a.PendingHash, a.DriftSummary, microsOrZero(a.DriftAt),
			a.Health.Status, a.Health.Error, microsOrZero(a.Health.CheckedAt), micros(a.CreatedAt), micros(a.UpdatedAt))
		if err != nil {
			return false, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return false, err
		} else if n == 0 {
			return false, fmt.Errorf("agent %q: %w", a.Name, store.ErrExists)
		}
		return true, db.emit(ctx, tx, store.KindAgent, a.Name, a.Version, a.UpdatedAt)
	})
	if err != nil {
		return store.Agent{}, err
	}
	// Read back what was stored, so that the caller sees what a later read
	// returns (times at microsecond precision, empty lists as nil).
	return db.GetAgent(ctx, a.Name)
}

// GetAgent implements store.Agents.
func (db *DB) GetAgent(ctx context.Context, name string) (store.Agent, error) {
	a, err := scanAgent(db.reader.QueryRowContext(ctx, db.q(`SELECT `+agentColumns+` FROM agents WHERE name_key = ?`), agentKey(name)))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Agent{}, fmt.Errorf("agent %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return store.Agent{}, db.fail("get agent", err)
	}
	return a, nil
}

// ListAgents implements store.Agents.
func (db *DB) ListAgents(ctx context.Context, f store.AgentFilter) ([]store.Agent, bool, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	var where []string
	var args []any
	if f.SkillID != "" {
		where = append(where, `skill_ids LIKE ? ESCAPE '\'`)
		args = append(args, "%"+likeEscape("\n"+strings.ToLower(f.SkillID)+"\n")+"%")
	}
	if f.Tag != "" {
		where = append(where, `tags LIKE ? ESCAPE '\'`)
		args = append(args, "%"+likeEscape("\n"+strings.ToLower(f.Tag)+"\n")+"%")
	}
	for _, word := range strings.Fields(strings.ToLower(f.Text)) {
		where = append(where, `search_text LIKE ? ESCAPE '\'`)
		args = append(args, "%"+likeEscape(word)+"%")
	}
	if f.After != "" {
		where = append(where, "name_key > ?")
		args = append(args, agentKey(f.After))
	}
	query := `SELECT ` + agentColumns + ` FROM agents`
	return queryPage(ctx, db, "list agents", query, where, " ORDER BY name_key LIMIT ?", args, limit, scanAgent)
}

// UpdateAgent implements store.Agents.
func (db *DB) UpdateAgent(ctx context.Context, a store.Agent, expectedVersion int64) (store.Agent, error) {
	var out store.Agent
	err := db.inTx(ctx, "update agent", func(tx *sql.Tx) (bool, error) {
		row := tx.QueryRowContext(ctx, db.q(`UPDATE agents SET version = version + 1, source_url = ?, card = ?, card_hash = ?,
				skill_ids = ?, tags = ?, search_text = ?, pending_card = ?, pending_hash = ?, drift_summary = ?, drift_at = ?, updated_at = ?
			WHERE name_key = ? AND version = ? RETURNING `+agentColumns),
			a.SourceURL, string(a.Card), a.CardHash, listColumn(a.SkillIDs), listColumn(a.Tags), strings.ToLower(a.SearchText),
			pendingValue(a), a.PendingHash, a.DriftSummary, microsOrZero(a.DriftAt), micros(a.UpdatedAt),
			agentKey(a.Name), expectedVersion)
		var err error
		out, err = scanAgent(row)
		if errors.Is(err, sql.ErrNoRows) {
			return false, db.agentConflict(ctx, tx, a.Name, expectedVersion)
		}
		if err != nil {
			return false, err
		}
		return true, db.emit(ctx, tx, store.KindAgent, out.Name, out.Version, out.UpdatedAt)
	})
	if err != nil {
		return store.Agent{}, err
	}
	return out, nil
}

// agentConflict explains why a versioned update matched no row.
func (db *DB) agentConflict(ctx context.Context, tx *sql.Tx, name string, expected int64) error {
	var current int64
	err := tx.QueryRowContext(ctx, db.q(`SELECT version FROM agents WHERE name_key = ?`), agentKey(name)).Scan(&current)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("agent %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return err
	}
	return &store.VersionConflictError{Kind: store.KindAgent, Key: name, Expected: expected, Current: current}
}

// SetAgentHealth implements store.Agents. The status changes in a
// statement conditioned on it being different, so that of two probes
// racing to report the same transition exactly one bumps the version (the
// row lock makes the second re-check the condition and match nothing).
func (db *DB) SetAgentHealth(ctx context.Context, name string, h store.AgentHealth) (store.Agent, error) {
	var out store.Agent
	err := db.inTx(ctx, "set agent health", func(tx *sql.Tx) (bool, error) {
		res, err := tx.ExecContext(ctx, db.q(`UPDATE agents SET health = ?, version = version + 1 WHERE name_key = ? AND health <> ?`),
			h.Status, agentKey(name), h.Status)
		if err != nil {
			return false, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return false, err
		}
		row := tx.QueryRowContext(ctx, db.q(`UPDATE agents SET health_error = ?, checked_at = ? WHERE name_key = ? RETURNING `+agentColumns),
			h.Error, microsOrZero(h.CheckedAt), agentKey(name))
		if out, err = scanAgent(row); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return false, fmt.Errorf("agent %q: %w", name, store.ErrNotFound)
			}
			return false, err
		}
		if n == 0 {
			return false, nil
		}
		return true, db.emit(ctx, tx, store.KindAgent, out.Name, out.Version, h.CheckedAt)
	})
	if err != nil {
		return store.Agent{}, err
	}
	return out, nil
}

// DeleteAgent implements store.Agents.
func (db *DB) DeleteAgent(ctx context.Context, name string, at time.Time) error {
	return db.inTx(ctx, "delete agent", func(tx *sql.Tx) (bool, error) {
		var stored string
		var version int64
		err := tx.QueryRowContext(ctx, db.q(`DELETE FROM agents WHERE name_key = ? RETURNING name, version`), agentKey(name)).Scan(&stored, &version)
		if errors.Is(err, sql.ErrNoRows) {
			return false, fmt.Errorf("agent %q: %w", name, store.ErrNotFound)
		}
		if err != nil {
			return false, err
		}
		return true, db.emit(ctx, tx, store.KindAgent, stored, version+1, at)
	})
}
