package mcpclient

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/bench/internal/stats"
)

// Call is one call of client (its index) on cs, the seq-th of this loop;
// rng is the client's own.
type Call func(ctx context.Context, cs *mcp.ClientSession, client, seq int, rng *rand.Rand) error

// Loop is one measured loop of calls.
type Loop struct {
	// Name says which loop in an error ("parley get_ticket").
	Name string
	// Target labels the clients' goroutines in CPU profiles
	// (target=Target).
	Target string
	// Sessions are the clients, one goroutine each.
	Sessions []*mcp.ClientSession
	// Call is one call; CallTimeout bounds it.
	Call        Call
	CallTimeout time.Duration
	// Rate, if positive, spreads the calls at this many a second over all
	// clients; 0: each client calls back to back.
	Rate float64
	// Duration is how long the loop runs, unless Total > 0: then it runs
	// until the clients have made Total calls between them.
	Duration time.Duration
	Total    int64
}

// Phase is what one loop saw.
type Phase struct {
	Latencies  []time.Duration
	Errors     int64
	FirstError string
	Elapsed    time.Duration
}

// Run runs every client's calls until l.Duration has passed or, if
// l.Total > 0, until Total calls have been made between them: back to
// back, or at l.Rate calls a second in all, each call due at start +
// k/rate (a client that is free takes the next due call; its latency
// counts from when it was due, so that a server falling behind shows).
func (l *Loop) Run(ctx context.Context) (Phase, error) {
	var (
		wg       sync.WaitGroup
		issued   atomic.Int64
		mu       sync.Mutex
		firstErr string
		lats     = make([][]time.Duration, len(l.Sessions))
		errs     = make([]int64, len(l.Sessions))
	)
	var interval time.Duration
	if l.Rate > 0 {
		interval = time.Duration(float64(time.Second) / l.Rate)
	}
	total := l.Total
	start := time.Now()
	deadline := start.Add(l.Duration)
	for i, cs := range l.Sessions {
		wg.Go(func() {
			pprof.Do(ctx, pprof.Labels("role", "client", "target", l.Target), func(ctx context.Context) {
				rng := rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))
				lat := make([]time.Duration, 0, 1024)
				for seq := 0; ctx.Err() == nil; seq++ {
					k := issued.Add(1) - 1
					if total > 0 && k >= total {
						break
					}
					due := time.Now()
					if interval > 0 {
						due = start.Add(time.Duration(k) * interval)
					}
					if total == 0 && !due.Before(deadline) {
						break
					}
					if wait := time.Until(due); wait > 0 {
						t := time.NewTimer(wait)
						select {
						case <-t.C:
						case <-ctx.Done():
							t.Stop()
						}
					}
					cctx, cancel := context.WithTimeout(ctx, l.CallTimeout)
					err := l.Call(cctx, cs, i, seq, rng)
					lat = append(lat, time.Since(due))
					cancel()
					if err != nil {
						errs[i]++
						mu.Lock()
						if firstErr == "" {
							firstErr = err.Error()
						}
						mu.Unlock()
					}
				}
				lats[i] = lat
			})
		})
	}
	wg.Wait()
	p := Phase{Elapsed: time.Since(start), FirstError: firstErr}
	if err := ctx.Err(); err != nil {
		return p, fmt.Errorf("%s: interrupted: %w", l.Name, err)
	}
	for i := range lats {
		p.Latencies = append(p.Latencies, lats[i]...)
		p.Errors += errs[i]
	}
	return p, nil
}

// Add adds q's calls to p: the rounds of one scenario.
func (p *Phase) Add(q Phase) {
	p.Latencies = append(p.Latencies, q.Latencies...)
	p.Errors += q.Errors
	p.Elapsed += q.Elapsed
	if p.FirstError == "" {
		p.FirstError = q.FirstError
	}
}

// Calls is how many calls were made, failed ones included.
func (p *Phase) Calls() int64 { return int64(len(p.Latencies)) }

// Outcome is what a report says of a scenario's calls.
type Outcome struct {
	Calls      int64   `json:"calls"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	Seconds    float64 `json:"seconds"`
	// RPS counts successful calls per second of wall time.
	RPS float64 `json:"rps"`
	// Latencies are per call as the client sees it; at a fixed rate, from
	// when the call was due, so that a server falling behind shows.
	stats.Latencies
}

// Outcome summarises p, sorting its latencies.
func (p *Phase) Outcome() Outcome {
	o := Outcome{Calls: p.Calls(), Errors: p.Errors, FirstError: p.FirstError, Seconds: p.Elapsed.Seconds()}
	if o.Calls == 0 || p.Elapsed <= 0 {
		return o
	}
	o.RPS = float64(o.Calls-o.Errors) / p.Elapsed.Seconds()
	o.Latencies = stats.Summarise(p.Latencies)
	return o
}
