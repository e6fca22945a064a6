// Package config is the gateway's configuration: its defaults, how it is
// read from a YAML file, PARLEY_* environment variables and command-line
// flags, and the checks that reject a bad value before anything starts.
//
// Precedence, lowest first: defaults, the YAML file, the environment, flags.
// The file is read only when named by --config or PARLEY_CONFIG.
//
// Adding a setting is two steps: a field in Config (or in a nested section
// struct, with a yaml tag), and, if it should also be settable from the
// environment and the command line, one entry in settings() in load.go; its
// PARLEY_* variable and flag names are derived from its YAML path. Checks go
// in Config.check. Sections that are only sensible in the file (lists of
// rules or agents) need only the field: the YAML decoder handles them and
// rejects unknown keys inside them too.
package config

import (
	"errors"
	"log/slog"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is everything the gateway reads at startup.
type Config struct {
	// Listen is the TCP address the HTTP server binds, host:port. Port 0
	// picks a free port; the bound address is logged.
	Listen string `yaml:"listen"`
	// GRPCListen is the TCP address the A2A gRPC binding binds, host:port
	// (port 0 picks a free one). Empty turns gRPC off.
	GRPCListen string `yaml:"grpc_listen"`
	// PublicURL is the base URL clients reach the HTTP server at, as
	// published in the A2A agent card (https://parley.example.com). Empty
	// means http:// and the bound listen address (see PublicBaseURL).
	PublicURL string `yaml:"public_url"`
	// Store names the persistence backend: sqlite://PATH (the default, a
	// file next to the process) or a postgres:// URL.
	Store string `yaml:"store"`
	// MaxBodyBytes caps the size of a request body.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ShutdownTimeout bounds how long in-flight requests may take to
	// finish after a shutdown signal before connections are closed.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// LogLevel is one of debug, info, warn, error.
	LogLevel string `yaml:"log_level"`
	// LogFormat is text (logfmt-style, for people) or json (for machines).
	LogFormat string `yaml:"log_format"`
	// GCHeapFloorBytes is the heap size below which the Go collector does
	// not start a cycle (see internal/gcfloor): CPU saved for at most this
	// much memory, while the live heap is under half of it. 0 turns it
	// off; a GOGC environment variable also does, leaving the runtime's
	// pacing as the operator set it. Default() sets
	// DefaultGCHeapFloorBytes, so 0 from a file, flag or environment
	// variable stays 0.
	GCHeapFloorBytes int64 `yaml:"gc_heap_floor_bytes"`

	// HTTP configures which requests and connections the HTTP server
	// accepts (Host and Origin allow-lists, body read timeout, connection
	// limits).
	HTTP HTTP `yaml:"http"`

	// MCP configures the MCP endpoint.
	MCP MCP `yaml:"mcp"`

	// AllowPrivateAgentURLs lets agent cards, agent endpoints and A2A
	// push-notification URLs point at loopback, private, link-local and
	// other internal addresses, which the gateway otherwise refuses (a
	// guard against server-side request forgery). For agents on a private
	// network only.
	AllowPrivateAgentURLs bool `yaml:"allow_private_agent_urls"`
	// Agents configures the registry of A2A agents.
	Agents Agents `yaml:"agents"`

	// Auth configures authentication, the permission policy and the
	// credentials presented to agents (see Auth).
	Auth Auth `yaml:"auth"`

	// Negotiation configures escalation rules and the negotiation engine.
	Negotiation Negotiation `yaml:"negotiation"`

	// Metrics configures the Prometheus endpoint, /metrics (see Metrics).
	Metrics Metrics `yaml:"metrics"`
	// Tracing configures OpenTelemetry traces over OTLP/HTTP (see Tracing);
	// the OTEL_* environment variables win over it.
	Tracing Tracing `yaml:"tracing"`

	// UI configures the admin web UI at /ui/ (see UI).
	UI UI `yaml:"ui"`

	// File is the config file the values were read from, empty when none
	// was named. It is not itself a setting.
	File string `yaml:"-"`
}

// MCP configures the MCP endpoint at /mcp.
type MCP struct {
	// ConfirmRefundAbove: a ticket is resolved with a refund above it only
	// once a person confirms it (save_resolution asks through MCP
	// elicitation), whichever face the write comes through. 0: every
	// refund; negative: never. Default() sets DefaultConfirmRefundAbove,
	// so 0 from a file, flag or environment variable stays 0.
	ConfirmRefundAbove float64 `yaml:"confirm_refund_above"`
	// StateKey signs the state that multi round-trip tools hand clients.
	// Replicas behind one load balancer must share it; empty means a random
	// key per process.
	StateKey string `yaml:"state_key"`
	// SessionTimeout is how long a session (2025-11-25 and older) may stay
	// idle before it ends, on every replica.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// ReplicaLease is how long a replica not heard of is still taken as
	// running; after it, another replica takes over the calls whose
	// streams it was writing (for clients resuming them there).
	ReplicaLease time.Duration `yaml:"replica_lease"`
	// Upstreams are MCP servers Parley fronts (see Upstream); more may be
	// registered through the admin API.
	Upstreams []Upstream `yaml:"upstreams"`
}

// Agents configures the registry of A2A agents.
type Agents struct {
	// HealthInterval is how often each registered agent is probed (its
	// card fetched again, which also detects drift). Negative: never.
	HealthInterval time.Duration `yaml:"health_interval"`
}

// Defaults.
const (
	DefaultConfirmRefundAbove  = 500.0
	DefaultListen              = "127.0.0.1:8080"
	DefaultGRPCListen          = "127.0.0.1:8081"
	DefaultStore               = "sqlite://./parley.db"
	DefaultMaxBodyBytes        = 4 << 20 // 4 MiB
	DefaultGCHeapFloorBytes    = 64 << 20
	DefaultShutdownTimeout     = 15 * time.Second
	DefaultLogLevel            = "info"
	DefaultLogFormat           = "text"
	DefaultAgentHealthInterval = 30 * time.Second
	DefaultSessionTimeout      = 30 * time.Minute
	DefaultReplicaLease        = 10 * time.Second
)

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		Listen:           DefaultListen,
		GRPCListen:       DefaultGRPCListen,
		Store:            DefaultStore,
		MaxBodyBytes:     DefaultMaxBodyBytes,
		GCHeapFloorBytes: DefaultGCHeapFloorBytes,
		ShutdownTimeout:  DefaultShutdownTimeout,
		LogLevel:         DefaultLogLevel,
		LogFormat:        DefaultLogFormat,
		HTTP:             defaultHTTP(),
		MCP:              MCP{ConfirmRefundAbove: DefaultConfirmRefundAbove, SessionTimeout: DefaultSessionTimeout, ReplicaLease: DefaultReplicaLease},
		Agents:           Agents{HealthInterval: DefaultAgentHealthInterval},
		Negotiation:      Negotiation{TurnTimeout: DefaultTurnTimeout, Lease: DefaultLease, RetryBackoff: DefaultRetryBackoff},
		Metrics:          defaultMetrics(),
		Auth: Auth{
			RoleClaims: slices.Clone(DefaultRoleClaims),
			AdminRoles: slices.Clone(DefaultAdminRoles),
		},
	}
}

