package hostcheck_test

import (
	"testing"

	"github.com/parleyhq/parley/internal/hostcheck"
)

func TestAllowsHost(t *testing.T) {
	p, err := hostcheck.New([]string{"parley.example.com", "*.corp.example", "10.0.0.5", "[2001:db8::5]"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"localhost:8080", true},
		{"LOCALHOST.:8080", true},
		{"127.0.0.1:8080", true},
		{"127.1.2.3", true},
		{"[::1]:8080", true},
		{"[::1]", true},
		{"parley.example.com", true},
		{"Parley.Example.Com:443", true},
		{"a.corp.example", true},
		{"a.b.corp.example:1", true},
		{"corp.example", false}, // *.x allows subdomains only
		{"10.0.0.5:8080", true},
		{"[2001:db8:0::5]:8080", true},
		{"evil.example", false},
		{"evil.example:8080", false},
		{"parley.example.com.evil.example", false},
		{"evilcorp.example", false},
		{"localhost.evil.example", false},
		{"10.0.0.6", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := p.AllowsHost(tt.host); got != tt.want {
			t.Errorf("AllowsHost(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}

	any, _ := hostcheck.New([]string{"*"}, nil)
	if !any.AllowsHost("anything.example") {
		t.Error(`"*" does not allow any host`)
	}
	var zero hostcheck.Policy
	if !zero.AllowsHost("127.0.0.1:1") || zero.AllowsHost("evil.example") {
		t.Error("the zero Policy is not loopback-only")
	}
}

func TestAllowsOrigin(t *testing.T) {
	p, err := hostcheck.New([]string{"parley.example.com", "*"}, []string{"https://app.example.com", "http://tools.example:8443/"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		origin, host string
		want         bool
		syntax       bool // want ErrOriginSyntax
	}{
		{"http://localhost:3000", "127.0.0.1:8080", true, false},
		{"http://127.0.0.1:8080", "127.0.0.1:8080", true, false},
		{"http://[::1]:9", "localhost", true, false},
		{"https://parley.example.com", "parley.example.com", true, false},
		{"https://app.example.com", "parley.example.com", true, false},
		{"https://APP.example.com:443", "parley.example.com", true, false},
		{"http://app.example.com", "parley.example.com", false, false}, // scheme differs
		{"https://app.example.com:8443", "parley.example.com", false, false},
		{"http://tools.example:8443", "parley.example.com", true, false},
		// "*" allows any Host, not any Origin; the request's own origin is fine.
		{"http://evil.example", "127.0.0.1:8080", false, false},
		{"http://other.example:8080", "other.example:8080", true, false},
		{"http://other.example", "other.example:8080", false, false}, // another port
		// Host carries no scheme: without a port it may be either default
		// (a TLS-terminating proxy in front).
		{"https://other.example", "other.example", true, false},
		{"null", "127.0.0.1", false, true},
		{"http://localhost/path", "127.0.0.1", false, true},
		{"file://", "127.0.0.1", false, true},
		{"http://user@localhost", "127.0.0.1", false, true},
		{"http://localhost:0", "127.0.0.1", false, true},
	}
	for _, tt := range tests {
		got, err := p.AllowsOrigin(tt.origin, tt.host)
		if got != tt.want || (err != nil) != tt.syntax {
			t.Errorf("AllowsOrigin(%q, %q) = %v, %v; want %v (syntax error %v)", tt.origin, tt.host, got, err, tt.want, tt.syntax)
		}
	}
}

func TestNewRefusesBadEntries(t *testing.T) {
	for _, hosts := range [][]string{{"http://x.example"}, {"x.example:8080"}, {"*.*"}, {"a..b"}, {"-x.example"}, {"fe80::1%eth0"}, {""}} {
		if _, err := hostcheck.New(hosts, nil); err == nil {
			t.Errorf("New(%q) accepted it", hosts)
		}
	}
	for _, origins := range [][]string{{"*"}, {"app.example.com"}, {"https://app.example.com/x"}, {"ftp://app.example.com"}, {"null"}} {
		if _, err := hostcheck.New(nil, origins); err == nil {
			t.Errorf("New(origins %q) accepted it", origins)
		}
	}
}
