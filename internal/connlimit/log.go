package connlimit

import (
	"log/slog"
	"net"
	"sync"
	"time"
)

// logRefusalsEvery spaces the warnings about refused connections: under a
// flood of them, one line per interval with a count says enough.
const logRefusalsEvery = 10 * time.Second

// LogRefusals returns an Options.OnRefuse that warns on log about
// connections refused over opts' limits: the first at once, then at most
// one line every 10 seconds, counting the ones in between. Every listener
// of the gateway (HTTP, gRPC) logs its refusals this way.
func LogRefusals(log *slog.Logger, opts Options) func(net.Addr, Limit) {
	var (
		mu         sync.Mutex
		last       time.Time
		suppressed int
	)
	return func(remote net.Addr, limit Limit) {
		mu.Lock()
		now := time.Now()
		if !last.IsZero() && now.Sub(last) < logRefusalsEvery {
			suppressed++
			mu.Unlock()
			return
		}
		more := suppressed
		last, suppressed = now, 0
		mu.Unlock()

		max := opts.MaxConns
		if limit == LimitPerClient {
			max = opts.MaxConnsPerClient
		}
		log.Warn("refused a connection: too many open connections",
			"remote", remote.String(), "limit", string(limit), "max", max, "refused_since_last_warning", more)
	}
}
