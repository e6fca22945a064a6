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
	"github.com/parleyhq/parley/bench/internal/stats"
)

// Rebuilds is what the first request of a session costs on the replica
// that did not open it, which rebuilds the session from the store
// (mcpbridge/sessions.go), against a later request there.
type Rebuilds struct {
	Sessions int   `json:"sessions"`
	Errors   int64 `json:"errors"`
	// FirstUs is b's CPU per session for the first ping of each session
	// opened on a (the rebuild and the ping); LaterUs for a second ping of
	// each (the ping alone); RebuildUs is the difference.
	FirstUs    float64 `json:"first_request_us"`
	LaterUs    float64 `json:"later_request_us"`
	RebuildUs  float64 `json:"rebuild_us"`
	FirstP50Ms float64 `json:"first_p50_ms"`
	LaterP50Ms float64 `json:"later_p50_ms"`
	FirstError string  `json:"first_error,omitempty"`
}

// measureRebuilds opens n sessions on gateway a directly (initialize and
// notifications/initialized over plain HTTP), then pings each on gateway
// b directly, twice, reading b's CPU time around each pass.
func measureRebuilds(ctx context.Context, cfg *Config, e *env, n int) (*Rebuilds, error) {
	a, b := e.replicas[0], e.replicas[1]
	out := &Rebuilds{Sessions: n}
	hc := e.httpClient(newLandings(e.hosts()), "", "")
	ids := make([]string, n)
	var (
		mu    sync.Mutex
		first string
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		out.Errors++
		if first == "" {
			first = err.Error()
		}
	}
	err := parallel.Run(ctx, n, idleWorkers, func(ctx context.Context, i int) error {
		id, err := openOn(ctx, cfg, hc, a.url, i)
		if err != nil {
			fail(err)
		}
		ids[i] = id
		return ctx.Err()
	})
	if err != nil {
		return nil, err
	}
	pass := func() (time.Duration, float64, error) {
		lat := make([]time.Duration, n)
		c0, err := proc.CPU(b.proc.Pid)
		if err != nil {
			return 0, 0, err
		}
		err = parallel.Run(ctx, n, idleWorkers, func(ctx context.Context, i int) error {
			if ids[i] == "" {
				return nil
			}
			cctx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
			defer cancel()
			t0 := time.Now()
			if _, err := mcpclient.Post(cctx, hc, b.url, ids[i], `{"jsonrpc":"2.0","id":9,"method":"ping"}`); err != nil {
				fail(fmt.Errorf("ping on b: %w", err))
			}
			lat[i] = time.Since(t0)
			return ctx.Err()
		})
		c1, cerr := proc.CPU(b.proc.Pid)
		if err == nil {
			err = cerr
		}
		return c1 - c0, p50Ms(lat), err
	}
	firstCPU, firstP50, err := pass()
	if err != nil {
		return nil, err
	}
	laterCPU, laterP50, err := pass()
	if err != nil {
		return nil, err
	}
	out.FirstError = first
	out.FirstUs = float64(firstCPU.Microseconds()) / float64(n)
	out.LaterUs = float64(laterCPU.Microseconds()) / float64(n)
	out.RebuildUs = out.FirstUs - out.LaterUs
	out.FirstP50Ms, out.LaterP50Ms = firstP50, laterP50
	return out, nil
}

func p50Ms(lat []time.Duration) float64 { return stats.Summarise(lat).P50Ms }

// openOn opens session i at url (initialize, notifications/initialized)
// and returns its ID.
func openOn(ctx context.Context, cfg *Config, hc *http.Client, url string, i int) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
	defer cancel()
	init := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":%q,"capabilities":{},"clientInfo":{"name":"replicas-rebuild-%d","version":"1"}}}`, mcpclient.SessionVersion, i)
	resp, err := mcpclient.Post(cctx, hc, url, "", init)
	if err != nil {
		return "", fmt.Errorf("initialize: %w", err)
	}
	id := resp.Header.Get("Mcp-Session-Id")
	if id == "" {
		return "", fmt.Errorf("initialize: %s without a session ID", resp.Status)
	}
	if _, err := mcpclient.Post(cctx, hc, url, id, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); err != nil {
		return "", fmt.Errorf("initialized: %w", err)
	}
	return id, nil
}