// Store backend kinds returned by StoreBackend.
const (
	BackendSQLite   = "sqlite"
	BackendPostgres = "postgres"
)

// StoreBackend splits Store into the backend kind and what to hand that
// backend's Open: the file path for SQLite ("sqlite://./parley.db" gives
// "sqlite", "./parley.db"), the whole URL for PostgreSQL. It returns two
// empty strings for a store that does not validate.
func (c Config) StoreBackend() (kind, target string) {
	switch {
	case strings.HasPrefix(c.Store, "sqlite://"):
		if path := strings.TrimPrefix(c.Store, "sqlite://"); path != "" {
			return BackendSQLite, path
		}
	case strings.HasPrefix(c.Store, "postgres://"), strings.HasPrefix(c.Store, "postgresql://"):
		if _, err := url.Parse(c.Store); err == nil {
			return BackendPostgres, c.Store
		}
	}
	return "", ""
}

// SlogLevel is LogLevel as a slog.Level; info for anything unrecognised
// (Load rejects those).
func (c Config) SlogLevel() slog.Level {
	switch strings.ToLower(c.LogLevel) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// LogValue makes a Config safe and readable in logs: the store URL's
// password is masked.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("listen", c.Listen),
		slog.String("grpc_listen", c.GRPCListen),
		slog.String("public_url", c.PublicURL),
		slog.String("store", redactURL(c.Store)),
		slog.Int64("max_body_bytes", c.MaxBodyBytes),
		slog.Int64("gc_heap_floor_bytes", c.GCHeapFloorBytes),
		slog.Duration("shutdown_timeout", c.ShutdownTimeout),
		slog.String("log_level", c.LogLevel),
		slog.String("log_format", c.LogFormat),
		slog.Any("http.allowed_hosts", c.HTTP.AllowedHosts),
		slog.Any("http.allowed_origins", c.HTTP.AllowedOrigins),
		slog.Duration("http.body_read_timeout", c.HTTP.BodyReadTimeout),
		slog.Int("http.max_conns", c.HTTP.MaxConns),
		slog.Int("http.max_conns_per_client", c.HTTP.MaxConnsPerClient),
		slog.Duration("mcp.session_timeout", c.MCP.SessionTimeout),
		slog.Duration("mcp.replica_lease", c.MCP.ReplicaLease),
		slog.Int("mcp.upstreams", len(c.MCP.Upstreams)),
		slog.Bool("allow_private_agent_urls", c.AllowPrivateAgentURLs),
		slog.Duration("agents.health_interval", c.Agents.HealthInterval),
		slog.String("auth.issuer", c.Auth.Issuer),
		slog.Any("auth.audiences", c.Auth.Audiences),
		slog.Bool("auth.insecure_no_auth", c.Auth.InsecureNoAuth),
		slog.Int("auth.policy_rules", len(c.Auth.Policy)),
		slog.Int("auth.agents_credentials", len(c.Auth.AgentsCredentials)),
		slog.Bool("metrics.enabled", c.Metrics.Enabled),
		slog.String("metrics.listen", c.Metrics.Listen),
	}
	if c.File != "" {
		attrs = append(attrs, slog.String("file", c.File))
	}
	return slog.GroupValue(attrs...)
}

