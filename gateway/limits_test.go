package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/gateway"
)

// heldConn is a client connection that the server has accepted and is
// serving a request on, parked in /hold until released.
type heldConn struct {
	c       net.Conn
	br      *bufio.Reader
	release chan struct{} // closed to let this connection's request finish
}

// holdingGateway serves /hold (holdRequests).
func holdingGateway(t *testing.T, mod func(*config.Config)) (addr string, entered <-chan chan struct{}) {
	t.Helper()
	g, _ := newGateway(t, mod, pingOK)
	entered = holdRequests(g)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	addr, _ = serve(t, ctx, g)
	return addr, entered
}

// holdRequests routes /hold to a handler that parks each request until its
// own release channel, sent on entered as it arrives, is closed. One
// channel per request, so that finishing a held connection releases that
// connection's request and no other's.
func holdRequests(g *gateway.Gateway) <-chan chan struct{} {
	entered := make(chan chan struct{})
	g.Router().Get("/hold", func(w http.ResponseWriter, r *http.Request) {
		release := make(chan struct{})
		entered <- release
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	return entered
}

// dialFrom connects to addr from the local address from ("" for any).
func dialFrom(t *testing.T, addr, from string) net.Conn {
	t.Helper()
	d := net.Dialer{}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		if from != "" {
			t.Skipf("cannot dial from %s on this system: %v", from, err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(clientTimeout))
	return c
}

// hold opens a connection whose request the server is serving: it has
// been accepted and counts against the limits until released.
func hold(t *testing.T, addr, from string, entered <-chan chan struct{}) heldConn {
	t.Helper()
	c := dialFrom(t, addr, from)
	// Connection: close, so that the server closes it once answered and
	// the client's EOF says the slot is free.
	fmt.Fprint(c, "GET /hold HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
	var release chan struct{}
	select {
	case release = <-entered:
	case <-time.After(clientTimeout):
		t.Fatal("a connection within the limits was not served")
	}
	return heldConn{c: c, br: bufio.NewReader(c), release: release}
}

// expectRefused asserts that a new connection from from is closed by the
// server without an answer.
func expectRefused(t *testing.T, addr, from string) {
	t.Helper()
	c := dialFrom(t, addr, from)
	// The write may fail already if the reset has arrived; the read says.
	fmt.Fprint(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	expectClosed(t, bufio.NewReader(c))
}

// expectServed asserts that a new connection from from gets an answer.
func expectServed(t *testing.T, addr, from string) {
	t.Helper()
	c := dialFrom(t, addr, from)
	fmt.Fprint(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
	if resp, body := readResponse(t, bufio.NewReader(c)); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz = %d %s, want 200", resp.StatusCode, body)
	}
}

// finish releases one held request and waits until the server has closed
// its connection (by then its slot is free).
func (h heldConn) finish(t *testing.T) {
	t.Helper()
	close(h.release)
	if resp, _ := readResponse(t, h.br); resp.StatusCode != http.StatusOK {
		t.Fatalf("released request = %d", resp.StatusCode)
	}
	expectClosed(t, h.br)
}

func TestConnectionsPerClient(t *testing.T) {
	const limit = 3
	addr, entered := holdingGateway(t, func(c *config.Config) {
		c.HTTP.MaxConnsPerClient = limit
		c.HTTP.MaxConns = 100
	})
	var held []heldConn
	for range limit {
		held = append(held, hold(t, addr, "127.0.0.1", entered))
	}
	// The next one from the same client is turned away, while the N held
	// ones stay served…
	expectRefused(t, addr, "127.0.0.1")
	// …but another client still gets in (on Linux every 127/8 address is
	// a local one).
	expectServed(t, addr, "127.0.0.2")

	// A connection that ends frees its slot.
	held[0].finish(t)
	expectServed(t, addr, "127.0.0.1")
	for _, h := range held[1:] {
		h.finish(t)
	}
}

func TestConnectionsInTotal(t *testing.T) {
	const limit = 2
	addr, entered := holdingGateway(t, func(c *config.Config) {
		c.HTTP.MaxConns = limit
		c.HTTP.MaxConnsPerClient = -1 // no per-client limit
	})
	a := hold(t, addr, "127.0.0.1", entered)
	b := hold(t, addr, "127.0.0.1", entered)
	expectRefused(t, addr, "127.0.0.1")
	a.finish(t)
	expectServed(t, addr, "127.0.0.1")
	b.finish(t)
}

func TestRefusedConnectionsAreLogged(t *testing.T) {
	g, logs := newGateway(t, func(c *config.Config) { c.HTTP.MaxConnsPerClient = 1 }, pingOK)
	entered := holdRequests(g)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, _ := serve(t, ctx, g)
	h := hold(t, addr, "127.0.0.1", entered)
	expectRefused(t, addr, "127.0.0.1")
	h.finish(t)
	// The refusal is logged before the refused connection is closed, so it
	// is in the log by the time the client saw the reset.
	for _, want := range []string{`msg="refused a connection: too many open connections"`, "limit=per_client", "max=1"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
}
