package agentcards

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrBlockedAddress: a URL names, or resolves to, an address the gateway
// refuses to connect to on a caller's behalf (server-side request
// forgery). The error is a *BlockedError.
var ErrBlockedAddress = errors.New("address not allowed")

// ErrUnresolvable: a URL's host could not be resolved, so it could not be
// checked.
var ErrUnresolvable = errors.New("host does not resolve")

// BlockedError says which address was refused and why.
type BlockedError struct {
	// URL is the URL being checked; empty when the refusal came from the
	// dial itself (a name that resolved differently at connect time).
	URL  string
	Host string
	// Addr is the refused address; invalid when the host itself was refused.
	Addr   netip.Addr
	Reason string // "loopback", "private (RFC 1918)", "cloud metadata", …
}

func (e *BlockedError) Error() string {
	var b strings.Builder
	b.WriteString("refusing ")
	if e.URL != "" {
		fmt.Fprintf(&b, "%s: ", e.URL)
	} else {
		b.WriteString("to connect: ")
	}
	b.WriteString(e.Explain())
	return b.String()
}

// Explain says why the address is refused, without the URL.
func (e *BlockedError) Explain() string {
	var b strings.Builder
	switch {
	case e.Addr.IsValid() && e.Host != "" && e.Host != e.Addr.String():
		fmt.Fprintf(&b, "host %s resolves to %s, a %s address", e.Host, e.Addr, e.Reason)
	case e.Addr.IsValid():
		fmt.Fprintf(&b, "%s is a %s address", e.Addr, e.Reason)
	default:
		fmt.Fprintf(&b, "host %q: %s", e.Host, e.Reason)
	}
	b.WriteString(" (private and internal addresses are allowed only with --allow-private-agent-urls)")
	return b.String()
}

// Is makes errors.Is(err, ErrBlockedAddress) true.
func (e *BlockedError) Is(target error) bool { return target == ErrBlockedAddress }

// Resolver looks up a host's addresses; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// GuardOptions configure a Guard.
type GuardOptions struct {
	// AllowPrivate turns the guard off: every address is allowed. For
	// deployments whose agents live on a private network, and for tests.
	AllowPrivate bool
	// Resolver resolves hosts for CheckURL. Default net.DefaultResolver.
	// Dials resolve on their own and are checked address by address.
	Resolver Resolver
	// DialTimeout bounds establishing a connection. Default 10s.
	DialTimeout time.Duration
}

// Guard keeps the gateway from being used to reach addresses its callers
// should not: loopback, private (RFC 1918), carrier-grade NAT, link-local,
// unique-local, multicast, reserved and cloud-metadata addresses
// (169.254.169.254, fd00:ec2::254), including IPv4 addresses embedded in
// IPv6 (mapped, NAT64, 6to4).
//
// It checks twice. CheckURL resolves a URL's host and refuses it if any of
// its addresses is blocked, for a clear early error. The Transport checks
// again the address each connection is actually made to, so that a name
// resolving to a public address when checked and a private one when
// dialled (DNS rebinding) is still refused; it ignores proxy settings,
// which would hide the target address from the check.
//
// Use it for every URL a caller supplies: agent cards and their
// endpoints, and A2A push-notification URLs.
type Guard struct {
	allowPrivate bool
	resolver     Resolver
	dialer       *net.Dialer
	transport    *http.Transport
}

// NewGuard returns a Guard.
func NewGuard(opts GuardOptions) *Guard {
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 10 * time.Second
	}
	g := &Guard{allowPrivate: opts.AllowPrivate, resolver: opts.Resolver}
	g.dialer = &net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second}
	if !opts.AllowPrivate {
		g.dialer.Control = dialControl
	}
	g.transport = &http.Transport{
		Proxy:                 nil,
		DialContext:           g.dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return g
}

// AllowPrivate reports whether the guard is off.
func (g *Guard) AllowPrivate() bool { return g.allowPrivate }

// DialContext connects like net.Dialer.DialContext, refusing blocked
// addresses (a *BlockedError) unless the guard is off.
func (g *Guard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return g.dialer.DialContext(ctx, network, address)
}

// Transport is an http.Transport whose every connection is checked. It is
// shared: use it for many clients.
func (g *Guard) Transport() *http.Transport { return g.transport }

// Client returns an http.Client over Transport with the given total
// timeout (0 for none, as streaming clients need), following at most five
// redirects and only to http(s) URLs.
func (g *Guard) Client(timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: g.transport,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return refuseRedirect("stopped after 5 redirects")
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return refuseRedirect("a redirect to a %s URL was refused", req.URL.Scheme)
			}
			return nil
		},
	}
}

