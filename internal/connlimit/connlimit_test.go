package connlimit

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

// fakeListener hands out the connections queued in it, from the remote
// addresses given.
type fakeListener struct {
	conns chan net.Conn
}

func (l *fakeListener) Accept() (net.Conn, error) {
	c, ok := <-l.conns
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}
func (l *fakeListener) Close() error   { return nil }
func (l *fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// fakeConn is a connection from remote that records whether it was closed.
type fakeConn struct {
	net.Conn // nil: only the methods below are called
	remote   net.Addr
	closed   bool
	linger   int
}

func (c *fakeConn) RemoteAddr() net.Addr        { return c.remote }
func (c *fakeConn) Close() error                { c.closed = true; return nil }
func (c *fakeConn) SetLinger(sec int) error     { c.linger = sec; return nil }
func (c *fakeConn) Read([]byte) (int, error)    { return 0, io.EOF }
func (c *fakeConn) SetDeadline(time.Time) error { return nil }

func from(addr string) *fakeConn {
	return &fakeConn{remote: net.TCPAddrFromAddrPort(netip.MustParseAddrPort(addr)), linger: -1}
}

func TestListenerLimits(t *testing.T) {
	type step struct {
		conn   *fakeConn
		accept bool
	}
	tests := []struct {
		name    string
		opts    Options
		steps   []step
		refused []Limit
	}{
		{
			name: "per client",
			opts: Options{MaxConns: 10, MaxConnsPerClient: 2},
			steps: []step{
				{from("192.0.2.1:1000"), true},
				{from("192.0.2.1:1001"), true},
				{from("192.0.2.1:1002"), false},
				{from("192.0.2.2:1000"), true}, // another client
			},
			refused: []Limit{LimitPerClient},
		},
		{
			name: "total",
			opts: Options{MaxConns: 2, MaxConnsPerClient: -1},
			steps: []step{
				{from("192.0.2.1:1000"), true},
				{from("192.0.2.2:1000"), true},
				{from("192.0.2.3:1000"), false},
			},
			refused: []Limit{LimitTotal},
		},
		{
			name: "IPv6 counts per /64",
			opts: Options{MaxConns: 10, MaxConnsPerClient: 1},
			steps: []step{
				{from("[2001:db8:1:2::1]:1000"), true},
				{from("[2001:db8:1:2::ffff]:1000"), false}, // same /64
				{from("[2001:db8:1:3::1]:1000"), true},     // next /64
			},
			refused: []Limit{LimitPerClient},
		},
		{
			name: "IPv4-mapped IPv6 is the IPv4 client",
			opts: Options{MaxConns: 10, MaxConnsPerClient: 1},
			steps: []step{
				{from("192.0.2.1:1000"), true},
				{from("[::ffff:192.0.2.1]:1000"), false},
			},
			refused: []Limit{LimitPerClient},
		},
		{
			name: "negative limits are no limits",
			opts: Options{MaxConns: -1, MaxConnsPerClient: -1},
			steps: []step{
				{from("192.0.2.1:1000"), true},
				{from("192.0.2.1:1001"), true},
				{from("192.0.2.1:1002"), true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeListener{conns: make(chan net.Conn, len(tt.steps))}
			var refused []Limit
			tt.opts.OnRefuse = func(_ net.Addr, l Limit) { refused = append(refused, l) }
			ln := NewListener(fake, tt.opts)
			for i, s := range tt.steps {
				fake.conns <- s.conn
				if !s.accept {
					continue // checked once Accept returns the next one
				}
				c, err := ln.Accept()
				if err != nil {
					t.Fatalf("step %d: Accept: %v", i, err)
				}
				if c.RemoteAddr() != s.conn.remote {
					t.Fatalf("step %d: accepted %v, want %v", i, c.RemoteAddr(), s.conn.remote)
				}
			}
			close(fake.conns)
			if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("Accept after the last = %v, want net.ErrClosed", err)
			}
			for i, s := range tt.steps {
				if s.accept == s.conn.closed {
					t.Errorf("step %d (%v): closed = %v, want %v", i, s.conn.remote, s.conn.closed, !s.accept)
				}
				if !s.accept && s.conn.linger != 0 {
					t.Errorf("step %d: refused without a reset (linger %d)", i, s.conn.linger)
				}
			}
			if len(refused) != len(tt.refused) || (len(refused) > 0 && refused[0] != tt.refused[0]) {
				t.Errorf("OnRefuse got %v, want %v", refused, tt.refused)
			}
		})
	}
}

func TestListenerReleasesOnClose(t *testing.T) {
	fake := &fakeListener{conns: make(chan net.Conn, 4)}
	ln := NewListener(fake, Options{MaxConns: 1, MaxConnsPerClient: 1})
	first := from("192.0.2.1:1000")
	fake.conns <- first
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if total, client := ln.Open(first.remote); total != 1 || client != 1 {
		t.Fatalf("Open = %d, %d; want 1, 1", total, client)
	}
	// Closing twice releases once.
	c.Close()
	c.Close()
	if total, client := ln.Open(first.remote); total != 0 || client != 0 {
		t.Fatalf("after Close, Open = %d, %d; want 0, 0", total, client)
	}
	second := from("192.0.2.1:1001")
	fake.conns <- second
	if c, err := ln.Accept(); err != nil || c.RemoteAddr() != second.remote {
		t.Fatalf("Accept after a release = %v, %v", c, err)
	}
	if len(ln.client) != 1 {
		t.Errorf("client map holds %d entries, want 1", len(ln.client))
	}
}

func TestZeroOptionsAreDefaults(t *testing.T) {
	ln := NewListener(&fakeListener{}, Options{})
	if ln.opts.MaxConns != DefaultMaxConns || ln.opts.MaxConnsPerClient != DefaultMaxConnsPerClient {
		t.Errorf("zero options became %+v, want the defaults", ln.opts)
	}
}
