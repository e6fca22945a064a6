package app

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/parleyhq/parley/config"
)

// go-sdk's own logger: an info line is a debug line, not even built at the
// info level (Enabled says no), and logged at debug level when that is on;
// warnings pass as they are.
func TestSDKLoggerInfoIsDebug(t *testing.T) {
	for _, level := range []string{"info", "debug"} {
		t.Run(level, func(t *testing.T) {
			cfg := config.Default()
			cfg.LogLevel = level
			var buf bytes.Buffer
			l := sdkLogger(NewLogger(cfg, &buf).With("component", "mcp"))
			ctx := context.Background()
			if got, want := l.Enabled(ctx, slog.LevelInfo), level == "debug"; got != want {
				t.Errorf("Enabled(info) = %v, want %v", got, want)
			}
			l.Info("session connected")
			l.Warn("a warning")
			out := buf.String()
			if got := strings.Contains(out, `level=DEBUG msg="session connected" component=mcp`); got != (level == "debug") {
				t.Errorf("the info line logged at debug level: %v, want %v:\n%s", got, level == "debug", out)
			}
			if strings.Contains(out, `level=INFO`) {
				t.Errorf("an info line at info level:\n%s", out)
			}
			if !strings.Contains(out, `level=WARN msg="a warning" component=mcp`) {
				t.Errorf("the warning is missing:\n%s", out)
			}
		})
	}
}
