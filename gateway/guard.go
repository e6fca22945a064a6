package gateway

import (
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/internal/hostcheck"
)

// Paths the gateway serves itself.
const (
	healthzPath = "/healthz"
	readyzPath  = "/readyz"
)

// newHostPolicy builds the Host and Origin allow-list from the config:
// loopback names always, public_url's host, and http.allowed_hosts and
// http.allowed_origins (which Validate has checked already).
func newHostPolicy(cfg config.Config) (*hostcheck.Policy, error) {
	hosts := slices.Clone(cfg.HTTP.AllowedHosts)
	if cfg.PublicURL != "" {
		// Validate has checked that it parses and has a host.
		if u, err := url.Parse(cfg.PublicURL); err == nil && u.Hostname() != "" {
			hosts = append(hosts, u.Hostname())
		}
	}
	return hostcheck.New(hosts, cfg.HTTP.AllowedOrigins)
}

// checkHostOrigin refuses, with 403, a request whose Host header is not
// on the allow-list (DNS rebinding: a page on evil.example whose name now
// resolves to 127.0.0.1 reaches the gateway with Host: evil.example) or
// whose Origin header names a site not allowed to call the gateway (a
// cross-site request from a page the operator visits). A request without
// Origin comes from a program, not a browser page, and is not affected.
// The health endpoints are exempt: orchestrators probe them by IP address,
// and they say nothing a page could use.
func (g *Gateway) checkHostOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == healthzPath || r.URL.Path == readyzPath {
			next.ServeHTTP(w, r)
			return
		}
		if !g.hosts.AllowsHost(r.Host) {
			g.log.DebugContext(r.Context(), "refused a request for a host not allowed", "host", r.Host, "request_id", RequestIDFrom(r.Context()))
			WriteError(w, http.StatusForbidden, fmt.Sprintf("host %s is not allowed: the gateway answers only to the names it is configured with (http.allowed_hosts, public_url)", quote(r.Host)))
			return
		}
		if origins := r.Header.Values("Origin"); len(origins) > 0 {
			allowed, err := g.hosts.AllowsOrigin(origins[0], r.Host)
			if len(origins) > 1 {
				allowed, err = false, nil
			}
			if !allowed {
				g.log.DebugContext(r.Context(), "refused a request from an origin not allowed", "origin", origins, "request_id", RequestIDFrom(r.Context()))
				msg := fmt.Sprintf("origin %s is not allowed to call this gateway: list it in http.allowed_origins", quote(origins[0]))
				if err != nil {
					msg = fmt.Sprintf("origin %s is not allowed: an Origin header must be scheme://host[:port]", quote(origins[0]))
				}
				WriteError(w, http.StatusForbidden, msg)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// requireJSON answers 415 to a POST, PUT or PATCH whose body is not JSON:
// every body Parley's endpoints take is JSON. This also shuts out the
// "simple" requests a browser sends cross-site without asking first
// (text/plain, form-encoded, multipart, or no Content-Type at all). A
// request with no body and no Content-Type (a bare POST to an action such
// as /refetch) has nothing to misread and passes.
func (g *Gateway) requireJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
		default:
			next.ServeHTTP(w, r)
			return
		}
		ct := r.Header.Get("Content-Type")
		if ct == "" && r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		if !isJSONMediaType(ct) {
			msg := "the request body must be JSON: send it with Content-Type: application/json"
			if ct != "" {
				msg = fmt.Sprintf("unsupported Content-Type %s: the request body must be JSON (application/json)", quote(ct))
			}
			WriteError(w, http.StatusUnsupportedMediaType, msg)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isJSONMediaType reports whether a Content-Type value is application/json
// or a +json type (application/vnd.api+json), with any parameters.
func isJSONMediaType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// quote quotes a caller's header value for an error message, cut short:
// it is the caller's own input, echoed so that they can see what arrived.
func quote(s string) string {
	const max = 100
	if len(s) > max {
		return fmt.Sprintf("%q…", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
