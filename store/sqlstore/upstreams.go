package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley/store"
)

// Registered upstream MCP servers and the pins of their tools
// (store.Upstreams), in upstreams and upstream_tools. A pin goes with its
// upstream (a foreign key with ON DELETE CASCADE), so that a pin can never
// outlive the registration it was made under, even when a removal races a
// tool's first sight on another replica.

const upstreamColumns = `name, version, spec, source, created_at, updated_at`

const upstreamToolColumns = `upstream, tool, version, approved_hash, approved_at, seen_hash, seen_at, first_seen_at`

func scanUpstream(row interface{ Scan(...any) error }) (store.Upstream, error) {
	var u store.Upstream
	var spec string
	var created, updated int64
	if err := row.Scan(&u.Name, &u.Version, &spec, &u.Source, &created, &updated); err != nil {
		return store.Upstream{}, err
	}
	u.Spec = []byte(spec)
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	return u, nil
}

func scanUpstreamTool(row interface{ Scan(...any) error }) (store.UpstreamTool, error) {
	var t store.UpstreamTool
	var approvedAt, seenAt, firstSeen int64
	if err := row.Scan(&t.Upstream, &t.Tool, &t.Version, &t.ApprovedHash, &approvedAt, &t.SeenHash, &seenAt, &firstSeen); err != nil {
		return store.UpstreamTool{}, err
	}
	t.ApprovedAt, t.SeenAt, t.FirstSeenAt = fromMicrosOrZero(approvedAt), fromMicrosOrZero(seenAt), fromMicrosOrZero(firstSeen)
	return t, nil
}

// CreateUpstream implements store.Upstreams.
func (db *DB) CreateUpstream(ctx context.Context, u store.Upstream) (store.Upstream, error) {
	if u.Name == "" {
		return store.Upstream{}, errors.New("create upstream: the name is empty")
	}
	u.Version = 1
	u.UpdatedAt = u.CreatedAt
	var out store.Upstream
	err := db.inTx(ctx, "create upstream", func(tx *sql.Tx) (bool, error) {
		row := tx.QueryRowContext(ctx, db.q(`INSERT INTO upstreams (`+upstreamColumns+`) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO NOTHING RETURNING `+upstreamColumns),
			u.Name, u.Version, string(u.Spec), u.Source, micros(u.CreatedAt), micros(u.UpdatedAt))
		var err error
		out, err = scanUpstream(row)
		if errors.Is(err, sql.ErrNoRows) {
			return false, fmt.Errorf("upstream %q: %w", u.Name, store.ErrExists)
		}
		if err != nil {
			return false, err
		}
		return true, db.emit(ctx, tx, store.KindUpstream, out.Name, out.Version, out.UpdatedAt)
	})
	if err != nil {
		return store.Upstream{}, err
	}
	return out, nil
}

// GetUpstream implements store.Upstreams.
func (db *DB) GetUpstream(ctx context.Context, name string) (store.Upstream, error) {
	u, err := scanUpstream(db.reader.QueryRowContext(ctx, db.q(`SELECT `+upstreamColumns+` FROM upstreams WHERE name = ?`), name))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Upstream{}, fmt.Errorf("upstream %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return store.Upstream{}, db.fail("get upstream", err)
	}
	return u, nil
}

// ListUpstreams implements store.Upstreams.
func (db *DB) ListUpstreams(ctx context.Context) ([]store.Upstream, error) {
	return queryAll(ctx, db, "list upstreams", `SELECT `+upstreamColumns+` FROM upstreams ORDER BY name`, nil, scanUpstream)
}

// UpdateUpstream implements store.Upstreams.
func (db *DB) UpdateUpstream(ctx context.Context, u store.Upstream, expectedVersion int64) (store.Upstream, error) {
	var out store.Upstream
	err := db.inTx(ctx, "update upstream", func(tx *sql.Tx) (bool, error) {
		row := tx.QueryRowContext(ctx, db.q(`UPDATE upstreams SET version = version + 1, spec = ?, source = ?, updated_at = ?
			WHERE name = ? AND version = ? RETURNING `+upstreamColumns),
			string(u.Spec), u.Source, micros(u.UpdatedAt), u.Name, expectedVersion)
		var err error
		out, err = scanUpstream(row)
		if errors.Is(err, sql.ErrNoRows) {
			return false, db.versionConflict(ctx, tx, `SELECT version FROM upstreams WHERE name = ?`,
				store.KindUpstream, fmt.Sprintf("upstream %q", u.Name), u.Name, expectedVersion, u.Name)
		}
		if err != nil {
			return false, err
		}
		return true, db.emit(ctx, tx, store.KindUpstream, out.Name, out.Version, out.UpdatedAt)
	})
	if err != nil {
		return store.Upstream{}, err
	}
	return out, nil
}

// DeleteUpstream implements store.Upstreams. Its pins go with it (ON
// DELETE CASCADE).
func (db *DB) DeleteUpstream(ctx context.Context, name string, at time.Time) error {
	return db.inTx(ctx, "delete upstream", func(tx *sql.Tx) (bool, error) {
		var version int64
		err := tx.QueryRowContext(ctx, db.q(`DELETE FROM upstreams WHERE name = ? RETURNING version`), name).Scan(&version)
		if errors.Is(err, sql.ErrNoRows) {
			return false, fmt.Errorf("upstream %q: %w", name, store.ErrNotFound)
		}
		if err != nil {
			return false, err
		}
		return true, db.emit(ctx, tx, store.KindUpstream, name, version+1, at)
	})
}

