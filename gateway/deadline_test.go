package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/gateway"
)

// clientTimeout bounds how long a test client waits for the server, so that
// a server that never answers fails the test instead of hanging it. The
// server's own deadlines in these tests are far shorter: a slow machine
// only makes the tests take longer.
const clientTimeout = 30 * time.Second

// rawConn dials addr and arms the client-side failsafe deadline.
func rawConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(clientTimeout))
	return c
}

// readResponse reads one HTTP response from c and its whole body.
func readResponse(t *testing.T, br *bufio.Reader) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the response body: %v", err)
	}
	return resp, string(body)
}

// expectClosed asserts that the server has closed c: a read returns EOF or
// a reset, not a timeout.
func expectClosed(t *testing.T, br *bufio.Reader) {
	t.Helper()
	n, err := br.Read(make([]byte, 1))
	if n > 0 || err == nil {
		t.Fatalf("read %d bytes from a connection the server should have closed", n)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server still holds the connection after %s", clientTimeout)
	}
}

func TestSlowBodyIsCutOff(t *testing.T) {
	const timeout = 200 * time.Millisecond
	g, _ := newGateway(t, func(c *config.Config) { c.HTTP.BodyReadTimeout = timeout }, pingOK)
	read := func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			if gateway.WriteBodyError(w, err) {
				return
			}
			gateway.WriteError(w, http.StatusBadRequest, "cannot read the body")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
	g.Router().Post("/echo", read)
	g.HandleOwnBodyLimit("/own", http.HandlerFunc(read))
	g.Router().With(g.JSONRPC(gateway.A2AEndpoint)).Post("/rpc", read)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, _ := serve(t, ctx, g)

	tests := []struct {
		path     string
		wantBody string
	}{
		{"/echo", `{"error":"request body not received within 200ms"}`},
		{"/own", `{"error":"request body not received within 200ms"}`},
		{"/rpc", `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"request body not received within 200ms"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			c := rawConn(t, addr)
			// Headers, then one byte of a ten-byte body, then nothing.
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{", tt.path)
			br := bufio.NewReader(c)
			resp, body := readResponse(t, br)
			if resp.StatusCode != http.StatusRequestTimeout {
				t.Errorf("status = %d, want 408", resp.StatusCode)
			}
			if strings.TrimSpace(body) != tt.wantBody {
				t.Errorf("body = %s, want %s", body, tt.wantBody)
			}
			expectClosed(t, br)
		})
	}
}

// A body that arrives in time lifts the deadline: the response may then
// stream for as long as it likes, and so may a GET, which has no body.
func TestBodyDeadlineSparesStreams(t *testing.T) {
	const timeout = 100 * time.Millisecond
	g, _ := newGateway(t, func(c *config.Config) { c.HTTP.BodyReadTimeout = timeout }, pingOK)
	stream := func(w http.ResponseWriter, r *http.Request) {
		// An SSE GET does not read its (empty) body; a POST reads it all.
		if r.Method == http.MethodPost {
			if _, err := io.ReadAll(r.Body); err != nil {
				t.Errorf("reading the body: %v", err)
				return
			}
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		http.NewResponseController(w).Flush()
		// Well past the body deadline: a deadline still armed would have
		// made the server's watch on the connection cancel the request.
		select {
		case <-time.After(5 * timeout):
		case <-r.Context().Done():
			io.WriteString(w, "data: cancelled\n\n")
			return
		}
		io.WriteString(w, "data: second\n\n")
	}
	g.Router().Get("/events", stream)
	g.Router().Post("/events", stream)
	g.HandleOwnBodyLimit("/own-events", http.HandlerFunc(stream))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, _ := serve(t, ctx, g)

	tests := []struct{ method, path, body string }{
		{http.MethodGet, "/events", ""},
		{http.MethodPost, "/events", `{"stream":true}`},
		{http.MethodPost, "/own-events", `{"stream":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			c := rawConn(t, addr)
			fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", tt.method, tt.path, len(tt.body), tt.body)
			resp, body := readResponse(t, bufio.NewReader(c))
			if resp.StatusCode != http.StatusOK || body != "data: first\n\ndata: second\n\n" {
				t.Errorf("stream = %d %q, want both events", resp.StatusCode, body)
			}
		})
	}
}
