package app

import (
	"io"
	"log/slog"

	"github.com/parleyhq/parley/config"
)

// NewLogger builds the process logger that cfg describes: a text or JSON
// handler at cfg's level, writing to w ("gateway serve" passes stderr,
// leaving stdout to commands' output). Benchmarks use it too, so that the
// cost of logging is what ships.
func NewLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
