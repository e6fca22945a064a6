package agentcards_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/agentcards"
)

// leaks are what a caller must never read in an error: the resolver's
// address (":53"), the dialer's words ("dial tcp", "lookup … on"), Go
// type and package names, wrapped chains of library errors.
var leaks = []string{":53", " on 10.", "lookup ", "dial tcp", "read tcp", "*net.", "net.", "url.Error", "syscall", "&{", "%!"}

func assertNoLeak(t *testing.T, what, msg string) {
	t.Helper()
	for _, l := range leaks {
		if strings.Contains(msg, l) {
			t.Errorf("%s = %q: carries %q (an internal detail)", what, msg, l)
		}
	}
}

// closedPort is a loopback address nobody listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Errors from reaching an agent say what went wrong in the caller's
// terms, and nothing about the gateway's resolver or Go's error types. The
// .invalid TLD never resolves (RFC 6761), with or without a network.
func TestNetErrorReasonInCallersTerms(t *testing.T) {
	ctx := t.Context()
	strict := agentcards.NewGuard(agentcards.GuardOptions{})
	open := agentcards.NewGuard(agentcards.GuardOptions{AllowPrivate: true})
	dead := "http://" + closedPort(t) + "/"
	get := func(g *agentcards.Guard, ctx context.Context, url string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := g.Client(0).Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("GET %s succeeded", url)
		}
		return err
	}
	expired, cancel := context.WithDeadline(ctx, time.Unix(0, 0))
	defer cancel()

	tests := []struct {
		name string
		err  error
		want string
	}{
		{"name that does not resolve, checked", strict.CheckURL(ctx, "http://agent.parley-test.invalid/"), "host agent.parley-test.invalid could not be resolved"},
		{"name that does not resolve, dialled", get(open, ctx, "http://agent.parley-test.invalid/"), "host agent.parley-test.invalid could not be resolved"},
		{"closed loopback port", get(open, ctx, dead), "connection refused"},
		{"blocked at dial time", get(strict, ctx, dead), "the address is not allowed: 127.0.0.1 is a loopback address"},
		{"deadline passed", get(open, expired, dead), "timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := agentcards.NetErrorReason(tt.err)
			if !ok || !strings.Contains(got, tt.want) {
				t.Errorf("NetErrorReason(%v) = %q, %v; want %q", tt.err, got, ok, tt.want)
			}
			assertNoLeak(t, "NetErrorReason", got)
		})
	}
	if got, ok := agentcards.NetErrorReason(errors.New("json: cannot unmarshal")); ok || got != "the request failed" {
		t.Errorf("NetErrorReason(not a network error) = %q, %v; want the generic reason, false", got, ok)
	}
}

// Registration and health probes go through NetErrorReason: what the
// caller (and anyone reading the agent's health) sees names the URL and
// what went wrong, not the resolver.
func TestRegisterErrorsLeakNothing(t *testing.T) {
	ctx := t.Context()
	deadURL := "http://" + closedPort(t)
	tests := []struct {
		name    string
		private bool
		url     string
		want    []string
	}{
		{"unresolvable, guard on", false, "http://agent.parley-test.invalid/", []string{"agent.parley-test.invalid", "could not be resolved"}},
		{"unresolvable, guard off", true, "http://agent.parley-test.invalid/", []string{"agent.parley-test.invalid", "could not be resolved"}},
		{"closed port", true, deadURL, []string{deadURL, "connection refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, _, _ := newRegistry(t, func(o *agentcards.Options) { o.AllowPrivate = tt.private; o.Resolver = nil })
			_, err := reg.Register(ctx, agentcards.Registration{URL: tt.url})
			if !errors.Is(err, agentcards.ErrFetch) {
				t.Fatalf("Register(%s) = %v, want ErrFetch", tt.url, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Register(%s) = %q, want it to mention %q", tt.url, err, w)
				}
			}
			assertNoLeak(t, "Register error", err.Error())
		})
	}

	// A document registration's endpoint is probed: its health error is
	// for callers too.
	reg, _, _ := newRegistry(t)
	p := newPeer(t, "Gone", skill("x", "X"))
	card := mustJSON(t, card03("Gone", p.URL()+"/", skill("x", "X")))
	p.Stop()
	if _, err := reg.Register(ctx, agentcards.Registration{Card: card}); err != nil {
		t.Fatal(err)
	}
	a, err := reg.Probe(ctx, "Gone")
	if err != nil {
		t.Fatal(err)
	}
	if a.Health.Status != agentcards.StatusUnreachable || !strings.Contains(a.Health.Error, "connection refused") {
		t.Errorf("health = %+v, want unreachable: connection refused", a.Health)
	}
	assertNoLeak(t, "health error", a.Health.Error)
}
