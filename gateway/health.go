package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/parleyhq/parley/api"
)

// healthz says the process is up and serving. It checks nothing else, so
// that an orchestrator does not restart a gateway whose database is down
// (restarting would not help; /readyz takes it out of rotation instead).
func (g *Gateway) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	WriteJSON(w, http.StatusOK, api.Status{Status: "ok"})
}

// readyz says whether the gateway can do its work: whether the store
// answers a ping within readyTimeout.
func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := g.deps.Store.Ping(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("store did not answer within %s: %w", readyTimeout, err)
		} else {
			err = fmt.Errorf("store: %w", err)
		}
		g.log.WarnContext(ctx, "not ready", "err", err, "request_id", RequestIDFrom(ctx))
		WriteJSON(w, http.StatusServiceUnavailable, api.Status{Status: "unavailable", Error: err.Error()})
		return
	}
	WriteJSON(w, http.StatusOK, api.Status{Status: "ready"})
}
