-- Upstream MCP servers Parley fronts (store.Upstreams). Times are Unix
-- microseconds, 0 for never; spec is the upstream's spec as JSON TEXT,
-- owned by package upstream; source is 'config' or 'api'.
CREATE TABLE upstreams (
	name       TEXT PRIMARY KEY,
	version    INTEGER NOT NULL,
	spec       TEXT NOT NULL,
	source     TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);

-- The pins of upstream tools: the hash of the approved definition and of
-- the one seen last (they differ while the tool has drifted). A pin goes
-- with its upstream.
CREATE TABLE upstream_tools (
	upstream      TEXT NOT NULL REFERENCES upstreams (name) ON DELETE CASCADE,
	tool          TEXT NOT NULL,
	version       INTEGER NOT NULL,
	approved_hash TEXT NOT NULL,
	approved_at   INTEGER NOT NULL,
	seen_hash     TEXT NOT NULL,
	seen_at       INTEGER NOT NULL,
	first_seen_at INTEGER NOT NULL,
	PRIMARY KEY (upstream, tool)
);
