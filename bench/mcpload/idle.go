package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/parleyhq/parley/bench/internal/mcpclient"
	"github.com/parleyhq/parley/bench/internal/parallel"
	"github.com/parleyhq/parley/bench/internal/proc"
)

// idleWorkers open the idle sessions: a few connections, so that the
// figure is the sessions' memory, not the connections'.
const idleWorkers = 8

// idleSessions opens cfg.IdleSessions 2025-11-25 sessions on s, each with
// initialize and the initialized notification over plain HTTP (no
// standalone GET stream: an idle session holds no connection), leaves
// them open, and reads the server's RSS before and after.
func idleSessions(ctx context.Context, cfg *Config, env *env, s *server) (Idle, error) {
	out := Idle{Server: s.name, Sessions: cfg.IdleSessions}
	if s.pid == 0 {
		return out, fmt.Errorf("%s: idle sessions: the server's process is unknown (-target-pid)", s.name)
	}
	rss0, err := proc.RSS(s.pid)
	if err != nil {
		return out, fmt.Errorf("%s: %w", s.name, err)
	}
	hc := env.httpClient(s, -1)
	var (
		mu    sync.Mutex
		errs  int64
		first string
	)
	start := time.Now()
	err = parallel.Run(ctx, cfg.IdleSessions, idleWorkers, func(ctx context.Context, i int) error {
		if err := openIdle(ctx, cfg, hc, s.url, i); err != nil {
			mu.Lock()
			errs++
			if first == "" {
				first = err.Error()
			}
			mu.Unlock()
		}
		return ctx.Err()
	})
	if err != nil {
		return out, err
	}
	out.Seconds = time.Since(start).Seconds()
	rss1, err := proc.RSS(s.pid)
	if err != nil {
		return out, fmt.Errorf("%s: %w", s.name, err)
	}
	out.Errors, out.FirstError = errs, first
	out.RSSBeforeMiB, out.RSSAfterMiB = mib(rss0), mib(rss1)
	out.KiBPerSession = float64(rss1-rss0) / 1024 / float64(cfg.IdleSessions)
	return out, nil
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// openIdle sends initialize and notifications/initialized.
func openIdle(ctx context.Context, cfg *Config, hc *http.Client, url string, i int) error {
	cctx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
	defer cancel()
	init := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":%q,"capabilities":{},"clientInfo":{"name":"mcpload-idle-%d","version":"1"}}}`, mcpclient.SessionVersion, i)
	resp, err := mcpclient.Post(cctx, hc, url, "", init)
	if err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	id := resp.Header.Get("Mcp-Session-Id")
	if id == "" {
		return fmt.Errorf("initialize: %s without a session ID", resp.Status)
	}
	resp, err = mcpclient.Post(cctx, hc, url, id, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	if err != nil {
		return fmt.Errorf("initialized: %w", err)
	}
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("initialized: %s", resp.Status)
	}
	return nil
}
