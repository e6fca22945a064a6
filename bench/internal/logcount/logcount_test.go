package logcount

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestCounter(t *testing.T) {
	var buf bytes.Buffer
	var c Counter
	l := slog.New(c.Handler(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	l.Info("request", "path", "/mcp")
	l.Debug("hidden")
	l.With("component", "relay").Warn("agent failed", "err", "refused")
	l.Error("second")
	if c.Count() != 2 {
		t.Errorf("count %d, want 2", c.Count())
	}
	if got, want := c.First(), "WARN agent failed component=relay err=refused"; got != want {
		t.Errorf("first %q, want %q", got, want)
	}
	if out := buf.String(); !strings.Contains(out, "msg=request") || strings.Contains(out, "hidden") || strings.Count(out, "\n") != 3 {
		t.Errorf("passed on:\n%s", out)
	}
}
