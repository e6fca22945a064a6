package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// What the HTTP edge of the assembled gateway refuses before any protocol
// handler sees a request (issue 10, findings 1, 4 and 9): a foreign Host or
// Origin, a body that is not JSON, a malformed JSON-RPC envelope, a body
// over the limit and a body that never finishes arriving.

// edgeTimeout bounds how long the client waits for the gateway: far longer
// than anything the gateway is configured to take here.
const edgeTimeout = 30 * time.Second

type probe struct {
	name        string
	method      string
	path        string
	host        string // "" for the address dialled
	origin      string
	contentType string
	body        string
	chunked     bool // hide the length so that the body is sent chunked
	wantStatus  int
	wantBody    []string // substrings of the answer
}

func (p probe) do(t *testing.T, base string) (int, string) {
	t.Helper()
	var body io.Reader
	if p.body != "" {
		body = strings.NewReader(p.body)
		if p.chunked {
			body = io.MultiReader(body)
		}
	}
	req, err := http.NewRequestWithContext(t.Context(), p.method, base+p.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if p.host != "" {
		req.Host = p.host
	}
	if p.origin != "" {
		req.Header.Set("Origin", p.origin)
	}
	if p.contentType != "" {
		req.Header.Set("Content-Type", p.contentType)
	}
	if p.path == "/mcp" {
		req.Header.Set("Accept", "application/json, text/event-stream")
	}
	resp, err := (&http.Client{Timeout: edgeTimeout}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", p.method, p.path, err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(got)
}

// TestEdgeAllowsConfiguredHosts: behind a proxy on the same machine, the
// public name the operator allowed reaches every endpoint, /mcp included
// (go-sdk's own DNS-rebinding check knows loopback names only), while
// other names are still refused.
func TestEdgeAllowsConfiguredHosts(t *testing.T) {
	dir := t.TempDir()
	p := start(t, dir, cleanEnv(), "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0",
		"--store", "sqlite://"+filepath.Join(dir, "parley.db"), "--public-url", "https://parley.example")
	base := "http://" + p.addr(t)
	ping := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"probe","version":"1"}}}`
	for _, tt := range []probe{
		{name: "public host, MCP", method: "POST", path: "/mcp", host: "parley.example", contentType: "application/json", body: ping,
			wantStatus: 200, wantBody: []string{`"protocolVersion"`}},
		{name: "public origin, MCP", method: "POST", path: "/mcp", host: "parley.example", origin: "https://parley.example",
			contentType: "application/json", body: ping, wantStatus: 200},
		{name: "public host, admin API", method: "GET", path: "/api/v1/agents", host: "parley.example", wantStatus: 200},
		{name: "other host, MCP", method: "POST", path: "/mcp", host: "evil.example", contentType: "application/json", body: ping,
			wantStatus: 403},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := tt.do(t, base)
			if status != tt.wantStatus {
				t.Errorf("status = %d, want %d: %s", status, tt.wantStatus, body)
			}
			for _, want := range tt.wantBody {
				if !strings.Contains(body, want) {
					t.Errorf("body %q does not contain %q", body, want)
				}
			}
		})
	}
}

func TestEdgeRefusesHostileRequests(t *testing.T) {
	dir := t.TempDir()
	p := start(t, dir, cleanEnv(), "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0",
		"--store", "sqlite://"+filepath.Join(dir, "parley.db"))
	base := "http://" + p.addr(t)

	const (
		getTask = `{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"id":"no-such-task"}}`
		json    = "application/json"
	)
	big := `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"pad":"` + strings.Repeat("a", 5<<20) + `"}}`
	tests := []probe{
		// Finding 1: DNS rebinding reaches every endpoint by a foreign name.
		{name: "foreign host, own A2A", method: "POST", path: "/a2a", host: "evil.example", contentType: json, body: getTask,
			wantStatus: 403, wantBody: []string{`host \"evil.example\" is not allowed`}},
		{name: "foreign host, relay", method: "POST", path: "/a2a/agents/billing/", host: "evil.example:80", contentType: json, body: getTask,
			wantStatus: 403},
		{name: "foreign host, admin API", method: "GET", path: "/api/v1/agents", host: "evil.example", wantStatus: 403},
		{name: "foreign host, audit log", method: "GET", path: "/api/v1/audit", host: "evil.example", wantStatus: 403},
		{name: "foreign host, MCP", method: "POST", path: "/mcp", host: "evil.example", contentType: json,
			body: `{"jsonrpc":"2.0","id":1,"method":"ping"}`, wantStatus: 403},
		{name: "foreign host, health stays up", method: "GET", path: "/healthz", host: "10.9.8.7:8080", wantStatus: 200},
		{name: "loopback name", method: "GET", path: "/api/v1/agents", host: "localhost", wantStatus: 200},

		// Finding 1: cross-site "simple" requests from a page the operator visits.
		{name: "foreign origin, text/plain to A2A", method: "POST", path: "/a2a", origin: "http://evil.example", contentType: "text/plain", body: getTask,
			wantStatus: 403, wantBody: []string{`origin \"http://evil.example\" is not allowed`}},
		{name: "foreign origin, form to admin API", method: "POST", path: "/api/v1/agents", origin: "http://evil.example",
			contentType: "application/x-www-form-urlencoded", body: "url=http://x", wantStatus: 403},
		{name: "foreign origin, no body", method: "DELETE", path: "/api/v1/agents/billing", origin: "http://evil.example", wantStatus: 403},
		{name: "foreign origin, MCP", method: "POST", path: "/mcp", origin: "http://evil.example", contentType: json,
			body: `{"jsonrpc":"2.0","id":1,"method":"ping"}`, wantStatus: 403},
		{name: "text/plain without origin", method: "POST", path: "/a2a", contentType: "text/plain", body: getTask,
			wantStatus: 415, wantBody: []string{`unsupported Content-Type \"text/plain\"`}},
		{name: "no content type", method: "POST", path: "/a2a/agents/billing/", body: getTask, wantStatus: 415},
		{name: "form to MCP", method: "POST", path: "/mcp", contentType: "application/x-www-form-urlencoded", body: "a=b", wantStatus: 415},
		{name: "loopback origin passes", method: "POST", path: "/a2a", origin: "http://localhost:3000", contentType: json, body: getTask,
			wantStatus: 200, wantBody: []string{`"id":1`, `"error"`}},

		// Finding 9b: an id and params but no method (go-sdk answered 202 and nothing).
		{name: "no method, MCP", method: "POST", path: "/mcp", contentType: json, body: `{"jsonrpc":"2.0","id":7,"params":{}}`,
			wantStatus: 400, wantBody: []string{`"id":7`, `"code":-32600`, `\"method\" is missing`}},
		{name: "no method, A2A", method: "POST", path: "/a2a", contentType: json, body: `{"jsonrpc":"2.0","id":7,"params":{}}`,
			wantStatus: 200, wantBody: []string{`"id":7`, `"code":-32600`}},

		// Finding 9c: ids the handlers coerced (9007199254740993 came back as …992).
		{name: "id beyond double precision, MCP", method: "POST", path: "/mcp", contentType: json,
			body:       `{"jsonrpc":"2.0","id":9007199254740993,"method":"ping"}`,
			wantStatus: 400, wantBody: []string{`"id":null`, `"code":-32600`, "id 9007199254740993 is too large"}},
		{name: "id beyond int64, A2A", method: "POST", path: "/a2a", contentType: json,
			body:       `{"jsonrpc":"2.0","id":92233720368547758070,"method":"tasks/get","params":{"id":"x"}}`,
			wantStatus: 200, wantBody: []string{`"id":null`, `"code":-32600`, "is too large"}},
		{name: "fractional id, relay", method: "POST", path: "/a2a/agents/billing/", contentType: json,
			body:       `{"jsonrpc":"2.0","id":1.5,"method":"tasks/get","params":{"id":"x"}}`,
			wantStatus: 200, wantBody: []string{`"id":null`, `"code":-32600`, "id 1.5 is not a whole number"}},
		{name: "string id still fine", method: "POST", path: "/a2a", contentType: json,
			body:       `{"jsonrpc":"2.0","id":"9007199254740993","method":"tasks/get","params":{"id":"x"}}`,
			wantStatus: 200, wantBody: []string{`"id":"9007199254740993"`}},

		// Finding 9a: a chunked body over the limit names the configured limit.
		{name: "chunked body over the limit, A2A", method: "POST", path: "/a2a", contentType: json, body: big, chunked: true,
			wantStatus: 413, wantBody: []string{"exceeds the limit of 4194304 bytes"}},
		{name: "chunked body over the limit, relay", method: "POST", path: "/a2a/agents/billing/", contentType: json, body: big, chunked: true,
			wantStatus: 413, wantBody: []string{"exceeds the limit of 4194304 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := tt.do(t, base)
			if status != tt.wantStatus {
				t.Errorf("status = %d, want %d: %s", status, tt.wantStatus, body)
			}
			for _, want := range tt.wantBody {
				if !strings.Contains(body, want) {
					t.Errorf("answer lacks %s:\n%s", want, body)
				}
			}
			if strings.Contains(body, "8388608") {
				t.Errorf("answer names a limit that is not the configured one: %s", body)
			}
		})
	}
}

