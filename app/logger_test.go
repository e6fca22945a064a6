package app_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/app"
	"github.com/parleyhq/parley/config"
)

// TestLoggerSDKInfoAtDebug: go-sdk's info lines (a session's lifecycle)
// are logged at debug level; Parley's own info lines, and go-sdk's lines
// at debug level, are logged as they are.
func TestLoggerSDKInfoAtDebug(t *testing.T) {
	for _, tc := range []struct {
		level, format string
		want, notWant []string
	}{
		{level: "info", format: "text",
			want:    []string{`level=INFO msg="parley line" component=mcp`},
			notWant: []string{"server connecting", "server session connected"}},
		{level: "debug", format: "text",
			want: []string{`level=INFO msg="parley line"`, `level=DEBUG msg="server connecting" component=mcp`,
				`level=DEBUG msg="server session connected" component=mcp`}},
		{level: "info", format: "json",
			want:    []string{`"level":"INFO","msg":"parley line"`},
			notWant: []string{"server connecting"}},
	} {
		t.Run(tc.level+"/"+tc.format, func(t *testing.T) {
			cfg := config.Default()
			cfg.LogLevel, cfg.LogFormat = tc.level, tc.format
			var buf bytes.Buffer
			logger := app.NewLogger(cfg, &buf).With("component", "mcp")

			ctx := context.Background()
			srv := mcp.NewServer(&mcp.Implementation{Name: "s", Version: "1"}, &mcp.ServerOptions{Logger: logger})
			ct, st := mcp.NewInMemoryTransports()
			ss, err := srv.Connect(ctx, st, nil)
			if err != nil {
				t.Fatal(err)
			}
			cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx, ct, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := cs.Ping(ctx, nil); err != nil {
				t.Fatal(err)
			}
			cs.Close()
			_ = ss.Wait()
			logger.Info("parley line")

			out := buf.String()
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("log lacks %q:\n%s", w, out)
				}
			}
			for _, nw := range tc.notWant {
				if strings.Contains(out, nw) {
					t.Errorf("log has %q:\n%s", nw, out)
				}
			}
		})
	}
}
