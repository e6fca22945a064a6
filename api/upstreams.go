package api

import "time"

// The admin API for upstream MCP servers Parley fronts, under
// /api/v1/upstreams.

// RegisterUpstreamRequest is the body of POST /api/v1/upstreams: exactly
// one of URL and Command.
type RegisterUpstreamRequest struct {
	// Name identifies the upstream and prefixes its tools' and prompts'
	// names: lower-case letters, digits, '-' and '_', starting with a
	// letter, at most 32.
	Name string `json:"name"`
	// URL is the upstream's Streamable HTTP endpoint; Parley speaks
	// whichever protocol generation it offers.
	URL string `json:"url,omitempty"`
	// Command is the program and arguments of a stdio upstream, which
	// Parley starts, supervises and stops.
	Command []string `json:"command,omitempty"`
	// Env adds to a stdio upstream's environment. Its values are never
	// shown again (they may be secrets).
	Env map[string]string `json:"env,omitempty"`
	// Dir is a stdio upstream's working directory.
	Dir string `json:"dir,omitempty"`
	// Prefix is "always" (the default: tools named <name>_<tool>) or
	// "never" (the tools' own names).
	Prefix string `json:"prefix,omitempty"`
	// Allow and Deny filter the upstream's tools and prompts by their own
	// names or globs (read_*).
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
	// Credentials are what Parley presents to an HTTP upstream.
	Credentials *UpstreamCredentials `json:"credentials,omitempty"`
}

// UpstreamCredentials are exactly one of a client-credentials grant, a
// bearer token read from a file (on the gateway's host) or one read from
// an environment variable (of the gateway's process). Secrets themselves
// are never sent.
type UpstreamCredentials struct {
	ClientCredentials *UpstreamClientCredentials `json:"client_credentials,omitempty"`
	BearerTokenFile   string                     `json:"bearer_token_file,omitempty"`
	BearerTokenEnv    string                     `json:"bearer_token_env,omitempty"`
}

// UpstreamClientCredentials configures the OAuth 2 client credentials
// grant; the secret comes from a file or an environment variable.
type UpstreamClientCredentials struct {
	TokenURL         string   `json:"token_url"`
	ClientID         string   `json:"client_id"`
	ClientSecretFile string   `json:"client_secret_file,omitempty"`
	ClientSecretEnv  string   `json:"client_secret_env,omitempty"`
	Scopes           []string `json:"scopes,omitempty"`
	Audience         string   `json:"audience,omitempty"`
}

// Upstream is a registered upstream.
type Upstream struct {
	Name    string `json:"name"`
	Version int64  `json:"version"`
	// Kind is "http" or "stdio".
	Kind    string   `json:"kind"`
	URL     string   `json:"url,omitempty"`
	Command []string `json:"command,omitempty"`
	// EnvNames are the names of the variables Env sets; their values are
	// not shown.
	EnvNames    []string             `json:"env_names,omitempty"`
	Dir         string               `json:"dir,omitempty"`
	Prefix      string               `json:"prefix"`
	Allow       []string             `json:"allow,omitempty"`
	Deny        []string             `json:"deny,omitempty"`
	Credentials *UpstreamCredentials `json:"credentials,omitempty"`
	// Source is "config" (the config file owns it: the API may neither
	// replace nor remove it) or "api".
	Source string `json:"source"`
	// Status is the connection's state on the replica that answered;
	// absent when unknown there.
	Status *UpstreamStatus `json:"status,omitempty"`
	// Drift lists the tools held back because their definition changed
	// since it was approved; only in GET /api/v1/upstreams/{name}.
	Drift     []DriftedTool `json:"drift,omitempty"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
}

// UpstreamStatus is the state of an upstream's connection.
type UpstreamStatus struct {
	Healthy bool `json:"healthy"`
	// Generation is the protocol revision negotiated (2026-07-28,
	// 2025-11-25, …); absent until connected.
	Generation string `json:"generation,omitempty"`
	// LastError says why it is not healthy.
	LastError string `json:"last_error,omitempty"`
	// Since is when Healthy last changed (RFC 3339).
	Since string `json:"since,omitempty"`
	// Tools and Prompts are the names served behind Parley; HeldBack the
	// tools hidden until their changed definition is approved.
	Tools    []string `json:"tools,omitempty"`
	HeldBack []string `json:"held_back,omitempty"`
	Prompts  []string `json:"prompts,omitempty"`
}

// DriftedTool is a tool whose definition changed since it was approved.
type DriftedTool struct {
	// Tool is its name at the upstream; Exposed its name behind Parley.
	Tool    string `json:"tool"`
	Exposed string `json:"exposed"`
	// ApprovedHash and SeenHash identify the approved definition and the
	// one served now: "sha256:" and the hex SHA-256 of its canonical JSON.
	ApprovedHash string    `json:"approved_hash"`
	SeenHash     string    `json:"seen_hash"`
	DetectedAt   time.Time `json:"detected_at"`
}

// UpstreamList is the body of GET /api/v1/upstreams.
type UpstreamList struct {
	Upstreams []Upstream `json:"upstreams"`
}

// ApproveUpstreamRequest is the optional body of POST
// /api/v1/upstreams/{name}/approve.
type ApproveUpstreamRequest struct {
	// Tools names the tools to approve, by their names at the upstream or
	// behind Parley; empty approves every drifted tool.
	Tools []string `json:"tools,omitempty"`
}

// ApproveUpstreamResult is the answer of POST
// /api/v1/upstreams/{name}/approve.
type ApproveUpstreamResult struct {
	// Approved are the tools whose changed definition is now approved, by
	// their names at the upstream (empty when nothing had drifted).
	Approved []string `json:"approved"`
	Upstream Upstream `json:"upstream"`
}
