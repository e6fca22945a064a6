package app

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
	"github.com/parleyhq/parley/upstream"
)

func openTestStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// config.Upstream mirrors upstream.Spec (config imports nothing of
// Parley's): every field of one has its twin, spelt the same in YAML and
// JSON, and UpstreamSpecs carries each over.
func TestUpstreamSpecsMirrorConfig(t *testing.T) {
	names := func(typ reflect.Type, tag string) []string {
		var out []string
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get(tag), ",")
			out = append(out, name)
		}
		slices.Sort(out)
		return out
	}
	for _, pair := range []struct{ cfg, spec reflect.Type }{
		{reflect.TypeFor[config.Upstream](), reflect.TypeFor[upstream.Spec]()},
		{reflect.TypeFor[config.UpstreamCredentials](), reflect.TypeFor[upstream.Credentials]()},
		{reflect.TypeFor[config.UpstreamClientCredentials](), reflect.TypeFor[upstream.ClientCredentials]()},
	} {
		if diff := cmp.Diff(names(pair.spec, "json"), names(pair.cfg, "yaml")); diff != "" {
			t.Errorf("%s and %s differ (-spec +config):\n%s", pair.spec, pair.cfg, diff)
		}
	}
	in := []config.Upstream{
		{Name: "github", URL: "https://mcp.github.example/mcp", Prefix: "never", Allow: []string{"a*"}, Deny: []string{"b"},
			Credentials: &config.UpstreamCredentials{ClientCredentials: &config.UpstreamClientCredentials{
				TokenURL: "https://idp.example/token", ClientID: "parley", ClientSecretFile: "/s", ClientSecretEnv: "S", Scopes: []string{"x"}, Audience: "aud"}}},
		{Name: "fs", Command: []string{"fs", "/data"}, Env: map[string]string{"A": "b"}, Dir: "/tmp"},
		{Name: "tok", URL: "https://tok.example/mcp", Credentials: &config.UpstreamCredentials{BearerTokenFile: "/t", BearerTokenEnv: "T"}},
	}
	want := []upstream.Spec{
		{Name: "github", URL: "https://mcp.github.example/mcp", Prefix: upstream.PrefixNever, Allow: []string{"a*"}, Deny: []string{"b"},
			Credentials: &upstream.Credentials{ClientCredentials: &upstream.ClientCredentials{
				TokenURL: "https://idp.example/token", ClientID: "parley", ClientSecretFile: "/s", ClientSecretEnv: "S", Scopes: []string{"x"}, Audience: "aud"}}},
		{Name: "fs", Command: []string{"fs", "/data"}, Env: map[string]string{"A": "b"}, Dir: "/tmp"},
		{Name: "tok", URL: "https://tok.example/mcp", Credentials: &upstream.Credentials{BearerTokenFile: "/t", BearerTokenEnv: "T"}},
	}
	if diff := cmp.Diff(want, UpstreamSpecs(in)); diff != "" {
		t.Errorf("UpstreamSpecs (-want +got):\n%s", diff)
	}
}

// resolveTo answers for invented names; others do not resolve.
type resolveTo map[string]string

func (r resolveTo) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return []netip.Addr{netip.MustParseAddr(a)}, nil
	}
	return nil, errors.New("no such host")
}

func TestNewUpstreamRegistrySeedsTheConfigFile(t *testing.T) {
	guard := agentcards.NewGuard(agentcards.GuardOptions{Resolver: resolveTo{"mcp.github.example": "203.0.113.5", "inside.example": "192.168.1.2"}})
	cfg := config.Default()
	cfg.MCP.Upstreams = []config.Upstream{
		{Name: "github", URL: "https://mcp.github.example/mcp"},
		// Does not resolve now: registered all the same, and unhealthy
		// until it does.
		{Name: "later", URL: "https://not-yet.example/mcp"},
		{Name: "fs", Command: []string{"mcp-server-fs"}},
	}
	st := openTestStore(t)
	reg, err := newUpstreamRegistry(t.Context(), cfg, st, UpstreamRegistryOptions{Guard: guard})
	if err != nil {
		t.Fatalf("newUpstreamRegistry: %v", err)
	}
	list, err := reg.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range list {
		got = append(got, u.Spec.Name+":"+u.Source)
	}
	if diff := cmp.Diff([]string{"fs:config", "github:config", "later:config"}, got); diff != "" {
		t.Errorf("seeded (-want +got):\n%s", diff)
	}
	// An internal address stops start-up, naming the entry and the flag.
	cfg.MCP.Upstreams = append(cfg.MCP.Upstreams, config.Upstream{Name: "inner", URL: "http://inside.example/mcp"})
	_, err = newUpstreamRegistry(t.Context(), cfg, st, UpstreamRegistryOptions{Guard: guard})
	if !errors.Is(err, agentcards.ErrBlockedAddress) || !strings.Contains(err.Error(), "mcp.upstreams[3]") || !strings.Contains(err.Error(), "--allow-private-agent-urls") {
		t.Errorf("newUpstreamRegistry with an internal address = %v", err)
	}
	// With private URLs allowed it is registered.
	open := agentcards.NewGuard(agentcards.GuardOptions{AllowPrivate: true})
	if _, err := newUpstreamRegistry(t.Context(), cfg, st, UpstreamRegistryOptions{Guard: open}); err != nil {
		t.Errorf("newUpstreamRegistry with private URLs allowed: %v", err)
	}
}

