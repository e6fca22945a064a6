// Package postgres is Parley's store for several gateway replicas sharing
// state in one PostgreSQL database, over a pgx connection pool.
//
// The change feed lives in a table; LISTEN/NOTIFY only wakes the other
// replicas, because notifications are lost while a listener is disconnected
// and their payloads are capped. A poll of the table covers those gaps.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Channel is the NOTIFY channel that wakes change-feed subscribers; the
// schema's parley_emit notifies it.
const Channel = "parley_changes"

// migrationLockKey names the advisory lock that keeps replicas starting
// together from migrating twice. (The change feed's lock is in parley_emit,
// in the schema.)
const migrationLockKey = 0x7061726c6501 // "parle" 01

// Options tune the store.
type Options struct {
	Logger *slog.Logger
	// Feed tunes the change feed (poll interval, retention, clock).
	Feed sqlstore.Options
}

// Store is a store.Store in PostgreSQL.
type Store struct {
	*sqlstore.DB
	pool *pgxpool.Pool
	db   *sql.DB
	log  *slog.Logger
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (postgres://…) and brings its schema
// up to date. It starts nothing in the background: Run listens for other
// replicas' changes, polls and sweeps the feed.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx redacts the password from the URL it quotes.
		return nil, fmt.Errorf("postgres store: invalid connection URL: %w: %w", store.ErrUnavailable, err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres store: %w", classify(err))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres store: connect to %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, classify(err))
	}
	db := stdlib.OpenDBFromPool(pool)
	migrations, err := sqlstore.LoadMigrations(migrationFiles, "migrations")
	if err != nil {
		db.Close()
		pool.Close()
		return nil, err
	}
	if err := sqlstore.Migrate(ctx, db, migrations, fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrationLockKey), sqlstore.Rebind); err != nil {
		db.Close()
		pool.Close()
		return nil, fmt.Errorf("postgres store: %w", classify(err))
	}
	feed := opts.Feed
	if feed.Logger == nil {
		feed.Logger = opts.Logger
	}
	s := &Store{pool: pool, db: db, log: opts.Logger}
	dialect := sqlstore.Dialect{
		Name:       "postgres",
		Numbered:   true,
		SkipLocked: " FOR UPDATE SKIP LOCKED",
		EmitChange: "SELECT parley_emit(?, ?, ?, ?, ?)",
		Classify:   classify,
		Listen:     s.listen,
		// pgx prepares and caches each connection's statements by their
		// text (QueryExecModeCacheStatement, its default).
		CachesStatements: true,
	}
	s.DB = sqlstore.New(db, db, dialect, feed)
	return s, nil
}

// Close stops Run and the feed's subscriptions, and closes the pool.
func (s *Store) Close() error {
	s.DB.Close()
	err := s.db.Close()
	s.pool.Close()
	return err
}

// listen holds one connection in LISTEN and wakes the feed on every
// notification, reconnecting with backoff until ctx ends.
func (s *Store) listen(ctx context.Context) {
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		err := s.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
		s.log.Warn("change feed listener lost its connection; the poll covers the gap", "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
	}
}

func (s *Store) listenOnce(ctx context.Context) error {
	pooled, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A connection that was listening must not go back to the pool.
	conn := pooled.Hijack()
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return err
	}
	// Changes may have been committed while we were not listening.
	s.DB.Wake()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		s.DB.Wake()
	}
}

// classify marks connection failures as store.ErrUnavailable.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case len(pgErr.Code) >= 2 && (pgErr.Code[:2] == "08" || pgErr.Code[:2] == "28" || pgErr.Code[:2] == "53" || pgErr.Code[:2] == "57"),
			pgErr.Code == "3D000":
			return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		case pgErr.Code == "XX001" || pgErr.Code == "XX002":
			return fmt.Errorf("%w: %w", store.ErrCorrupt, err)
		}
		return err
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	if errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.SafeToRetry(err) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}
