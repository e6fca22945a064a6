// Package api holds Parley's wire contracts that clients code against: the
// bodies of the gateway's own HTTP endpoints, described for people and tools
// in openapi.yaml beside this file. It imports nothing of Parley's, so that
// a client can depend on it alone.
package api

// Error is the body of every error the gateway answers itself (protocol
// endpoints answer in their protocol's shape: JSON-RPC errors on /mcp).
type Error struct {
	Error string `json:"error"`
}

// Status is the body of /healthz and /readyz.
type Status struct {
	// Status is "ok" (healthz), "ready" or "unavailable" (readyz).
	Status string `json:"status"`
	// Error says why the gateway is not ready.
	Error string `json:"error,omitempty"`
}
