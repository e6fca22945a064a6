package a2a_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/a2a"
	"github.com/parleyhq/parley/a2a/compat"
	"github.com/parleyhq/parley/store/sqlite"
)

// newLimitedServer is the gateway's own A2A server over SQLite with the
// given limits, gRPC on a free loopback port, not yet running.
func newLimitedServer(t *testing.T, opts a2a.Options) *a2a.Server {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	opts.Tools, opts.Tasks, opts.PublicURL = fakeTools{}, st, "http://127.0.0.1"
	srv, err := a2a.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// TestServerBodyLimit: the own A2A face refuses a body over the limit it
// is given (the gateway's max_body_bytes), in the caller's version and
// naming that limit, whether or not the body's length was announced.
// Before, compat's own 8 MiB applied whatever the gateway was configured
// with (issue 10, finding 9).
func TestServerBodyLimit(t *testing.T) {
	const limit = 1024
	srv := newLimitedServer(t, a2a.Options{MaxBodyBytes: limit})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)

	big := strings.Repeat("x", 2*limit)
	within := strings.Repeat("x", limit/4)
	tests := []struct {
		name    string
		version compat.Version
		text    string
		chunked bool
		refused bool
	}{
		{"0.3 over the limit", compat.V03, big, false, true},
		{"0.3 over the limit, chunked", compat.V03, big, true, true},
		{"1.0 over the limit", compat.V10, big, false, true},
		{"1.0 over the limit, chunked", compat.V10, big, true, true},
		{"0.3 within the limit", compat.V03, within, false, false},
		{"1.0 within the limit", compat.V10, within, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, msg := "message/send", message03(tt.text)
			if tt.version == compat.V10 {
				method, msg = "SendMessage", message10(tt.text)
			}
			body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": map[string]any{"message": msg}})
			if err != nil {
				t.Fatal(err)
			}
			var r io.Reader = strings.NewReader(string(body))
			if tt.chunked {
				r = io.MultiReader(r) // no length known: sent chunked
			}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, hs.URL, r)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			if tt.version == compat.V10 {
				req.Header.Set(compat.HeaderVersion, string(compat.V10))
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			shown := string(raw[:min(len(raw), 300)]) // the answer may echo the big text
			var answer struct {
				Error *struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(raw, &answer); err != nil {
				t.Fatalf("answer %q: %v", shown, err)
			}
			if !tt.refused {
				if resp.StatusCode != http.StatusOK || answer.Error != nil && strings.Contains(answer.Error.Message, "larger than") {
					t.Errorf("a body within the limit: HTTP %d %s", resp.StatusCode, shown)
				}
				return
			}
			if resp.StatusCode != http.StatusRequestEntityTooLarge || answer.Error == nil ||
				answer.Error.Code != compat.CodeInvalidRequest || !strings.Contains(answer.Error.Message, "1024 bytes") {
				t.Errorf("a body over the limit: HTTP %d %s; want 413, invalid request naming the limit of 1024 bytes", resp.StatusCode, shown)
			}
		})
	}
}

// TestGRPCConnectionLimits: the gRPC listener holds at most the
// connections it is allowed, in total and per client, as the HTTP server
// does: with N held, the N+1th is closed at once. Before, the gRPC port
// took every connection offered (issue 10, finding 4).
func TestGRPCConnectionLimits(t *testing.T) {
	const n = 3
	tests := []struct {
		name string
		opts a2a.Options
	}{
		{"total", a2a.Options{MaxConns: n, MaxConnsPerClient: -1}},
		{"per client", a2a.Options{MaxConns: -1, MaxConnsPerClient: n}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.GRPCListen = "127.0.0.1:0"
			srv := newLimitedServer(t, opts)
			// Bound before Run: connections made from here on wait in the
			// backlog until Run accepts them, so none needs a readiness
			// signal.
			if err := srv.ListenGRPC(t.Context()); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- srv.Run(ctx) }()
			var held []net.Conn
			t.Cleanup(func() {
				for _, c := range held {
					c.Close()
				}
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run: %v", err)
				}
			})

			for i := range n {
				c, err := http2Handshake(t, srv.GRPCTarget())
				if err != nil {
					t.Fatalf("connection %d of %d allowed: %v", i+1, n, err)
				}
				held = append(held, c)
			}
			c, err := http2Handshake(t, srv.GRPCTarget())
			if err == nil {
				held = append(held, c)
				t.Fatalf("connection %d was served with %d held and a limit of %d", n+1, n, n)
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("connection %d was held open, unanswered, rather than closed: %v", n+1, err)
			}
		})
	}
}

// http2Handshake opens a connection to a gRPC server and does the HTTP/2
// handshake's first step: it sends the client preface and its settings and
// reads the server's settings frame, which the server sends only once it
// has accepted the connection and means to serve it. It returns the open
// connection, or why the server would not.
func http2Handshake(t *testing.T, addr string) (net.Conn, error) {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	// A bound on a failure, not a wait for readiness: an accepted
	// connection answers at once.
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	preface := "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + "\x00\x00\x00\x04\x00\x00\x00\x00\x00" // + an empty SETTINGS frame
	if _, err := io.WriteString(c, preface); err != nil {
		c.Close()
		return nil, err
	}
	var header [9]byte
	if _, err := io.ReadFull(c, header[:]); err != nil {
		c.Close()
		return nil, err
	}
	if header[3] != 0x4 {
		c.Close()
		return nil, errors.New("the server's first frame is not SETTINGS")
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}
