package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/bench/internal/mcpclient"
	"github.com/parleyhq/parley/bench/internal/parallel"
	"github.com/parleyhq/parley/bench/internal/proc"
)

// idleWorkers open the idle sessions: a few connections, so that the
// figure is the sessions' memory, not the connections'.
const idleWorkers = 8

// maxPings bounds the pings that try to reach the replica that has not
// served a session yet; with round robin, one or two do.
const maxPings = 16

// Idle is what the idle sessions cost the replicas.
type Idle struct {
	Sessions   int     `json:"sessions"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	Seconds    float64 `json:"seconds"`
	// Requests is every request sent (initialize, initialized, pings).
	Requests   int64         `json:"requests"`
	PerReplica []IdleReplica `json:"per_replica"`
	// TargetRSSMiB is the bar per replica.
	TargetRSSMiB float64 `json:"target_rss_mib"`
}

// IdleReplica is one replica's part.
type IdleReplica struct {
	Replica      string  `json:"replica"`
	Opened       int64   `json:"opened"` // sessions whose initialize it answered
	RSSBeforeMiB float64 `json:"rss_before_mib"`
	RSSAfterMiB  float64 `json:"rss_after_mib"`
	// KiBPerSession is the growth over every session it now holds (the
	// ones it opened and the copies of the others').
	KiBPerSession float64 `json:"kib_per_session"`
	// CPUPerSessionUs is its CPU time while the sessions were opened, over
	// the sessions: opening its own, rebuilding the others', the pings.
	CPUPerSessionUs float64 `json:"cpu_per_session_us"`
}

// TargetIdleRSSMiB is the bar: 10,000 idle sessions stay under
// 500 MiB per replica.
const TargetIdleRSSMiB = 500

// idleSessions opens cfg.IdleSessions 2025-11-25 sessions through nginx
// over both replicas, each with initialize and notifications/initialized
// over plain HTTP (no standalone GET stream: an idle session holds no
// connection), then pings each until both replicas have served it, so
// that each replica holds the sessions it opened and a copy of the
// others'. It reads the replicas' RSS and CPU time before and after.
func idleSessions(ctx context.Context, cfg *Config, e *env) (*Idle, error) {
	out := &Idle{Sessions: cfg.IdleSessions, TargetRSSMiB: TargetIdleRSSMiB}
	hosts := e.hosts()
	rss0 := make([]int64, len(e.replicas))
	cpu0, err := readCPU(e.replicas)
	if err != nil {
		return nil, err
	}
	for i, r := range e.replicas {
		if rss0[i], err = proc.RSS(r.proc.Pid); err != nil {
			return nil, err
		}
	}
	var (
		mu       sync.Mutex
		first    string
		errs     int64
		requests atomic.Int64
		opened   = make([]atomic.Int64, len(e.replicas))
	)
	hcs := make([]*http.Client, idleWorkers)
	for i := range hcs {
		hcs[i] = e.httpClient(newLandings(hosts), "", "")
	}
	url := e.lb.two + "/mcp"
	start := time.Now()
	var worker atomic.Int64
	err = parallel.Run(ctx, cfg.IdleSessions, idleWorkers, func(ctx context.Context, i int) error {
		hc := hcs[worker.Add(1)%idleWorkers]
		opener, err := openIdle(ctx, cfg, hc, url, hosts, i, &requests)
		if opener >= 0 {
			opened[opener].Add(1)
		}
		if err != nil {
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
		return nil, err
	}
	out.Seconds = time.Since(start).Seconds()
	cpu1, err := readCPU(e.replicas)
	if err != nil {
		return nil, err
	}
	out.Errors, out.FirstError, out.Requests = errs, first, requests.Load()
	for i, r := range e.replicas {
		rss1, err := proc.RSS(r.proc.Pid)
		if err != nil {
			return nil, err
		}
		out.PerReplica = append(out.PerReplica, IdleReplica{
			Replica: r.name, Opened: opened[i].Load(),
			RSSBeforeMiB: mib(rss0[i]), RSSAfterMiB: mib(rss1),
			KiBPerSession:   float64(rss1-rss0[i]) / 1024 / float64(cfg.IdleSessions),
			CPUPerSessionUs: float64((cpu1[i] - cpu0[i]).Microseconds()) / float64(cfg.IdleSessions),
		})
	}
	return out, nil
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// openIdle opens session i through the balancer at url and pings it until
// both replicas (hosts) have served it. It returns the index of the
// replica that answered the initialize (-1 if unknown).
func openIdle(ctx context.Context, cfg *Config, hc *http.Client, url string, hosts []string, i int, requests *atomic.Int64) (opener int, err error) {
	cctx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
	defer cancel()
	served := make([]bool, len(hosts))
	note := func(resp *http.Response) int {
		requests.Add(1)
		for j, h := range hosts {
			if resp.Header.Get(upstreamHeader) == h {
				served[j] = true
				return j
			}
		}
		return -1
	}
	init := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":%q,"capabilities":{},"clientInfo":{"name":"replicas-idle-%d","version":"1"}}}`, mcpclient.SessionVersion, i)
	resp, err := mcpclient.Post(cctx, hc, url, "", init)
	if err != nil {
		return -1, fmt.Errorf("initialize: %w", err)
	}
	opener = note(resp)
	id := resp.Header.Get("Mcp-Session-Id")
	if id == "" {
		return opener, fmt.Errorf("initialize: %s without a session ID", resp.Status)
	}
	if resp, err = mcpclient.Post(cctx, hc, url, id, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); err != nil {
		return opener, fmt.Errorf("initialized: %w", err)
	}
	note(resp)
	for n := 0; !allTrue(served); n++ {
		if n == maxPings {
			return opener, fmt.Errorf("%d pings did not reach both replicas (served: %v)", maxPings, served)
		}
		if resp, err = mcpclient.Post(cctx, hc, url, id, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"ping"}`, n+2)); err != nil {
			return opener, fmt.Errorf("ping: %w", err)
		}
		note(resp)
	}
	return opener, nil
}

func allTrue(bs []bool) bool {
	for _, b := range bs {
		if !b {
			return false
		}
	}
	return true
}
