package upstream_test

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
	"github.com/parleyhq/parley/upstream"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// openStore opens a fresh SQLite store; open opens it again, as another
// replica would.
func openStore(t *testing.T) (st store.Store, open func() store.Store) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "parley.db")
	open = func() store.Store {
		s, err := sqlite.Open(t.Context(), path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return open(), open
}

// publicResolver resolves every name to a public address, so that the
// guard's checks do not depend on the machine's DNS.
type publicResolver struct{}

func (publicResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if host == "internal.example" {
		return []netip.Addr{netip.MustParseAddr("10.1.2.3")}, nil
	}
	return []netip.Addr{netip.MustParseAddr("203.0.113.7")}, nil
}

// fakeConflicts reports the conflicts it is given for the named upstream,
// and records what it was asked.
type fakeConflicts struct {
	mu     sync.Mutex
	byName map[string][]upstream.Conflict
	asked  []string
	err    error
}

func (f *fakeConflicts) Conflicts(_ context.Context, spec upstream.Spec) ([]upstream.Conflict, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, spec.Name)
	return f.byName[spec.Name], f.err
}

func newRegistry(t *testing.T, st store.Store, opts upstream.Options) *upstream.Registry {
	t.Helper()
	if opts.Guard == nil {
		opts.Guard = agentcards.NewGuard(agentcards.GuardOptions{Resolver: publicResolver{}})
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return t0 }
	}
	return upstream.NewRegistry(st, opts)
}

