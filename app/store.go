package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/postgres"
	"github.com/parleyhq/parley/store/sqlite"
)

// OpenStore opens the backend cfg.Store names. The store starts no
// background work of its own: App.Run runs it (store.Store.Run) beside the
// other background loops, and stops it before Close closes the store.
func OpenStore(ctx context.Context, cfg config.Config, logger *slog.Logger) (store.Store, error) {
	logger = logger.With("component", "store")
	kind, target := cfg.StoreBackend()
	switch kind {
	case config.BackendSQLite:
		// Return through an explicit nil on error: a nil *sqlite.Store in
		// a store.Store interface would not compare equal to nil.
		s, err := sqlite.Open(ctx, target, sqlite.Options{Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		logger.Info("store opened", "backend", kind, "path", target)
		return s, nil
	case config.BackendPostgres:
		s, err := postgres.Open(ctx, target, postgres.Options{Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		logger.Info("store opened", "backend", kind)
		return s, nil
	default:
		// config.Load rejects such a store; this guards other callers.
		return nil, fmt.Errorf("open store: unsupported store %q", cfg.Store)
	}
}
