package agentcards_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/parleyhq/parley/agentcards"
)

// fakeResolver answers from a table, for names the test invents.
type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	addrs, ok := f[host]
	if !ok {
		return nil, fmt.Errorf("lookup %s: no such host", host)
	}
	var out []netip.Addr
	for _, a := range addrs {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

var testResolver = fakeResolver{
	"public.example":   {"93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"},
	"internal.example": {"10.0.0.5"},
	"mixed.example":    {"93.184.216.34", "192.168.1.10"}, // one bad address is enough
	"metadata.example": {"169.254.169.254"},
	"loop.example":     {"127.0.0.1"},
}

func TestGuardCheckURL(t *testing.T) {
	guard := agentcards.NewGuard(agentcards.GuardOptions{Resolver: testResolver})
	open := agentcards.NewGuard(agentcards.GuardOptions{AllowPrivate: true, Resolver: testResolver})
	tests := []struct {
		url        string
		wantReason string // "" means allowed
	}{
		{"http://127.0.0.1:8080/", "loopback"},
		{"http://127.8.9.10/", "loopback"},
		{"http://10.1.2.3/", "private (RFC 1918)"},
		{"http://172.16.0.1/", "private (RFC 1918)"},
		{"http://172.31.255.255/", "private (RFC 1918)"},
		{"http://192.168.1.1/", "private (RFC 1918)"},
		{"http://100.64.0.1/", "carrier-grade NAT"},
		{"http://169.254.169.254/latest/meta-data/", "cloud metadata"},
		{"http://169.254.10.1/", "link-local"},
		{"http://0.0.0.0/", "unspecified"},
		{"http://224.0.0.1/", "multicast"},
		{"http://255.255.255.255/", "reserved"},
		{"http://[::1]:8080/", "loopback"},
		{"http://[::]/", "unspecified"},
		{"http://[fd00::1]/", "unique-local"},
		{"http://[fc00::1]/", "unique-local"},
		{"http://[fd00:ec2::254]/", "cloud metadata"},
		{"http://[fe80::1%25eth0]/", "link-local"},
		{"http://[::ffff:127.0.0.1]/", "loopback"},
		{"http://[::ffff:169.254.169.254]/", "cloud metadata"},
		{"http://[64:ff9b::a9fe:a9fe]/", "cloud metadata (embedded in IPv6)"},
		{"http://[2002:c0a8:0101::1]/", "private (RFC 1918) (embedded in IPv6)"},
		{"http://localhost:8080/", "loopback name"},
		{"http://LOCALHOST./", "loopback name"},
		{"http://api.localhost/", "loopback name"},
		{"http://loop.example/", "loopback"},
		{"http://internal.example/", "private (RFC 1918)"},
		{"http://mixed.example/", "private (RFC 1918)"},
		{"http://metadata.example/", "cloud metadata"},
		{"http://2130706433/", "numeric host"},
		{"http://0x7f000001/", "numeric host"},
		{"http://127.1/", "numeric host"},
		{"http://93.184.216.34/", ""},
		{"https://public.example/a2a", ""},
		{"http://[2606:2800:220:1:248:1893:25c8:1946]/", ""},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := guard.CheckURL(t.Context(), tt.url)
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("CheckURL = %v, want allowed", err)
				}
				return
			}
			var be *agentcards.BlockedError
			if !errors.As(err, &be) || !errors.Is(err, agentcards.ErrBlockedAddress) {
				t.Fatalf("CheckURL = %v, want a *BlockedError", err)
			}
			if !strings.Contains(be.Reason, tt.wantReason) || be.URL != tt.url {
				t.Errorf("refusal = %+v, want reason %q for %s", be, tt.wantReason, tt.url)
			}
			if !strings.Contains(err.Error(), "--allow-private-agent-urls") {
				t.Errorf("error %q does not say how to allow it", err)
			}
			// With the guard off the same URL passes.
			if err := open.CheckURL(t.Context(), tt.url); err != nil {
				t.Errorf("with AllowPrivate CheckURL = %v, want allowed", err)
			}
		})
	}
}