func TestDescribeUpstreamAdmin(t *testing.T) {
	tests := []struct {
		method, path string
		want         audit.Entry
		ok           bool
	}{
		{"POST", "/api/v1/upstreams", audit.Entry{Action: "upstream.register", WithWrite: true}, true},
		{"DELETE", "/api/v1/upstreams/github", audit.Entry{Action: "upstream.remove", Target: "github", WithWrite: true}, true},
		{"POST", "/api/v1/upstreams/github/approve", audit.Entry{Action: "upstream.approve", Target: "github", WithWrite: true}, true},
		{"GET", "/api/v1/upstreams", audit.Entry{}, false},
		{"GET", "/api/v1/upstreams/github", audit.Entry{}, false},
		{"POST", "/api/v1/upstreams/github/other", audit.Entry{}, false},
		{"POST", "/api/v1/upstreamsx", audit.Entry{}, false},
		// The agents' records are still theirs.
		{"DELETE", "/api/v1/agents/billing", audit.Entry{Action: audit.ActionAgentRemove, Target: "billing", WithWrite: true}, true},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.path, nil)
		got, ok := describeAdmin(r, "")
		if ok != tt.ok || !cmp.Equal(tt.want, got) {
			t.Errorf("%s %s = %+v, %v; want %+v, %v", tt.method, tt.path, got, ok, tt.want, tt.ok)
		}
	}
}

// The follower hands the Manager the registered specs at start and after
// every change, and asks for a re-check of an upstream whose pins changed.
func TestUpstreamFollower(t *testing.T) {
	st := openTestStore(t)
	ctx := t.Context()
	reg := upstream.NewRegistry(st, upstream.Options{})
	syncs := make(chan []string, 16)
	rechecks := make(chan string, 16)
	fail := make(chan error, 1)
	f := &upstreamFollower{
		Registry: reg,
		Feed:     st,
		Sync: func(_ context.Context, specs []upstream.Spec) error {
			select {
			case err := <-fail:
				return err
			default:
			}
			names := []string{}
			for _, s := range specs {
				names = append(names, s.Name)
			}
			syncs <- names
			return nil
		},
		Recheck:    func(_ context.Context, name string) error { rechecks <- name; return nil },
		RetryAfter: time.Millisecond,
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	expectSync := func(want ...string) {
		t.Helper()
		select {
		case got := <-syncs:
			if want == nil {
				want = []string{}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("sync (-want +got):\n%s", diff)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no sync, want %v", want)
		}
	}
	expectSync() // at start: nothing registered

	if _, err := reg.Add(ctx, upstream.Spec{Name: "gh", URL: "https://gh.example/mcp"}); err != nil {
		t.Fatal(err)
	}
	expectSync("gh")

	// A pin's change asks for a re-check, not a sync.
	if _, err := reg.Pins().CheckTool(ctx, "gh", "search", []byte(`{"name":"search"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case name := <-rechecks:
		if name != "gh" {
			t.Errorf("recheck of %q, want gh", name)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no recheck after a pin changed")
	}

	// A failed sync is retried.
	fail <- errors.New("manager busy")
	if _, err := reg.Add(ctx, upstream.Spec{Name: "fs", Command: []string{"mcp-server-fs"}}); err != nil {
		t.Fatal(err)
	}
	expectSync("fs", "gh")

	if err := reg.Remove(ctx, "gh"); err != nil {
		t.Fatal(err)
	}
	expectSync("fs")
	select {
	case got := <-syncs:
		t.Errorf("unexpected sync %v", got)
	case name := <-rechecks:
		t.Errorf("unexpected recheck %q", name)
	default:
	}
}
