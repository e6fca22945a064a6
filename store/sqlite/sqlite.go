// Package sqlite is Parley's embedded default store: one SQLite file, no
// server. It uses the pure-Go modernc.org/sqlite driver in WAL mode, with a
// single writer connection (SQLite allows one writer at a time; queuing
// writers in Go rather than on the file lock avoids SQLITE_BUSY) and a small
// pool of read-only connections that WAL lets run beside it.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	sqlitedriver "modernc.org/sqlite"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Options tune the store.
type Options struct {
	Logger *slog.Logger
	// BusyTimeout is how long a connection waits for another process's lock.
	// Default 5s.
	BusyTimeout time.Duration
	// Readers is the size of the read-only pool. Default 4.
	Readers int
	// Feed tunes the change feed (poll interval, retention, clock).
	Feed sqlstore.Options
}

// Store is a store.Store in one SQLite file.
type Store struct {
	*sqlstore.DB
	path           string
	writer, reader *sql.DB
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the SQLite file at path and brings its
// schema up to date. It starts nothing in the background: Run polls the
// feed for other processes' commits and sweeps it.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite store %q: path must be non-empty and contain no '?' or '#': %w", path, store.ErrUnavailable)
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	if opts.Readers <= 0 {
		opts.Readers = 4
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	pragmas := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)",
		opts.BusyTimeout.Milliseconds())

	// The writer sets WAL mode (persistent in the file) before any reader
	// connects; BEGIN IMMEDIATE takes the write lock up front so that a
	// transaction never fails to upgrade from read to write.
	// Its transactions begin and end with prepared statements (txconn.go).
	connector, err := newTxConnector(path + "?_pragma=journal_mode(WAL)&_txlock=immediate&" + pragmas)
	if err != nil {
		return nil, classify(path, "open", err)
	}
	writer := sql.OpenDB(connector)
	writer.SetMaxOpenConns(1)
	writer.SetConnMaxIdleTime(0)
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, classify(path, "open", err)
	}
	migrations, err := sqlstore.LoadMigrations(migrationFiles, "migrations")
	if err != nil {
		writer.Close()
		return nil, err
	}
	if err := sqlstore.Migrate(ctx, writer, migrations, "", nil); err != nil {
		writer.Close()
		return nil, classify(path, "migrate schema", err)
	}
	reader, err := sql.Open("sqlite", path+"?_pragma=query_only(1)&"+pragmas)
	if err != nil {
		writer.Close()
		return nil, classify(path, "open", err)
	}
	reader.SetMaxOpenConns(opts.Readers)
	reader.SetMaxIdleConns(opts.Readers)

	feed := opts.Feed
	if feed.Logger == nil {
		feed.Logger = opts.Logger
	}
	dialect := sqlstore.Dialect{
		Name:        "sqlite",
		Classify:    func(err error) error { return classify(path, "", err) },
		GroupCommit: true,
		AuditInsert: "INSERT OR ROLLBACK",
	}
	s := &Store{path: path, writer: writer, reader: reader}
	// Commits of this process wake the feed directly; Run's poll picks up
	// commits of other processes sharing the file.
	s.DB = sqlstore.New(writer, reader, dialect, feed)
	return s, nil
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Close stops Run and the feed's subscriptions, and closes the file.
// Pending writes are committed already: each store call is one transaction.
func (s *Store) Close() error {
	s.DB.Close()
	return errors.Join(s.reader.Close(), s.writer.Close())
}

// classify explains SQLite failures a person can act on, wrapping the store
// error that matches them.
func classify(path, op string, err error) error {
	var se *sqlitedriver.Error
	if !errors.As(err, &se) {
		return err
	}
	prefix := ""
	if op != "" {
		prefix = op + ": "
	}
	switch se.Code() & 0xff {
	case 11, 26: // SQLITE_CORRUPT, SQLITE_NOTADB
		return fmt.Errorf("%s%q is not a readable SQLite database (corrupt, or another kind of file): %w: %w", prefix, path, store.ErrCorrupt, err)
	case 14: // SQLITE_CANTOPEN
		return fmt.Errorf("%scannot open %q (does its directory exist and is it writable?): %w: %w", prefix, path, store.ErrUnavailable, err)
	case 8: // SQLITE_READONLY
		return fmt.Errorf("%s%q is read-only: %w: %w", prefix, path, store.ErrUnavailable, err)
	case 13: // SQLITE_FULL
		return fmt.Errorf("%sdisk full writing %q: %w: %w", prefix, path, store.ErrUnavailable, err)
	case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
		return fmt.Errorf("%s%q is locked by another process: %w: %w", prefix, path, store.ErrUnavailable, err)
	case 10: // SQLITE_IOERR
		return fmt.Errorf("%sI/O error on %q: %w: %w", prefix, path, store.ErrUnavailable, err)
	}
	return err
}