func TestGuardCheckURLErrors(t *testing.T) {
	guard := agentcards.NewGuard(agentcards.GuardOptions{Resolver: testResolver})
	tests := []struct {
		url  string
		want string
	}{
		{"ftp://public.example/", "must be an http or https URL"},
		{"public.example", "must be an http or https URL"},
		{"http://u:p@public.example/", "must not carry credentials"},
		{"http:///x", "has no host"},
		{"http://[::1", "is not a URL"},
	}
	for _, tt := range tests {
		if err := guard.CheckURL(t.Context(), tt.url); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CheckURL(%q) = %v, want %q", tt.url, err, tt.want)
		}
	}
	err := guard.CheckURL(t.Context(), "http://nowhere.example/")
	if !errors.Is(err, agentcards.ErrUnresolvable) || errors.Is(err, agentcards.ErrBlockedAddress) {
		t.Errorf("unresolvable host: %v, want ErrUnresolvable", err)
	}
}

// The real resolver: "localhost" resolves to loopback through the hosts
// file, without a network.
func TestGuardRealResolverLocalhost(t *testing.T) {
	guard := agentcards.NewGuard(agentcards.GuardOptions{})
	if err := guard.CheckHost(t.Context(), "localhost"); !errors.Is(err, agentcards.ErrBlockedAddress) {
		t.Errorf("CheckHost(localhost) = %v, want refused", err)
	}
}

// The dial itself is checked: a request straight to a loopback server is
// refused at connect time, whatever a check before it said (a name that
// resolves to a public address when checked and to loopback when dialled
// ends here too).
func TestGuardTransportRefusesDial(t *testing.T) {
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer srv.Close()

	guarded := agentcards.NewGuard(agentcards.GuardOptions{}).Client(0)
	_, err := guarded.Get(srv.URL)
	var be *agentcards.BlockedError
	if !errors.As(err, &be) || be.Reason != "loopback" {
		t.Fatalf("GET %s through the guard = %v, want a loopback refusal", srv.URL, err)
	}
	if hits != 0 {
		t.Errorf("the server was reached %d times", hits)
	}

	// Redirects are dialled through the same check.
	redirect := httptest.NewServer(http.RedirectHandler(srv.URL, http.StatusFound))
	defer redirect.Close()
	if _, err := guarded.Get(redirect.URL); !errors.Is(err, agentcards.ErrBlockedAddress) {
		t.Errorf("redirect through the guard = %v, want refused", err)
	}

	open := agentcards.NewGuard(agentcards.GuardOptions{AllowPrivate: true}).Client(0)
	resp, err := open.Get(srv.URL)
	if err != nil {
		t.Fatalf("GET with AllowPrivate: %v", err)
	}
	resp.Body.Close()
	if hits != 1 {
		t.Errorf("hits = %d, want 1", hits)
	}
}

func TestBlockedReason(t *testing.T) {
	for addr, want := range map[string]string{
		"8.8.8.8":              "",
		"1.1.1.1":              "",
		"2001:4860:4860::8888": "",
		"64:ff9b::808:808":     "", // NAT64 of a public address
		"64:ff9b::a00:1":       "private (RFC 1918) (embedded in IPv6)",
		"::127.0.0.1":          "loopback (embedded in IPv6)",
		"198.18.0.1":           "benchmarking",
		"192.0.0.170":          "IETF protocol assignment",
		"fec0::1":              "site-local",
		"ff02::1":              "multicast",
	} {
		if got := agentcards.BlockedReason(netip.MustParseAddr(addr)); got != want {
			t.Errorf("BlockedReason(%s) = %q, want %q", addr, got, want)
		}
	}
	if err := agentcards.CheckAddr(netip.MustParseAddr("10.0.0.1")); !errors.Is(err, agentcards.ErrBlockedAddress) {
		t.Errorf("CheckAddr(10.0.0.1) = %v", err)
	}
}
