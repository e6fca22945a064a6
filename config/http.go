package config

import (
	"time"

	"github.com/parleyhq/parley/internal/hostcheck"
)

// HTTP configures what the HTTP server lets through before any endpoint
// sees a request: which Host and Origin headers it accepts (a guard against
// DNS rebinding and cross-site requests from web pages the operator
// visits), how long a client may take to send a request body, and how many
// connections it holds open. Package gateway implements it.
type HTTP struct {
	// AllowedHosts are the names (or IP addresses) clients may reach the
	// gateway by, as sent in the Host header, with any port. The loopback
	// names (localhost, 127.0.0.1, [::1]) and public_url's host are always
	// allowed. "*.example.com" allows every subdomain of example.com; a
	// lone "*" allows any Host, only for a gateway behind a proxy that
	// checks Host itself. Any other Host is refused with 403.
	AllowedHosts []string `yaml:"allowed_hosts"`
	// AllowedOrigins are the browser origins (scheme://host[:port]) whose
	// pages may call the gateway, besides pages served from an allowed
	// host. A request with any other Origin header is refused with 403;
	// requests without one (programs, not browsers) are not affected.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// BodyReadTimeout bounds how long a client may take to send a request
	// body, counted from the end of its headers. Response streams are not
	// affected.
	BodyReadTimeout time.Duration `yaml:"body_read_timeout"`
	// MaxConns bounds the client connections open at once, on the HTTP
	// listener and, separately, on the A2A gRPC listener; further ones are
	// closed as they arrive. Negative: no limit.
	MaxConns int `yaml:"max_conns"`
	// MaxConnsPerClient bounds the connections open at once from one
	// client address (an IPv4 address, or an IPv6 /64: one host's share).
	// Behind a proxy every connection comes from the proxy: raise it, or
	// set it negative (no limit) and let the proxy limit clients.
	MaxConnsPerClient int `yaml:"max_conns_per_client"`
}

// HTTP defaults.
const (
	DefaultBodyReadTimeout   = 30 * time.Second
	DefaultMaxConns          = 4096
	DefaultMaxConnsPerClient = 256
)

func defaultHTTP() HTTP {
	return HTTP{
		BodyReadTimeout:   DefaultBodyReadTimeout,
		MaxConns:          DefaultMaxConns,
		MaxConnsPerClient: DefaultMaxConnsPerClient,
	}
}

func (h HTTP) check(bad func(field, value, reason string)) {
	for _, host := range h.AllowedHosts {
		if _, ok := hostcheck.ParseHostPattern(host); !ok {
			bad("http.allowed_hosts", host, `must be a host name or IP address without scheme or port (api.example.com, 10.0.0.5, ::1), "*.example.com" for its subdomains, or "*" for any host`)
		}
	}
	for _, origin := range h.AllowedOrigins {
		if _, ok := hostcheck.NormalizeOrigin(origin); !ok {
			bad("http.allowed_origins", origin, "must be an origin: http:// or https://, a host and an optional port, no path, e.g. https://app.example.com")
		}
	}
	if h.BodyReadTimeout <= 0 {
		bad("http.body_read_timeout", h.BodyReadTimeout.String(), "must be a positive duration such as 30s")
	}
	if h.MaxConns == 0 {
		bad("http.max_conns", "0", "must be a positive number of connections, or negative (-1) for no limit")
	}
	if h.MaxConnsPerClient == 0 {
		bad("http.max_conns_per_client", "0", "must be a positive number of connections, or negative (-1) for no limit")
	}
}
