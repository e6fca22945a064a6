package app

import (
	"context"
	"log/slog"
	"net/url"
	"time"

	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/observe/tracing"
)

// tracingShutdownTimeout bounds the last export of buffered spans on
// Close, so that an unreachable collector cannot hold a shutdown.
const tracingShutdownTimeout = 5 * time.Second

// startTracing installs the trace pipeline the OTEL_* environment
// variables and cfg's tracing section describe (nothing when neither names
// an endpoint), and registers its shutdown, which flushes the spans still
// buffered, as the App's last cleanup.
func (a *App) startTracing(ctx context.Context, cfg config.Config, version string, logger *slog.Logger) error {
	t, err := tracing.Start(ctx, tracing.Options{
		Endpoint: cfg.Tracing.Endpoint, ServiceName: cfg.Tracing.ServiceName,
		SampleRatio: cfg.Tracing.SampleRatio, Version: version,
	})
	if err != nil {
		return err
	}
	a.Tracing = t
	if !t.Enabled() {
		return nil
	}
	endpoint := t.ExportEndpoint()
	if u, err := url.Parse(endpoint); err == nil {
		u.User, u.RawQuery = nil, "" // no credentials in the log
		endpoint = u.String()
	}
	logger.Info("tracing: exporting spans over OTLP/HTTP", "endpoint", endpoint)
	a.onClose(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), tracingShutdownTimeout)
		defer cancel()
		return t.Shutdown(ctx)
	})
	return nil
}
