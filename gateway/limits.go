package gateway

import (
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/parleyhq/parley/internal/connlimit"
)

// refusalLogEvery spaces the warnings about refused connections: under a
// flood of them, one line per interval with a count says enough.
const refusalLogEvery = 10 * time.Second

// refusalLog logs connections refused over a limit: the first at once,
// then at most one line per refusalLogEvery, counting the ones in
// between.
type refusalLog struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (l *refusalLog) record(log *slog.Logger, opts connlimit.Options) func(net.Addr, connlimit.Limit) {
	return func(remote net.Addr, limit connlimit.Limit) {
		l.mu.Lock()
		now := time.Now()
		if !l.last.IsZero() && now.Sub(l.last) < refusalLogEvery {
			l.suppressed++
			l.mu.Unlock()
			return
		}
		more := l.suppressed
		l.last, l.suppressed = now, 0
		l.mu.Unlock()

		max := opts.MaxConns
		if limit == connlimit.LimitPerClient {
			max = opts.MaxConnsPerClient
		}
		log.Warn("refused a connection: too many open connections",
			"remote", remote.String(), "limit", string(limit), "max", max, "refused_since_last_warning", more)
	}
}