// CreateUpstreamTool implements store.Upstreams. The insert takes the
// upstream's row from upstreams (INSERT … SELECT), so that a pin for an
// upstream that is not registered inserts nothing; ON CONFLICT makes the
// first of several concurrent sightings the only one that inserts.
func (db *DB) CreateUpstreamTool(ctx context.Context, t store.UpstreamTool) (store.UpstreamTool, error) {
	if t.Upstream == "" || t.Tool == "" {
		return store.UpstreamTool{}, errors.New("create upstream tool: the upstream or tool name is empty")
	}
	t.Version = 1
	var out store.UpstreamTool
	err := db.inTx(ctx, "create upstream tool", func(tx *sql.Tx) (bool, error) {
		row := tx.QueryRowContext(ctx, db.q(`INSERT INTO upstream_tools (`+upstreamToolColumns+`)
			SELECT name, ?, ?, ?, ?, ?, ?, ? FROM upstreams WHERE name = ?
			ON CONFLICT (upstream, tool) DO NOTHING RETURNING `+upstreamToolColumns),
			t.Tool, t.Version, t.ApprovedHash, microsOrZero(t.ApprovedAt), t.SeenHash, microsOrZero(t.SeenAt), microsOrZero(t.FirstSeenAt),
			t.Upstream)
		var err error
		out, err = scanUpstreamTool(row)
		if errors.Is(err, sql.ErrNoRows) {
			// Either the pin exists or the upstream does not.
			var one int
			switch err := tx.QueryRowContext(ctx, db.q(`SELECT 1 FROM upstreams WHERE name = ?`), t.Upstream).Scan(&one); {
			case errors.Is(err, sql.ErrNoRows):
				return false, fmt.Errorf("upstream %q: %w", t.Upstream, store.ErrNotFound)
			case err != nil:
				return false, err
			}
			return false, fmt.Errorf("upstream %q tool %q: %w", t.Upstream, t.Tool, store.ErrExists)
		}
		if err != nil {
			return false, err
		}
		return true, db.emit(ctx, tx, store.KindUpstreamTool, out.Upstream, out.Version, out.FirstSeenAt)
	})
	if err != nil {
		return store.UpstreamTool{}, err
	}
	return out, nil
}

// GetUpstreamTool implements store.Upstreams.
func (db *DB) GetUpstreamTool(ctx context.Context, upstream, tool string) (store.UpstreamTool, error) {
	t, err := scanUpstreamTool(db.reader.QueryRowContext(ctx,
		db.q(`SELECT `+upstreamToolColumns+` FROM upstream_tools WHERE upstream = ? AND tool = ?`), upstream, tool))
	if errors.Is(err, sql.ErrNoRows) {
		return store.UpstreamTool{}, fmt.Errorf("upstream %q tool %q: %w", upstream, tool, store.ErrNotFound)
	}
	if err != nil {
		return store.UpstreamTool{}, db.fail("get upstream tool", err)
	}
	return t, nil
}

// ListUpstreamTools implements store.Upstreams.
func (db *DB) ListUpstreamTools(ctx context.Context, upstream string) ([]store.UpstreamTool, error) {
	return queryAll(ctx, db, "list upstream tools",
		`SELECT `+upstreamToolColumns+` FROM upstream_tools WHERE upstream = ? ORDER BY tool`, []any{upstream}, scanUpstreamTool)
}

// UpdateUpstreamTool implements store.Upstreams.
func (db *DB) UpdateUpstreamTool(ctx context.Context, t store.UpstreamTool, expectedVersion int64) (store.UpstreamTool, error) {
	var out store.UpstreamTool
	err := db.inTx(ctx, "update upstream tool", func(tx *sql.Tx) (bool, error) {
		row := tx.QueryRowContext(ctx, db.q(`UPDATE upstream_tools SET version = version + 1,
				approved_hash = ?, approved_at = ?, seen_hash = ?, seen_at = ?
			WHERE upstream = ? AND tool = ? AND version = ? RETURNING `+upstreamToolColumns),
			t.ApprovedHash, microsOrZero(t.ApprovedAt), t.SeenHash, microsOrZero(t.SeenAt), t.Upstream, t.Tool, expectedVersion)
		var err error
		out, err = scanUpstreamTool(row)
		if errors.Is(err, sql.ErrNoRows) {
			return false, db.versionConflict(ctx, tx, `SELECT version FROM upstream_tools WHERE upstream = ? AND tool = ?`,
				store.KindUpstreamTool, fmt.Sprintf("upstream %q tool %q", t.Upstream, t.Tool), t.Upstream+"/"+t.Tool, expectedVersion,
				t.Upstream, t.Tool)
		}
		if err != nil {
			return false, err
		}
		at := out.SeenAt
		if out.ApprovedAt.After(at) {
			at = out.ApprovedAt
		}
		return true, db.emit(ctx, tx, store.KindUpstreamTool, out.Upstream, out.Version, at)
	})
	if err != nil {
		return store.UpstreamTool{}, err
	}
	return out, nil
}

// versionConflict explains why a versioned update matched no row: the
// record is gone (ErrNotFound, described as what) or its version moved (a
// *VersionConflictError for kind and key). query reads the version by the
// record's key, args.
func (db *DB) versionConflict(ctx context.Context, tx *sql.Tx, query, kind, what, key string, expected int64, args ...any) error {
	var current int64
	err := tx.QueryRowContext(ctx, db.q(query), args...).Scan(&current)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return err
	}
	return &store.VersionConflictError{Kind: kind, Key: key, Expected: expected, Current: current}
}

// queryAll runs a listing that returns every matching row.
func queryAll[T any](ctx context.Context, db *DB, op, query string, args []any,
	scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	rows, err := db.reader.QueryContext(ctx, db.q(query), args...)
	if err != nil {
		return nil, db.fail(op, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, db.fail(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, db.fail(op, err)
	}
	return out, nil
}
