package gateway_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/gateway"
)

// guardedGateway mounts a handler that answers 204 the way each kind of
// endpoint is mounted in the assembled gateway: a JSON-RPC endpoint with
// its own body limit (/mcp), routes through Router (/a2a), a mounted
// sub-router (/a2a/agents/…) and a route group (/api/v1/…).
func guardedGateway(t *testing.T, mod func(*config.Config)) http.Handler {
	t.Helper()
	g, _ := newGateway(t, mod, pingOK)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	})
	g.HandleOwnBodyLimit("/mcp", ok)
	g.Router().Handle("/a2a", ok)
	relay := chi.NewRouter()
	relay.Handle("/*", ok)
	g.Router().Mount("/a2a/agents", relay)
	g.Router().Group(func(r chi.Router) {
		r.Handle("/api/v1/agents", ok)
		r.Handle("/api/v1/agents/{name}/refetch", ok)
	})
	return g.Handler()
}

func TestHostAndOriginChecks(t *testing.T) {
	const rpc = `{"jsonrpc":"2.0","id":1,"method":"tasks/get"}`
	tests := []struct {
		name        string
		mod         func(*config.Config)
		method      string
		path        string
		host        string
		origin      string
		contentType string
		body        string
		wantStatus  int
		wantError   string // substring of the "error" field
	}{
		// Finding 1: a foreign Host (DNS rebinding) on every kind of route.
		{name: "foreign host on /a2a", method: "POST", path: "/a2a", host: "evil.example", contentType: "application/json", body: rpc,
			wantStatus: http.StatusForbidden, wantError: `host "evil.example" is not allowed`},
		{name: "foreign host on a relay", method: "POST", path: "/a2a/agents/billing/", host: "evil.example:8080", contentType: "application/json", body: rpc,
			wantStatus: http.StatusForbidden, wantError: `host "evil.example:8080" is not allowed`},
		{name: "foreign host on the admin API", method: "GET", path: "/api/v1/agents", host: "evil.example",
			wantStatus: http.StatusForbidden, wantError: "is not allowed"},
		{name: "foreign host on /mcp", method: "POST", path: "/mcp", host: "evil.example", contentType: "application/json", body: rpc,
			wantStatus: http.StatusForbidden, wantError: "is not allowed"},
		{name: "foreign host on a path that does not exist", method: "GET", path: "/nope", host: "evil.example",
			wantStatus: http.StatusForbidden},
		{name: "loopback names with any port", method: "GET", path: "/api/v1/agents", host: "localhost:9999",
			wantStatus: http.StatusNoContent},
		{name: "IPv6 loopback", method: "GET", path: "/api/v1/agents", host: "[::1]:8080",
			wantStatus: http.StatusNoContent},
		{name: "health stays reachable by any name", method: "GET", path: "/healthz", host: "10.1.2.3:8080",
			wantStatus: http.StatusOK},
		{name: "readiness stays reachable by any name", method: "GET", path: "/readyz", host: "pod.internal", origin: "http://evil.example",
			wantStatus: http.StatusOK},
		{name: "configured host", mod: func(c *config.Config) { c.HTTP.AllowedHosts = []string{"parley.internal"} },
			method: "GET", path: "/api/v1/agents", host: "parley.internal:8080", wantStatus: http.StatusNoContent},
		{name: "public_url's host", mod: func(c *config.Config) { c.PublicURL = "https://parley.example.com/base" },
			method: "GET", path: "/api/v1/agents", host: "parley.example.com", wantStatus: http.StatusNoContent},
		{name: "any host behind a proxy", mod: func(c *config.Config) { c.HTTP.AllowedHosts = []string{"*"} },
			method: "GET", path: "/api/v1/agents", host: "whatever.example", wantStatus: http.StatusNoContent},

		// Finding 1: cross-site requests, including browsers' "simple" ones.
		{name: "foreign origin, text/plain", method: "POST", path: "/a2a", host: "127.0.0.1:8080", origin: "http://evil.example",
			contentType: "text/plain", body: rpc, wantStatus: http.StatusForbidden, wantError: `origin "http://evil.example" is not allowed`},
		{name: "foreign origin, form", method: "POST", path: "/api/v1/agents", host: "127.0.0.1:8080", origin: "http://evil.example",
			contentType: "application/x-www-form-urlencoded", body: "a=b", wantStatus: http.StatusForbidden},
		{name: "foreign origin, no content type", method: "POST", path: "/api/v1/agents/x/refetch", host: "127.0.0.1:8080", origin: "https://evil.example",
			wantStatus: http.StatusForbidden},
		{name: "foreign origin, JSON", method: "POST", path: "/mcp", host: "localhost:8080", origin: "http://evil.example:8080",
			contentType: "application/json", body: rpc, wantStatus: http.StatusForbidden},
		{name: "foreign origin on a GET stream", method: "GET", path: "/mcp", host: "localhost:8080", origin: "http://evil.example",
			wantStatus: http.StatusForbidden},
		{name: "rebinding: origin and host both foreign", method: "POST", path: "/a2a", host: "evil.example:8080", origin: "http://evil.example:8080",
			contentType: "application/json", body: rpc, wantStatus: http.StatusForbidden, wantError: "host"},
		{name: "null origin", method: "POST", path: "/a2a", host: "127.0.0.1:8080", origin: "null",
			contentType: "application/json", body: rpc, wantStatus: http.StatusForbidden, wantError: "must be scheme://host[:port]"},
		{name: "loopback origin", method: "POST", path: "/a2a", host: "127.0.0.1:8080", origin: "http://localhost:3000",
			contentType: "application/json", body: rpc, wantStatus: http.StatusNoContent},
		{name: "same origin", mod: func(c *config.Config) { c.HTTP.AllowedHosts = []string{"parley.internal"} },
			method: "POST", path: "/a2a", host: "parley.internal", origin: "http://parley.internal",
			contentType: "application/json", body: rpc, wantStatus: http.StatusNoContent},
		{name: "configured origin", mod: func(c *config.Config) { c.HTTP.AllowedOrigins = []string{"https://console.example.com"} },
			method: "POST", path: "/a2a", host: "127.0.0.1:8080", origin: "https://console.example.com",
			contentType: "application/json", body: rpc, wantStatus: http.StatusNoContent},
		{name: "no origin: not a browser", method: "POST", path: "/a2a", host: "127.0.0.1:8080",
			contentType: "application/json", body: rpc, wantStatus: http.StatusNoContent},

		// Finding 1: JSON endpoints take JSON only.
		{name: "text/plain on /a2a", method: "POST", path: "/a2a", host: "127.0.0.1:8080", contentType: "text/plain", body: rpc,
			wantStatus: http.StatusUnsupportedMediaType, wantError: `unsupported Content-Type "text/plain"`},
		{name: "form on the admin API", method: "PUT", path: "/api/v1/agents", host: "127.0.0.1:8080", contentType: "application/x-www-form-urlencoded", body: "a=b",
			wantStatus: http.StatusUnsupportedMediaType},
		{name: "multipart on a relay", method: "POST", path: "/a2a/agents/x/", host: "127.0.0.1:8080", contentType: "multipart/form-data; boundary=x", body: "--x--",
			wantStatus: http.StatusUnsupportedMediaType},
		{name: "text/plain on /mcp", method: "POST", path: "/mcp", host: "127.0.0.1:8080", contentType: "text/plain", body: rpc,
			wantStatus: http.StatusUnsupportedMediaType},
		{name: "a body without content type", method: "POST", path: "/a2a", host: "127.0.0.1:8080", body: rpc,
			wantStatus: http.StatusUnsupportedMediaType, wantError: "send it with Content-Type: application/json"},
		{name: "PATCH with a bad content type", method: "PATCH", path: "/api/v1/agents", host: "127.0.0.1:8080", contentType: "text/json", body: "{}",
			wantStatus: http.StatusUnsupportedMediaType},
		{name: "JSON with charset", method: "POST", path: "/a2a", host: "127.0.0.1:8080", contentType: "application/json; charset=utf-8", body: rpc,
			wantStatus: http.StatusNoContent},
		{name: "+json type", method: "POST", path: "/api/v1/agents", host: "127.0.0.1:8080", contentType: "application/merge-patch+json", body: "{}",
			wantStatus: http.StatusNoContent},
		{name: "bare POST without a body", method: "POST", path: "/api/v1/agents/x/refetch", host: "127.0.0.1:8080",
			wantStatus: http.StatusNoContent},
		{name: "an empty body still declares its type", method: "POST", path: "/api/v1/agents/x/refetch", host: "127.0.0.1:8080", contentType: "text/plain",
			wantStatus: http.StatusUnsupportedMediaType},
		{name: "DELETE needs no type", method: "DELETE", path: "/mcp", host: "127.0.0.1:8080", wantStatus: http.StatusNoContent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := guardedGateway(t, tt.mod)
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req := httptest.NewRequest(tt.method, tt.path, body)
			req.Host = tt.host
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantStatus >= 400 {
				msg, _ := decode(t, rec.Body)["error"].(string)
				if !strings.Contains(msg, tt.wantError) {
					t.Errorf("error = %q, want it to contain %q", msg, tt.wantError)
				}
			}
		})
	}
}