// Validate checks every setting and returns nil or one *Error per bad
// value (joined). Errors from Validate do not know where a value came
// from; Load fills that in.
func (c Config) Validate() error {
	return joinErrors(c.check())
}

// check returns one error per invalid setting, in field order, with Field,
// Value and Reason set; the caller adds the Source.
func (c Config) check() []*Error {
	var errs []*Error
	bad := func(field, value, reason string) {
		errs = append(errs, &Error{Field: field, Value: value, Reason: reason})
	}

	if !validListen(c.Listen) {
		bad("listen", c.Listen, "must be host:port with a numeric port 0-65535, e.g. 127.0.0.1:8080 or :8080")
	}
	if c.GRPCListen != "" {
		if !validListen(c.GRPCListen) {
			bad("grpc_listen", c.GRPCListen, "must be host:port with a numeric port 0-65535, e.g. 127.0.0.1:8081, or empty to turn gRPC off")
		} else if sameFixedPort(c.GRPCListen, c.Listen) {
			bad("grpc_listen", c.GRPCListen, "must not be the HTTP listen address "+c.Listen)
		}
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			bad("public_url", c.PublicURL, "must be an absolute http:// or https:// URL without user info, query or fragment, e.g. https://parley.example.com")
		}
	}
	if kind, _ := c.StoreBackend(); kind == "" {
		bad("store", redactURL(c.Store), "must be sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE (postgresql:// is accepted too)")
	}
	if c.MaxBodyBytes <= 0 {
		bad("max_body_bytes", strconv.FormatInt(c.MaxBodyBytes, 10), "must be a positive number of bytes")
	}
	if c.GCHeapFloorBytes < 0 {
		bad("gc_heap_floor_bytes", strconv.FormatInt(c.GCHeapFloorBytes, 10), "must be a number of bytes, or 0 to leave the Go runtime's pacing alone")
	}
	if c.ShutdownTimeout <= 0 {
		bad("shutdown_timeout", c.ShutdownTimeout.String(), "must be a positive duration such as 15s")
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", c.LogLevel, "must be one of debug, info, warn, error")
	}
	switch strings.ToLower(c.LogFormat) {
	case "text", "json":
	default:
		bad("log_format", c.LogFormat, "must be text or json")
	}
	c.HTTP.check(bad)
	if k := c.MCP.StateKey; k != "" && len(k) < 16 {
		bad("mcp.state_key", "(hidden)", "must be at least 16 characters: it signs client-held state")
	}
	// NaN would compare false with every refund: no refund would need a
	// person. Infinity is an obscure way to say never.
	if v := c.MCP.ConfirmRefundAbove; math.IsNaN(v) || math.IsInf(v, 0) {
		bad("mcp.confirm_refund_above", strconv.FormatFloat(v, 'g', -1, 64), "must be an amount such as 500, 0 to confirm every refund, or negative (-1) to confirm none")
	}
	if c.MCP.SessionTimeout <= 0 {
		bad("mcp.session_timeout", c.MCP.SessionTimeout.String(), "must be a positive duration such as 30m")
	}
	if c.MCP.ReplicaLease < time.Second {
		bad("mcp.replica_lease", c.MCP.ReplicaLease.String(), "must be a duration of at least 1s, such as 10s")
	}
	c.MCP.checkUpstreams(bad)
	if c.Agents.HealthInterval == 0 {
		bad("agents.health_interval", c.Agents.HealthInterval.String(), "must be a positive duration such as 30s, or negative (-1s) to turn health probes off")
	}
	c.Auth.check(bad)
	c.Negotiation.check(bad)
	c.Metrics.check(c, bad)
	c.Tracing.check(bad)
	c.UI.check(bad)
	return errs
}

