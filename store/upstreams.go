package store

import (
	"context"
	"encoding/json"
	"time"
)

// Feed kinds of upstream MCP servers. Both are keyed by the upstream's
// name, so that a follower hears of everything about one upstream under
// one key, and can tell a new spec (reconnect) from a pin's change
// (re-check which tools are served).
const (
	// KindUpstream: an upstream registered, its spec replaced, or it was
	// removed. The version is the upstream's.
	KindUpstream = "upstream"
	// KindUpstreamTool: a pin of one of its tools created (first sight),
	// flagged as drifted or approved. The version is the pin's.
	KindUpstreamTool = "upstream_tool"
)

// Where an upstream's registration came from.
const (
	// UpstreamFromConfig: the config file's mcp.upstreams, written at
	// start; the file owns it.
	UpstreamFromConfig = "config"
	// UpstreamFromAPI: the admin API (or the CLI, through it).
	UpstreamFromAPI = "api"
)

// Upstream is a registered upstream MCP server. Its spec is owned by
// package upstream; the store keeps it as a JSON document.
type Upstream struct {
	// Name is unique, exactly as written (package upstream allows only
	// lower-case names).
	Name    string
	Version int64
	Spec    json.RawMessage
	// Source is UpstreamFromConfig or UpstreamFromAPI.
	Source    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// UpstreamTool is the pin of one tool of an upstream: the hash of the
// definition an admin approved (or that was seen first), and of the one
// seen last. They differ while the tool has drifted.
type UpstreamTool struct {
	Upstream string
	// Tool is the tool's own name at the upstream (not prefixed).
	Tool    string
	Version int64
	// ApprovedHash is the definition served; ApprovedAt when it was
	// approved (or first seen).
	ApprovedHash string
	ApprovedAt   time.Time
	// SeenHash is the definition the upstream served last; SeenAt is when
	// that definition was first seen (seeing it again writes nothing).
	SeenHash string
	SeenAt   time.Time
	// FirstSeenAt is when the tool was first seen at all.
	FirstSeenAt time.Time
}

// Drifted reports whether the upstream serves a definition other than the
// approved one.
func (t UpstreamTool) Drifted() bool { return t.SeenHash != t.ApprovedHash }

// Upstreams keeps the registered upstream MCP servers and the pins of
// their tools. Every write emits a KindUpstream change keyed by the
// upstream's name.
type Upstreams interface {
	// CreateUpstream stores a new upstream at version 1 (UpdatedAt is set
	// to CreatedAt). ErrExists if the name is taken.
	CreateUpstream(ctx context.Context, u Upstream) (Upstream, error)
	// GetUpstream finds an upstream by name. ErrNotFound if none.
	GetUpstream(ctx context.Context, name string) (Upstream, error)
	// ListUpstreams returns every upstream, ordered by name.
	ListUpstreams(ctx context.Context) ([]Upstream, error)
	// UpdateUpstream replaces an upstream's spec, source and UpdatedAt if
	// its stored version is still expectedVersion, and bumps the version.
	// Its tools' pins are kept. A *VersionConflictError if the version
	// moved, ErrNotFound if the upstream is gone.
	UpdateUpstream(ctx context.Context, u Upstream, expectedVersion int64) (Upstream, error)
	// DeleteUpstream removes an upstream and the pins of its tools,
	// emitting a change with the version it would have had next.
	// ErrNotFound if there is none.
	DeleteUpstream(ctx context.Context, name string, at time.Time) error

	// CreateUpstreamTool pins a tool seen for the first time, at version
	// 1. ErrExists if it is pinned already: of several replicas seeing a
	// new tool at once, exactly one creates the pin and the others read
	// it. ErrNotFound if the upstream is not registered.
	CreateUpstreamTool(ctx context.Context, t UpstreamTool) (UpstreamTool, error)
	// GetUpstreamTool returns a tool's pin. ErrNotFound if none.
	GetUpstreamTool(ctx context.Context, upstream, tool string) (UpstreamTool, error)
	// ListUpstreamTools returns the pins of an upstream's tools, by tool
	// name (an unknown upstream has none).
	ListUpstreamTools(ctx context.Context, upstream string) ([]UpstreamTool, error)
	// UpdateUpstreamTool replaces a pin's hashes and times if its stored
	// version is still expectedVersion, and bumps the version. A
	// *VersionConflictError if the version moved, ErrNotFound if the pin
	// is gone. FirstSeenAt is kept.
	UpdateUpstreamTool(ctx context.Context, t UpstreamTool, expectedVersion int64) (UpstreamTool, error)
}
