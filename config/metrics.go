package config

// Metrics configures the Prometheus endpoint, /metrics.
//
// On the main HTTP listener (Listen empty) the endpoint is protected like
// the admin API when authentication is on: a bearer token of a caller with
// an admin role. On a listen address of its own it answers anyone who can
// connect, behind the same Host check as the main listener: bind it to
// loopback or to a network only the scraper reaches (the usual Prometheus
// arrangement, since Prometheus scrapes without OIDC tokens).
type Metrics struct {
	// Enabled serves /metrics. Default true.
	Enabled bool `yaml:"enabled"`
	// Listen is a TCP address (host:port) for a listener serving only
	// /metrics. Empty: /metrics is served on the main HTTP listener.
	Listen string `yaml:"listen"`
}

// DefaultMetricsEnabled: /metrics is served unless turned off.
const DefaultMetricsEnabled = true

func defaultMetrics() Metrics { return Metrics{Enabled: DefaultMetricsEnabled} }

func (m Metrics) check(c Config, bad func(field, value, reason string)) {
	if m.Listen == "" {
		return
	}
	switch {
	case !validListen(m.Listen):
		bad("metrics.listen", m.Listen, "must be host:port with a numeric port 0-65535, e.g. 127.0.0.1:9464, or empty to serve /metrics on the main listener")
	case sameFixedPort(m.Listen, c.Listen):
		bad("metrics.listen", m.Listen, "must not be the HTTP listen address "+c.Listen+": leave it empty to serve /metrics there")
	case c.GRPCListen != "" && sameFixedPort(m.Listen, c.GRPCListen):
		bad("metrics.listen", m.Listen, "must not be the gRPC listen address "+c.GRPCListen)
	}
}
