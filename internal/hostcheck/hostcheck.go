// Package hostcheck decides which Host and Origin headers the gateway
// accepts: the allow-list that keeps a web page from reaching the gateway
// through DNS rebinding (a Host the operator never named) or by
// cross-site requests (an Origin the operator never named). It parses and
// compares; package gateway answers the requests, package config checks
// the settings with it.
package hostcheck

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Any is the host pattern that allows every Host.
const Any = "*"

// Policy is a Host and Origin allow-list. The zero Policy allows the
// loopback names only.
type Policy struct {
	any      bool
	hosts    map[string]bool // normalized host names and addresses
	suffixes []string        // ".example.com" for "*.example.com"
	origins  map[string]bool // normalized origins
}

// New builds a policy from host patterns (see ParseHostPattern) and
// origins (see NormalizeOrigin). Loopback names are always allowed. It
// fails on the first pattern or origin that does not parse.
func New(hosts, origins []string) (*Policy, error) {
	p := &Policy{hosts: make(map[string]bool), origins: make(map[string]bool)}
	for _, h := range hosts {
		pat, ok := ParseHostPattern(h)
		switch {
		case !ok:
			return nil, fmt.Errorf("%q is not a host name, an IP address, *.domain or *", h)
		case pat == Any:
			p.any = true
		case strings.HasPrefix(pat, "*."):
			p.suffixes = append(p.suffixes, pat[1:])
		default:
			p.hosts[pat] = true
		}
	}
	for _, o := range origins {
		norm, ok := NormalizeOrigin(o)
		if !ok {
			return nil, fmt.Errorf("%q is not an origin (scheme://host[:port])", o)
		}
		p.origins[norm] = true
	}
	return p, nil
}

// AllowsHost reports whether a request's Host header (host[:port]) names
// an allowed host.
func (p *Policy) AllowsHost(hostHeader string) bool {
	host, ok := NormalizeHost(hostHeader)
	if !ok {
		return false
	}
	return p.any || p.named(host)
}

// named reports whether host is allowed by name: loopback, listed, or
// under a listed suffix. The "*" pattern does not count.
func (p *Policy) named(host string) bool {
	if IsLoopback(host) || p.hosts[host] {
		return true
	}
	for _, s := range p.suffixes {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

// ErrOriginSyntax is what AllowsOrigin reports for a value that is not an
// origin at all ("null", a URL with a path).
var ErrOriginSyntax = errors.New("not an origin")

// AllowsOrigin reports whether a page from origin may call a server that
// the request reached as hostHeader: an origin listed as allowed, one on
// an allowed host (whatever its port, the "*" pattern aside), or the
// request's own origin (same host and port as its Host header, which the
// caller has checked already). It returns ErrOriginSyntax for a value
// that is not an origin.
func (p *Policy) AllowsOrigin(origin, hostHeader string) (bool, error) {
	norm, ok := NormalizeOrigin(origin)
	if !ok {
		return false, ErrOriginSyntax
	}
	if p.origins[norm] {
		return true, nil
	}
	u, _ := url.Parse(norm) // it parsed once already
	host, _ := NormalizeHost(u.Host)
	if p.named(host) {
		return true, nil
	}
	// Same origin: the page came from this very Host (and port).
	reqHost, okHost := NormalizeHost(hostHeader)
	return okHost && reqHost == host && portOf(u.Scheme, u.Port()) == portOf(u.Scheme, portFrom(hostHeader)), nil
}

func portFrom(hostport string) string {
	if _, port, err := net.SplitHostPort(hostport); err == nil {
		return port
	}
	return ""
}

// portOf fills in a scheme's default port.
func portOf(scheme, port string) string {
	if port != "" {
		return port
	}
	if scheme == "https" {
		return "443"
	}
	return "80"
}

// IsLoopback reports whether a normalized host is a loopback name:
// localhost or a loopback address (127.0.0.0/8, ::1).
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// NormalizeHost returns the host part of a Host header value or an
// address (any port and IPv6 brackets removed), lower-cased, without a
// trailing dot, an IP address in its canonical spelling. It reports false
// for an empty host.
func NormalizeHost(hostport string) (string, bool) {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if ip, err := netip.ParseAddr(host); err == nil {
		// One spelling per address: "0:0::1" is "::1".
		host = ip.WithZone("").String()
	}
	return host, host != ""
}

// ParseHostPattern checks an allowed-host entry and returns it in the form
// Policy compares: "*", "*.suffix" or a normalized host name or address,
// without a port.
func ParseHostPattern(pattern string) (string, bool) {
	if pattern == Any {
		return pattern, true
	}
	if suffix, ok := strings.CutPrefix(pattern, "*."); ok {
		host := strings.TrimSuffix(strings.ToLower(suffix), ".")
		if !validHostName(host) {
			return "", false
		}
		return "*." + host, true
	}
	if strings.HasPrefix(pattern, "[") && strings.HasSuffix(pattern, "]") {
		pattern = pattern[1 : len(pattern)-1]
	}
	if ip, err := netip.ParseAddr(pattern); err == nil {
		if ip.Zone() != "" {
			return "", false
		}
		return ip.String(), true
	}
	host := strings.TrimSuffix(strings.ToLower(pattern), ".")
	if !validHostName(host) {
		return "", false
	}
	return host, true
}

// NormalizeOrigin checks an origin (an Origin header's value, or an
// allowed-origin entry) and returns it as scheme://host[:port] with scheme
// and host lower-cased and a default port dropped, so that equal origins
// compare equal. "null", and anything with a path, query, fragment or
// user info, is not an origin.
func NormalizeOrigin(origin string) (string, bool) {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" {
		return "", false
	}
	host, ok := NormalizeHost(u.Host)
	if !ok {
		return "", false
	}
	ip, ipErr := netip.ParseAddr(host)
	if ipErr != nil && !validHostName(host) {
		return "", false
	}
	port := u.Port()
	if port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return "", false
		}
		port = strconv.FormatUint(n, 10)
	}
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	if port != "" {
		return u.Scheme + "://" + net.JoinHostPort(host, port), true
	}
	if ipErr == nil && ip.Is6() {
		host = "[" + host + "]"
	}
	return u.Scheme + "://" + host, true
}

// validHostName reports whether s is a DNS name: dot-separated labels of
// letters, digits, hyphens and underscores (seen in internal names), none
// empty or longer than 63 bytes, none starting or ending with a hyphen.
func validHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := range len(label) {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