// validListen accepts host:port with a numeric port. The host may be empty
// (all interfaces) but the port may not: a service name such as "http"
// would be looked up at bind time, far from the config that caused it.
func validListen(s string) bool {
	_, port, err := net.SplitHostPort(s)
	if err != nil || port == "" {
		return false
	}
	_, err = strconv.ParseUint(port, 10, 16)
	return err == nil
}

// sameFixedPort reports whether two valid listen addresses would bind the
// same port on overlapping hosts (port 0 never clashes).
func sameFixedPort(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb || pa == "0" {
		return false
	}
	return ha == hb || ha == "" || hb == "" || ha == "0.0.0.0" || hb == "0.0.0.0" || ha == "::" || hb == "::"
}

// PublicBaseURL is the base URL clients reach the HTTP server at, without
// a trailing slash: PublicURL when set, else http:// and bound, the address
// the HTTP server actually listens on (Listen when bound is empty), with an
// unspecified host (all interfaces) shown as 127.0.0.1.
func (c Config) PublicBaseURL(bound string) string {
	if c.PublicURL != "" {
		return strings.TrimSuffix(c.PublicURL, "/")
	}
	if bound == "" {
		bound = c.Listen
	}
	host, port, err := net.SplitHostPort(bound)
	if err != nil {
		return "http://" + bound
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// redactURL masks the password of a URL-looking value so that it can be
// logged or printed in an error. Values that do not parse as a URL but
// still carry user info ("postgres://u:p@host:badport") lose it wholesale.
func redactURL(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	if u, err := url.Parse(s); err == nil {
		if u.User == nil {
			return s // nothing to hide; keep it exactly as written
		}
		return u.Redacted()
	}
	// Only the authority part (up to the first '/') can hold user info.
	authority, path, hasPath := strings.Cut(rest, "/")
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return s
	}
	out := scheme + "://xxxxx" + authority[at:]
	if hasPath {
		out += "/" + path
	}
	return out
}

func joinErrors(errs []*Error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	all := make([]error, len(errs))
	for i, e := range errs {
		all[i] = e
	}
	return errors.Join(all...)
}