func TestAddValidates(t *testing.T) {
	st, _ := openStore(t)
	reg := newRegistry(t, st, upstream.Options{})
	tests := []struct {
		name string
		spec upstream.Spec
		want []string // in the error
	}{
		{"no name", upstream.Spec{URL: "https://mcp.example/mcp"}, []string{"name: must be set"}},
		{"upper case", upstream.Spec{Name: "GitHub", URL: "https://mcp.example/mcp"}, []string{`name: "GitHub" must be 1 to 32 lower-case letters`}},
		{"starts with a digit", upstream.Spec{Name: "1gh", URL: "https://mcp.example/mcp"}, []string{"starting with a letter"}},
		{"too long", upstream.Spec{Name: strings.Repeat("a", 33), URL: "https://mcp.example/mcp"}, []string{"1 to 32"}},
		{"neither", upstream.Spec{Name: "gh"}, []string{"give url (a Streamable HTTP endpoint) or command"}},
		{"both", upstream.Spec{Name: "gh", URL: "https://mcp.example/mcp", Command: []string{"x"}}, []string{"not both"}},
		{"relative URL", upstream.Spec{Name: "gh", URL: "/mcp"}, []string{`url: "/mcp" must be an absolute http:// or https:// URL`}},
		{"ftp URL", upstream.Spec{Name: "gh", URL: "ftp://mcp.example/"}, []string{"url:"}},
		{"URL with credentials", upstream.Spec{Name: "gh", URL: "https://u:p@mcp.example/mcp"}, []string{"without user info"}},
		{"env on HTTP", upstream.Spec{Name: "gh", URL: "https://mcp.example/mcp", Env: map[string]string{"A": "b"}}, []string{"env: applies to a stdio upstream"}},
		{"empty program", upstream.Spec{Name: "fs", Command: []string{" "}}, []string{"command: the first item must name the program"}},
		{"bad env name", upstream.Spec{Name: "fs", Command: []string{"x"}, Env: map[string]string{"A=B": "c"}}, []string{`env: variable name "A=B"`}},
		{"credentials on stdio", upstream.Spec{Name: "fs", Command: []string{"x"}, Credentials: &upstream.Credentials{BearerTokenEnv: "T"}},
			[]string{"credentials: apply to an HTTP upstream"}},
		{"bad prefix", upstream.Spec{Name: "gh", URL: "https://mcp.example/mcp", Prefix: "sometimes"}, []string{`prefix: "sometimes" must be always`}},
		{"bad glob", upstream.Spec{Name: "gh", URL: "https://mcp.example/mcp", Allow: []string{"read_["}}, []string{`allow: "read_[" is not a valid glob`}},
		{"empty deny", upstream.Spec{Name: "gh", URL: "https://mcp.example/mcp", Deny: []string{""}}, []string{"deny: must hold tool or prompt names"}},
		{"two credentials", upstream.Spec{Name: "gh", URL: "https://mcp.example/mcp",
			Credentials: &upstream.Credentials{BearerTokenEnv: "T", BearerTokenFile: "/t"}}, []string{"set exactly one of client_credentials"}},
		{"client credentials without a secret", upstream.Spec{Name: "gh", URL: "https://mcp.example/mcp",
			Credentials: &upstream.Credentials{ClientCredentials: &upstream.ClientCredentials{TokenURL: "https://idp.example/token", ClientID: "parley"}}},
			[]string{"set exactly one of client_secret_env and client_secret_file"}},
		{"several problems at once", upstream.Spec{Name: "Bad", Prefix: "x"}, []string{"name:", "give url", "prefix:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := reg.Add(t.Context(), tt.spec)
			if !errors.Is(err, upstream.ErrInvalid) {
				t.Fatalf("Add = %v, want ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if list, err := reg.List(t.Context()); err != nil || len(list) != 0 {
		t.Errorf("after refusals the registry holds %v (%v)", list, err)
	}
}

func TestAddAndGet(t *testing.T) {
	st, _ := openStore(t)
	reg := newRegistry(t, st, upstream.Options{})
	ctx := t.Context()
	spec := upstream.Spec{Name: "github", URL: "https://mcp.github.example/mcp", Allow: []string{"search_*"},
		Credentials: &upstream.Credentials{BearerTokenEnv: "GITHUB_TOKEN"}}
	added, err := reg.Add(ctx, spec)
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	wantSpec := spec
	wantSpec.Prefix = upstream.PrefixAlways // the default, spelt out
	want := upstream.Upstream{Spec: wantSpec, Version: 1, Source: store.UpstreamFromAPI, CreatedAt: t0, UpdatedAt: t0}
	if diff := cmp.Diff(want, added); diff != "" {
		t.Errorf("Add (-want +got):\n%s", diff)
	}
	got, err := reg.Get(ctx, "github")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Get (-want +got):\n%s", diff)
	}
	fs := upstream.Spec{Name: "fs", Command: []string{"mcp-server-fs", "/data"}, Env: map[string]string{"LOG": "debug"}, Prefix: upstream.PrefixNever}
	if _, err := reg.Add(ctx, fs); err != nil {
		t.Fatalf("Add stdio: %v", err)
	}
	specs, err := reg.Specs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]upstream.Spec{fs, wantSpec}, specs); diff != "" {
		t.Errorf("Specs (-want +got):\n%s", diff)
	}
	if _, err := reg.Add(ctx, upstream.Spec{Name: "github", URL: "https://other.example/mcp"}); !errors.Is(err, upstream.ErrExists) ||
		!strings.Contains(err.Error(), `upstream name "github" is taken`) {
		t.Errorf("Add of a taken name = %v, want ErrExists naming it", err)
	}
	if _, err := reg.Get(ctx, "nobody"); !errors.Is(err, upstream.ErrNotFound) {
		t.Errorf("Get unknown = %v, want ErrNotFound", err)
	}
}

// HTTP upstreams pass the agents' address guard: internal addresses are
// refused unless private URLs are allowed.
func TestAddRefusesInternalAddresses(t *testing.T) {
	st, _ := openStore(t)
	ctx := t.Context()
	guarded := newRegistry(t, st, upstream.Options{})
	for _, u := range []string{
		"http://127.0.0.1:9000/mcp",
		"http://169.254.169.254/latest/meta-data",
		"http://[::1]/mcp",
		"http://localhost:8080/mcp",
		"https://internal.example/mcp", // resolves to 10.1.2.3
	} {
		_, err := guarded.Add(ctx, upstream.Spec{Name: "inner", URL: u})
		if !errors.Is(err, agentcards.ErrBlockedAddress) || !strings.Contains(err.Error(), "--allow-private-agent-urls") {
			t.Errorf("Add(%s) = %v, want a refusal naming --allow-private-agent-urls", u, err)
		}
	}
	if _, err := guarded.Get(ctx, "inner"); !errors.Is(err, upstream.ErrNotFound) {
		t.Errorf("a refused upstream was stored: %v", err)
	}
	// A stdio upstream has no address to check.
	if _, err := guarded.Add(ctx, upstream.Spec{Name: "fs", Command: []string{"mcp-server-fs"}}); err != nil {
		t.Errorf("Add stdio: %v", err)
	}
	open := upstream.NewRegistry(st, upstream.Options{
		Guard: agentcards.NewGuard(agentcards.GuardOptions{AllowPrivate: true, Resolver: publicResolver{}}),
	})
	if _, err := open.Add(ctx, upstream.Spec{Name: "inner", URL: "http://127.0.0.1:9000/mcp"}); err != nil {
		t.Errorf("Add with private URLs allowed: %v", err)
	}
}

func TestAddRefusesNameCollisions(t *testing.T) {
	st, _ := openStore(t)
	ctx := t.Context()
	checker := &fakeConflicts{byName: map[string][]upstream.Conflict{
		"github": {{Name: "github_search", Owner: "gh2"}},
		"tickets": {
			{Name: "save_ticket", Owner: "parley"},
			{Name: "get_ticket", Owner: "parley"},
		},
	}}
	reg := newRegistry(t, st, upstream.Options{Conflicts: checker})
	_, err := reg.Add(ctx, upstream.Spec{Name: "github", URL: "https://mcp.github.example/mcp"})
	var ce *upstream.ConflictError
	if !errors.Is(err, upstream.ErrConflict) || !errors.As(err, &ce) {
		t.Fatalf("Add = %v, want a *ConflictError", err)
	}
	// Both sides are named.
	for _, w := range []string{`github_search is already served by upstream "gh2"`, `upstream "github" would serve it too`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	_, err = reg.Add(ctx, upstream.Spec{Name: "tickets", Command: []string{"tickets-mcp"}, Prefix: upstream.PrefixNever})
	for _, w := range []string{"save_ticket is already served by Parley itself", "get_ticket is already served by Parley itself", "would serve them too"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v lacks %q", err, w)
		}
	}
	if list, err := reg.List(ctx); err != nil || len(list) != 0 {
		t.Errorf("refused upstreams were stored: %v (%v)", list, err)
	}
	// No collision: registered.
	if _, err := reg.Add(ctx, upstream.Spec{Name: "jira", URL: "https://jira.example/mcp"}); err != nil {
		t.Errorf("Add without collisions: %v", err)
	}
	// A taken name is refused before any probe.
	checker.asked = nil
	if _, err := reg.Add(ctx, upstream.Spec{Name: "jira", URL: "https://jira.example/mcp"}); !errors.Is(err, upstream.ErrExists) {
		t.Errorf("Add of a taken name = %v, want ErrExists", err)
	}
	if len(checker.asked) != 0 {
		t.Errorf("the checker probed %v for a taken name", checker.asked)
	}
	// A checker that fails refuses (the caller may retry).
	checker.err = errors.New("manager closed")
	if _, err := reg.Add(ctx, upstream.Spec{Name: "wiki", URL: "https://wiki.example/mcp"}); err == nil || errors.Is(err, upstream.ErrConflict) {
		t.Errorf("Add with a failing checker = %v, want its error", err)
	}
}

func TestSeedFromConfig(t *testing.T) {
	st, _ := openStore(t)
	ctx := t.Context()
	now := t0
	reg := newRegistry(t, st, upstream.Options{Now: func() time.Time { return now }})
	// Registered through the API beforehand: one the file will take over,
	// one it leaves alone.
	for _, s := range []upstream.Spec{
		{Name: "wiki", URL: "https://wiki.example/mcp"},
		{Name: "jira", URL: "https://jira.example/mcp"},
	} {
		if _, err := reg.Add(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	file := []upstream.Spec{
		{Name: "github", URL: "https://mcp.github.example/mcp"},
		{Name: "fs", Command: []string{"mcp-server-fs", "/data"}},
		{Name: "wiki", URL: "https://wiki2.example/mcp", Prefix: upstream.PrefixNever},
	}
	if err := reg.Seed(ctx, file); err != nil {
		t.Fatalf("Seed: %v", err)
	}
	type row struct {
		Name, Source, URL string
		Version           int64
	}
	rows := func() []row {
		t.Helper()
		list, err := reg.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []row
		for _, u := range list {
			out = append(out, row{u.Spec.Name, u.Source, u.Spec.URL, u.Version})
		}
		return out
	}
	want := []row{
		{"fs", "config", "", 1},
		{"github", "config", "https://mcp.github.example/mcp", 1},
		{"jira", "api", "https://jira.example/mcp", 1},
		{"wiki", "config", "https://wiki2.example/mcp", 2}, // the file wins
	}
	if diff := cmp.Diff(want, rows()); diff != "" {
		t.Errorf("after the first start (-want +got):\n%s", diff)
	}

	// The same file again writes nothing.
	now = t0.Add(time.Hour)
	if err := reg.Seed(ctx, file); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, rows()); diff != "" {
		t.Errorf("after a restart with the same file (-want +got):\n%s", diff)
	}

	// The file owns its upstreams: the API may neither replace nor remove
	// them.
	if _, err := reg.Add(ctx, upstream.Spec{Name: "github", URL: "https://elsewhere.example/mcp"}); !errors.Is(err, upstream.ErrConfigOwned) ||
		!strings.Contains(err.Error(), "defined in the config file") {
		t.Errorf("Add over a config upstream = %v, want ErrConfigOwned", err)
	}
	if err := reg.Remove(ctx, "github"); !errors.Is(err, upstream.ErrConfigOwned) || !strings.Contains(err.Error(), "remove it there") {
		t.Errorf("Remove of a config upstream = %v, want ErrConfigOwned", err)
	}

	// A changed file: github changes, fs leaves (removed), jira is still
	// the API's.
	file = []upstream.Spec{{Name: "github", URL: "https://mcp.github.example/v2/mcp"}, file[2]}
	if err := reg.Seed(ctx, file); err != nil {
		t.Fatal(err)
	}
	want = []row{
		{"github", "config", "https://mcp.github.example/v2/mcp", 2},
		{"jira", "api", "https://jira.example/mcp", 1},
		{"wiki", "config", "https://wiki2.example/mcp", 2},
	}
	if diff := cmp.Diff(want, rows()); diff != "" {
		t.Errorf("after a restart with a changed file (-want +got):\n%s", diff)
	}

	// A bad spec or a refused address stops start-up, naming the entry.
	for _, tt := range []struct {
		specs []upstream.Spec
		want  error
		text  string
	}{
		{[]upstream.Spec{{Name: "ok", URL: "https://ok.example/mcp"}, {Name: "Bad", URL: "https://x.example"}}, upstream.ErrInvalid, "mcp.upstreams[1] (Bad): name:"},
		{[]upstream.Spec{{Name: "inner", URL: "http://10.0.0.1/mcp"}}, agentcards.ErrBlockedAddress, "mcp.upstreams[0]: upstream \"inner\": refusing"},
		{[]upstream.Spec{{Name: "a", URL: "https://a.example"}, {Name: "a", Command: []string{"a"}}}, upstream.ErrInvalid, "named twice"},
	} {
		err := reg.Seed(ctx, tt.specs)
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
			t.Errorf("Seed(%v) = %v, want %v containing %q", tt.specs, err, tt.want, tt.text)
		}
	}
}

func TestRemove(t *testing.T) {
	st, _ := openStore(t)
	ctx := t.Context()
	reg := newRegistry(t, st, upstream.Options{})
	if _, err := reg.Add(ctx, upstream.Spec{Name: "gh", URL: "https://gh.example/mcp"}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Pins().CheckTool(ctx, "gh", "search", []byte(`{"name":"search"}`)); err != nil {
		t.Fatal(err)
	}
	if err := reg.Remove(ctx, "gh"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if err := reg.Remove(ctx, "gh"); !errors.Is(err, upstream.ErrNotFound) {
		t.Errorf("Remove twice = %v, want ErrNotFound", err)
	}
	// Registered again, its tools are pinned afresh.
	if _, err := reg.Add(ctx, upstream.Spec{Name: "gh", URL: "https://gh.example/mcp"}); err != nil {
		t.Fatal(err)
	}
	if visible, err := reg.Pins().CheckTool(ctx, "gh", "search", []byte(`{"name":"search","description":"new"}`)); err != nil || !visible {
		t.Errorf("CheckTool after re-registering = %v, %v; want visible", visible, err)
	}
}
