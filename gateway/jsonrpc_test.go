package gateway_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/gateway"
)

// innerLimit stands for a handler that wraps the body in its own, larger
// limit and names that limit when it trips (as a2a/compat does with 8 MiB).
func innerLimit(w http.ResponseWriter, r *http.Request) {
	const own = 8 << 20
	if _, err := io.ReadAll(http.MaxBytesReader(w, r.Body, own)); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, fmt.Sprintf("request body larger than %d bytes", own), http.StatusRequestEntityTooLarge)
			return
		}
	}
	w.WriteHeader(http.StatusAccepted) // stands for 202 with nothing, as go-sdk answers a response
}

func TestJSONRPCEdge(t *testing.T) {
	const limit = 64
	g, _ := newGateway(t, func(c *config.Config) { c.MaxBodyBytes = limit }, pingOK)
	g.HandleOwnBodyLimit("/mcp", g.JSONRPC(gateway.MCPEndpoint)(http.HandlerFunc(innerLimit)))
	g.Router().Handle("/a2a", g.JSONRPC(gateway.A2AEndpoint)(http.HandlerFunc(innerLimit)))
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)

	tests := []struct {
		name       string
		path       string
		body       string
		chunked    bool
		wantStatus int
		wantBody   string // "" when the handler answers
	}{
		{name: "valid request reaches the handler", path: "/mcp", body: `{"jsonrpc":"2.0","id":1,"method":"ping"}`,
			wantStatus: http.StatusAccepted},
		{name: "MCP: id and params but no method", path: "/mcp", body: `{"jsonrpc":"2.0","id":7,"params":{}}`,
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"jsonrpc":"2.0","id":7,"error":{"code":-32600,"message":"invalid request: \"method\" is missing: a request needs a method, and a response a result or an error"}}`},
		{name: "MCP: id beyond int64", path: "/mcp", body: `{"jsonrpc":"2.0","id":92233720368547758070,"method":"ping"}`,
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"invalid request: id 92233720368547758070 is too large: a numeric id must lie between -9007199254740991 and 9007199254740991, which JSON numbers hold exactly (or use a string id)"}}`},
		{name: "A2A: id with a fraction", path: "/a2a", body: `{"jsonrpc":"2.0","id":1.5,"method":"tasks/get"}`,
			wantStatus: http.StatusOK,
			wantBody:   `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"invalid request: id 1.5 is not a whole number: a numeric id must be an integer written without fraction or exponent (or use a string id)"}}`},
		{name: "A2A: chunked body over the gateway's limit", path: "/a2a", body: `{"jsonrpc":"2.0","id":1,"method":"m","params":{"x":"` + strings.Repeat("a", 200) + `"}}`, chunked: true,
			wantStatus: http.StatusRequestEntityTooLarge,
			wantBody:   `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"request body too large: it exceeds the limit of 64 bytes"}}`},
		{name: "MCP: chunked body over the gateway's limit", path: "/mcp", body: strings.Repeat(" ", 200), chunked: true,
			wantStatus: http.StatusRequestEntityTooLarge,
			wantBody:   `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"request body too large: it exceeds the limit of 64 bytes"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body) // unknown length: sent chunked
			}
			resp, err := http.Post(srv.URL+tt.path, "application/json", body)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d: %s", resp.StatusCode, tt.wantStatus, got)
			}
			if tt.wantBody != "" && strings.TrimSpace(string(got)) != tt.wantBody {
				t.Errorf("body = %s\nwant   %s", got, tt.wantBody)
			}
		})
	}
}