// Finding 4: a client that sends its headers and then trickles its body
// is cut off once the configured body read time has passed.
func TestEdgeCutsOffSlowBodies(t *testing.T) {
	dir := t.TempDir()
	p := start(t, dir, cleanEnv(), "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0",
		"--store", "sqlite://"+filepath.Join(dir, "parley.db"), "--http-body-read-timeout", "300ms")
	addr := p.addr(t)

	for _, path := range []string{"/a2a", "/mcp", "/api/v1/agents"} {
		t.Run(path, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(edgeTimeout))
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 100\r\n\r\n{", path, addr)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer to a stalled body: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "request body not received within 300ms") {
				t.Errorf("answer = %d %s, want 408 naming the timeout", resp.StatusCode, body)
			}
			// And the connection is let go.
			if n, err := br.Read(make([]byte, 1)); n > 0 || err == nil {
				t.Errorf("the connection is still open (read %d bytes, %v)", n, err)
			} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Errorf("the gateway still holds the connection after %s", edgeTimeout)
			}
		})
	}
}

// Finding 4: connections are bounded per client. With N held open, the
// next one from the same address is turned away; another address gets in.
func TestEdgeLimitsConnectionsPerClient(t *testing.T) {
	const limit = 3
	dir := t.TempDir()
	p := start(t, dir, cleanEnv(), "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0",
		"--store", "sqlite://"+filepath.Join(dir, "parley.db"), "--http-max-conns-per-client", fmt.Sprint(limit))
	addr := p.addr(t)

	dial := func(from string) (net.Conn, *bufio.Reader) {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Skipf("cannot dial from %s here: %v", from, err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(edgeTimeout))
		return c, bufio.NewReader(c)
	}
	// get sends a keep-alive request and reports whether it was answered:
	// an answered connection stays open, held by the gateway.
	get := func(c net.Conn, br *bufio.Reader) (int, error) {
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	for i := range limit {
		if status, err := get(dial("127.0.0.1")); err != nil || status != 200 {
			t.Fatalf("connection %d within the limit: %d, %v", i+1, status, err)
		}
	}
	if status, err := get(dial("127.0.0.1")); err == nil {
		t.Fatalf("connection %d was served (%d) while %d are held", limit+1, status, limit)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection %d was neither served nor refused", limit+1)
	}
	if status, err := get(dial("127.0.0.2")); err != nil || status != 200 {
		t.Errorf("another client: %d, %v; want 200", status, err)
	}
	if !strings.Contains(p.logs.String(), "refused a connection: too many open connections") {
		t.Errorf("the refusal is not logged:\n%s", p.logs)
	}
}
