// Package connlimit bounds the connections a server holds open: in total
// and per client address. It wraps a net.Listener, so that a connection
// over a limit is turned away before anything reads from it.
//
// A connection over a limit is closed as soon as it is accepted, with a
// TCP reset, rather than queued or answered. Queueing (as
// golang.org/x/net/netutil.LimitListener does) leaves new clients waiting
// in the kernel's backlog for as long as the held connections last, with
// nothing to tell them why; answering (an HTTP 503) means reading a
// request from, and writing to, the very client the limit is there to
// shed, which may not read the answer. Envoy's connection limit filter and
// HAProxy's "tcp-request connection reject" turn connections away at the
// same point. A client over its limit sees a reset connection at once and
// may retry; the operator sees the refusals in the log.
package connlimit

import (
	"net"
	"net/netip"
	"sync"
)

// Options are the limits. A negative limit means no limit; zero is not a
// limit anyone wants (it would refuse every connection), so it stands for
// the default.
type Options struct {
	// MaxConns bounds the connections open at once. Zero: DefaultMaxConns.
	MaxConns int
	// MaxConnsPerClient bounds the connections open at once from one
	// client: one IPv4 address, or one IPv6 /64 (what a single host is
	// usually given, so that it cannot dodge the limit by changing its
	// interface identifier). Zero: DefaultMaxConnsPerClient.
	MaxConnsPerClient int
	// OnRefuse, if set, is called (on the accepting goroutine) for each
	// connection turned away, with the client's address and which limit
	// it hit. It must not block.
	OnRefuse func(remote net.Addr, limit Limit)
}

// Defaults for zero Options fields.
const (
	DefaultMaxConns          = 4096
	DefaultMaxConnsPerClient = 256
)

// Limit names the limit a refused connection hit.
type Limit string

const (
	LimitTotal     Limit = "total"
	LimitPerClient Limit = "per_client"
)

// Listener is a net.Listener that enforces Options. Close it as any
// listener.
type Listener struct {
	net.Listener
	opts Options

	mu     sync.Mutex
	total  int
	client map[netip.Prefix]int // open connections per client
}

// NewListener wraps ln.
func NewListener(ln net.Listener, opts Options) *Listener {
	if opts.MaxConns == 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.MaxConnsPerClient == 0 {
		opts.MaxConnsPerClient = DefaultMaxConnsPerClient
	}
	return &Listener{Listener: ln, opts: opts, client: make(map[netip.Prefix]int)}
}

// Accept returns the next connection within the limits. Connections over
// a limit are closed here and never returned.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, keyed := clientOf(c.RemoteAddr())
		if limit, ok := l.acquire(key, keyed); !ok {
			if l.opts.OnRefuse != nil {
				l.opts.OnRefuse(c.RemoteAddr(), limit)
			}
			refuse(c)
			continue
		}
		return &conn{Conn: c, release: sync.OnceFunc(func() { l.release(key, keyed) })}, nil
	}
}

// Open reports the connections open now, in total and from the client at
// addr (for tests and metrics).
func (l *Listener) Open(addr net.Addr) (total, client int) {
	key, keyed := clientOf(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	if keyed {
		client = l.client[key]
	}
	return l.total, client
}

func (l *Listener) acquire(key netip.Prefix, keyed bool) (Limit, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.opts.MaxConns > 0 && l.total >= l.opts.MaxConns {
		return LimitTotal, false
	}
	if keyed && l.opts.MaxConnsPerClient > 0 && l.client[key] >= l.opts.MaxConnsPerClient {
		return LimitPerClient, false
	}
	l.total++
	if keyed {
		l.client[key]++
	}
	return "", true
}

func (l *Listener) release(key netip.Prefix, keyed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if keyed {
		if l.client[key] <= 1 {
			delete(l.client, key) // the map holds only clients with connections
		} else {
			l.client[key]--
		}
	}
}

// clientOf returns the prefix a connection from addr counts against: the
// IPv4 address, or the IPv6 address's /64. Addresses that are not IP
// (a Unix socket) count only against the total.
func clientOf(addr net.Addr) (netip.Prefix, bool) {
	var ap netip.AddrPort
	switch a := addr.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	default:
		if addr == nil {
			return netip.Prefix{}, false
		}
		var err error
		if ap, err = netip.ParseAddrPort(addr.String()); err != nil {
			return netip.Prefix{}, false
		}
	}
	ip := ap.Addr().Unmap().WithZone("")
	if !ip.IsValid() {
		return netip.Prefix{}, false
	}
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	return p, err == nil
}

// refuse closes c with a reset (no lingering FIN handshake, no TIME_WAIT
// on our side): the connection was never ours to serve.
func refuse(c net.Conn) {
	if tc, ok := c.(interface{ SetLinger(int) error }); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// conn releases its slot once, on the first Close.
type conn struct {
	net.Conn
	release func()
}

// Close releases the slot before closing, so that by the time the client
// sees the connection end, a new one from it is accepted.
func (c *conn) Close() error {
	c.release()
	return c.Conn.Close()
}