// CheckURL refuses a URL that is not an absolute http(s) URL with a host,
// that carries credentials, or whose host is or resolves to a blocked
// address (a *BlockedError; every address of the host is checked). A host
// that does not resolve gives an *UnresolvableError (ErrUnresolvable). With the
// guard off only the URL's form is checked.
func (g *Guard) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", raw, unwrapURLError(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q must be an http or https URL", raw)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%q has no host", raw)
	}
	if u.User != nil {
		return fmt.Errorf("%q must not carry credentials", raw)
	}
	if err := g.CheckHost(ctx, u.Hostname()); err != nil {
		var be *BlockedError
		if errors.As(err, &be) {
			be.URL = raw
		}
		return err
	}
	return nil
}

// CheckHost refuses a host (a name or an IP address) that is or resolves
// to a blocked address. With the guard off it allows everything.
func (g *Guard) CheckHost(ctx context.Context, host string) error {
	if g.allowPrivate {
		return nil
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if ip, err := netip.ParseAddr(host); err == nil {
		return checkAddr(host, ip)
	}
	if looksNumeric(host) {
		// "127.1", "0x7f000001", "2130706433": some resolvers read these as
		// addresses. Refuse rather than guess which.
		return &BlockedError{Host: host, Reason: "a numeric host that is not a plain IP address is ambiguous"}
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") || strings.HasSuffix(strings.ToLower(strings.TrimSuffix(host, ".")), ".localhost") {
		// RFC 6761: always loopback, whatever a resolver says.
		return &BlockedError{Host: host, Reason: "loopback name"}
	}
	addrs, err := g.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return &UnresolvableError{Host: host, Err: err}
	}
	if len(addrs) == 0 {
		return &UnresolvableError{Host: host, Err: errors.New("no addresses")}
	}
	for _, ip := range addrs {
		if err := checkAddr(host, ip); err != nil {
			return err
		}
	}
	return nil
}

// CheckAddr refuses a blocked address (a *BlockedError), whatever the
// guard's setting: for callers holding an address rather than a URL.
func CheckAddr(ip netip.Addr) error { return checkAddr(ip.String(), ip) }

func checkAddr(host string, ip netip.Addr) error {
	if reason := BlockedReason(ip); reason != "" {
		return &BlockedError{Host: host, Addr: ip.WithZone(""), Reason: reason}
	}
	return nil
}

// dialControl runs for every address a dial tries, after resolution.
func dialControl(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return &BlockedError{Host: host, Reason: "not an IP address at dial time"}
	}
	return checkAddr(host, ip)
}

var blockedPrefixes = []struct {
	prefix netip.Prefix
	reason string
}{
	// Most specific first: the metadata address sits inside link-local.
	{netip.MustParsePrefix("169.254.169.254/32"), "cloud metadata"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "cloud metadata"},
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified (\"this network\")"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private (RFC 1918)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT (RFC 6598)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private (RFC 1918)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignment"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private (RFC 1918)"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("100::/64"), "discard-only"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64"},
	{netip.MustParsePrefix("fc00::/7"), "unique-local"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

var (
	nat64    = netip.MustParsePrefix("64:ff9b::/96")
	sixToF   = netip.MustParsePrefix("2002::/16")
	v4compat = netip.MustParsePrefix("::/96")
)

// BlockedReason says why the guard refuses ip, or "" if it allows it.
func BlockedReason(ip netip.Addr) string {
	ip = ip.WithZone("").Unmap()
	if !ip.IsValid() {
		return "invalid"
	}
	for _, b := range blockedPrefixes {
		if b.prefix.Contains(ip) {
			return b.reason
		}
	}
	if ip.Is6() {
		// IPv4 addresses embedded in IPv6 reach the IPv4 address.
		a := ip.As16()
		var embedded netip.Addr
		switch {
		case nat64.Contains(ip), v4compat.Contains(ip):
			embedded = netip.AddrFrom4([4]byte{a[12], a[13], a[14], a[15]})
		case sixToF.Contains(ip):
			embedded = netip.AddrFrom4([4]byte{a[2], a[3], a[4], a[5]})
		}
		if embedded.IsValid() {
			if r := BlockedReason(embedded); r != "" {
				return r + " (embedded in IPv6)"
			}
		}
	}
	return ""
}

// looksNumeric reports whether host is made only of digits, dots and hex
// notation, as shorthand IPv4 forms are.
func looksNumeric(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "" {
		return false
	}
	last := h[strings.LastIndexByte(h, '.')+1:]
	if last == "" {
		return false
	}
	// A DNS name's last label (the TLD) is never all digits or hex-prefixed.
	if strings.HasPrefix(last, "0x") {
		return true
	}
	for _, r := range last {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
