package upstream

// Telling an upstream's own JSON-RPC errors from the ones go-sdk's client
// makes up itself.
//
// Both are *jsonrpc.Error. go-sdk's client reports a request that never
// reached the upstream, or whose stream broke (connection refused, reset,
// the process killed mid-call), as its sentinel "rejected by transport"
// (-32005), and a call on a session being closed as "client is closing"
// (-32003) or "server is closing" (-32004). Taken for the upstream's
// answers, they went to hosts as protocol errors with go-sdk's words, and
// the session they came from stayed in the pool, failing every later call,
// with no health probe started (found by e2e TestFederationUpstreamKilledMidCall).
// The sentinels live in go-sdk's internal package, so they are known here
// by code and message together: an upstream that sent one of these codes
// with its own words is still its answer.

import (
	"errors"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// clientSentinels are go-sdk's own JSON-RPC errors, by code.
var clientSentinels = map[int64]string{
	-32005: "rejected by transport",
	-32003: "client is closing",
	-32004: "server is closing",
}

// UpstreamError returns the JSON-RPC error the upstream answered with, if
// err is one: not a failure to reach it or of the connection, which go-sdk
// also reports as a *jsonrpc.Error.
func UpstreamError(err error) (*jsonrpc.Error, bool) {
	var je *jsonrpc.Error
	if !errors.As(err, &je) {
		return nil, false
	}
	if msg, ok := clientSentinels[je.Code]; ok && je.Message == msg {
		return nil, false
	}
	return je, true
}