func TestMultipleOriginHeadersRefused(t *testing.T) {
	h := guardedGateway(t, nil)
	req := newRequest(http.MethodGet, "/api/v1/agents", nil)
	req.Header.Add("Origin", "http://localhost")
	req.Header.Add("Origin", "http://evil.example")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("status = %d, want 403", rec.Code)
	}
}

func TestNewRefusesBadHTTPConfig(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*config.Config)
		want string
	}{
		{"host with a port", func(c *config.Config) { c.HTTP.AllowedHosts = []string{"x.example:80"} }, "http.allowed_hosts"},
		{"origin with a path", func(c *config.Config) { c.HTTP.AllowedOrigins = []string{"https://x.example/app"} }, "http.allowed_origins"},
		{"zero body read timeout", func(c *config.Config) { c.HTTP.BodyReadTimeout = 0 }, "http.body_read_timeout"},
		{"zero connection limit", func(c *config.Config) { c.HTTP.MaxConns = 0 }, "http.max_conns"},
		{"zero per-client limit", func(c *config.Config) { c.HTTP.MaxConnsPerClient = 0 }, "http.max_conns_per_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			tt.mod(&cfg)
			if _, err := gateway.New(cfg, gateway.Deps{Store: pingOK}, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

func TestWarnsWhenListeningBeyondLoopbackWithLoopbackNamesOnly(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*config.Config)
		warn bool
	}{
		{"loopback listen", func(c *config.Config) { c.Listen = "127.0.0.1:0" }, false},
		{"all interfaces", func(c *config.Config) { c.Listen = ":8080" }, true},
		{"all interfaces with public_url", func(c *config.Config) { c.Listen = "0.0.0.0:8080"; c.PublicURL = "https://parley.example.com" }, false},
		{"all interfaces with allowed hosts", func(c *config.Config) { c.Listen = "0.0.0.0:8080"; c.HTTP.AllowedHosts = []string{"parley.internal"} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, logs := newGateway(t, tt.mod, pingOK)
			if got := strings.Contains(logs.String(), "set public_url or http.allowed_hosts"); got != tt.warn {
				t.Errorf("warned = %v, want %v:\n%s", got, tt.warn, logs)
			}
		})
	}
}
