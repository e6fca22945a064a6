package adminapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/adminapi"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/agentcards/agentcardstest"
	"github.com/parleyhq/parley/api"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/store/sqlite"
)

// server runs the admin API mounted on a real gateway router, over a
// registry in a fresh SQLite store.
func server(t *testing.T, opts agentcards.Options, api adminapi.Options) *httptest.Server {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if opts.FetchTimeout == 0 {
		opts.FetchTimeout = 5 * time.Second
	}
	g, err := gateway.New(config.Default(), gateway.Deps{Store: st}, nil)
	if err != nil {
		t.Fatal(err)
	}
	adminapi.New(agentcards.New(st, opts), api).Mount(g.Router())
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	return srv
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) errText() string {
	var e api.Error
	_ = json.Unmarshal(r.body, &e)
	return e.Error
}

func call(t *testing.T, srv *httptest.Server, method, path, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json") // the gateway takes JSON bodies only
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func decodeAgent(t *testing.T, r response) api.Agent {
	t.Helper()
	var a api.Agent
	if err := json.Unmarshal(r.body, &a); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	return a
}

func cardJSON(t *testing.T, name, url string, skills ...string) string {
	t.Helper()
	var s []any
	for _, id := range skills {
		s = append(s, agentcardstest.Skill(id, strings.ToUpper(id[:1])+id[1:], "tag-"+id))
	}
	c := agentcardstest.Card03(name, url)
	b, _ := json.Marshal(c)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	m["skills"] = s
	b, _ = json.Marshal(m)
	return string(b)
}

func TestAgentsAPI(t *testing.T) {
	srv := server(t, agentcards.Options{AllowPrivate: true}, adminapi.Options{})
	billing := agentcardstest.NewPeer(t, "Billing", agentcardstest.Skill("refund", "Refund", "money"))
	stopped := agentcardstest.NewPeer(t, "Stopped", agentcardstest.Skill("x", "X"))

	// Register by URL.
	r := call(t, srv, "POST", "/api/v1/agents", `{"url": "`+billing.URL()+`"}`)
	if r.status != http.StatusCreated || r.header.Get("Location") != "/api/v1/agents/Billing" {
		t.Fatalf("POST by url = %d %s (Location %q)", r.status, r.body, r.header.Get("Location"))
	}
	a := decodeAgent(t, r)
	if a.Name != "Billing" || a.URL != billing.URL()+"/" || a.Transport != "JSONRPC" || a.ProtocolVersion != "0.3.0" ||
		a.Health.Status != "healthy" || a.Health.CheckedAt == nil || len(a.Skills) != 1 || a.Skills[0].ID != "refund" ||
		!json.Valid(a.Card) || a.Drift || !strings.HasPrefix(a.CardHash, "sha256:") || a.SourceURL == "" {
		t.Errorf("registered = %+v", a)
	}

	// Register by document, with a name that needs escaping in paths.
	doc := cardJSON(t, "Docs", "https://docs.example/a2a", "search")
	r = call(t, srv, "POST", "/api/v1/agents", `{"card": `+doc+`, "name": "Doc Search"}`)
	if r.status != http.StatusCreated || r.header.Get("Location") != "/api/v1/agents/Doc%20Search" {
		t.Fatalf("POST by card = %d %s", r.status, r.body)
	}
	if a := decodeAgent(t, r); a.Health.Status != "unknown" || a.Health.CheckedAt != nil || a.SourceURL != "" {
		t.Errorf("by document = %+v", a)
	}
	if r := call(t, srv, "POST", "/api/v1/agents", `{"url": "`+stopped.URL()+`"}`); r.status != http.StatusCreated {
		t.Fatalf("POST stopped = %d %s", r.status, r.body)
	}
	stopped.Stop()

	// Errors of POST.
	for _, tt := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"name taken", `{"url": "` + billing.URL() + `", "name": "billing"}`, http.StatusConflict, `agent name "billing" is taken`},
		{"invalid card", `{"card": {"name": "x", "version": "1", "capabilities": {}, "url": "https://x.example/", "protocolVersion": "0.3.0", "skills": [{"name": "no id"}]}}`,
			http.StatusBadRequest, "invalid agent card: skills[0].id: is required"},
		{"card not an object", `{"card": "hello"}`, http.StatusBadRequest, "must be a JSON object"},
		{"both", `{"url": "http://a.example", "card": {}}`, http.StatusBadRequest, "not both"},
		{"neither", `{"name": "x"}`, http.StatusBadRequest, "either url"},
		{"empty body", ``, http.StatusBadRequest, "body is empty"},
		{"not JSON", `{url`, http.StatusBadRequest, "invalid JSON body"},
		{"unknown field", `{"uri": "http://a.example"}`, http.StatusBadRequest, `unknown field "uri"`},
		{"bad name", `{"url": "` + billing.URL() + `", "name": "a/b"}`, http.StatusBadRequest, "name"},
		{"fetch failed", `{"url": "` + stopped.URL() + `", "name": "again"}`, http.StatusBadGateway, "fetch agent card " + stopped.URL() + "/.well-known/agent-card.json: "},
		{"no card there", `{"url": "` + billing.URL() + `/agents/x", "name": "x"}`, http.StatusBadGateway, "answered with a JSON-RPC error"},
	} {
		t.Run("POST "+tt.name, func(t *testing.T) {
			r := call(t, srv, "POST", "/api/v1/agents", tt.body)
			if r.status != tt.status || !strings.Contains(r.errText(), tt.want) {
				t.Errorf("= %d %s, want %d mentioning %q", r.status, r.body, tt.status, tt.want)
			}
		})
	}

	// List and search.
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"", []string{"Billing", "Doc Search", "Stopped"}},
		{"?skill=refund", []string{"Billing"}},
		{"?tag=TAG-SEARCH", []string{"Doc Search"}},
		{"?q=docs", []string{"Doc Search"}},
		{"?q=test+agent&skill=x", []string{"Stopped"}},
		{"?skill=none", []string{}},
	} {
		t.Run("GET list"+tt.query, func(t *testing.T) {
			r := call(t, srv, "GET", "/api/v1/agents"+tt.query, "")
			var l api.AgentList
			if err := json.Unmarshal(r.body, &l); err != nil || r.status != http.StatusOK {
				t.Fatalf("= %d %s", r.status, r.body)
			}
			got := []string{}
			for _, a := range l.Agents {
				got = append(got, a.Name)
				if a.Card != nil {
					t.Errorf("list item %s carries its card", a.Name)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("names = %v, want %v", got, tt.want)
			}
		})
	}
	r = call(t, srv, "GET", "/api/v1/agents?limit=2", "")
	var page api.AgentList
	_ = json.Unmarshal(r.body, &page)
	if len(page.Agents) != 2 || page.Next != "Doc Search" {
		t.Errorf("page = %+v", page)
	}
	for _, q := range []string{"?limit=0", "?limit=x", "?limit=1001", "?sort=name"} {
		if r := call(t, srv, "GET", "/api/v1/agents"+q, ""); r.status != http.StatusBadRequest {
			t.Errorf("GET %s = %d %s, want 400", q, r.status, r.body)
		}
	}

	// Get.
	if r := call(t, srv, "GET", "/api/v1/agents/doc%20search", ""); r.status != http.StatusOK || decodeAgent(t, r).Name != "Doc Search" {
		t.Errorf("GET by escaped name, other case = %d %s", r.status, r.body)
	}
	if r := call(t, srv, "GET", "/api/v1/agents/nobody", ""); r.status != http.StatusNotFound || !strings.Contains(r.errText(), `agent "nobody": not found`) {
		t.Errorf("GET unknown = %d %s", r.status, r.body)
	}

	// Refetch: drift, then approve.
	billing.Serve(agentcardstest.Card03("Billing", billing.URL()+"/", agentcardstest.Skill("refund", "Refund", "money"), agentcardstest.Skill("wire", "Wire")))
	r = call(t, srv, "POST", "/api/v1/agents/Billing/refetch", "")
	var res api.RefetchResult
	if err := json.Unmarshal(r.body, &res); err != nil || r.status != http.StatusOK || res.Outcome != "drift" ||
		!res.Agent.Drift || res.Agent.Pending == nil || !strings.Contains(res.Agent.Pending.Summary, "skills: added wire") ||
		!json.Valid(res.Agent.Pending.Card) || !strings.Contains(res.Changes, "added wire") {
		t.Fatalf("refetch = %d %s", r.status, r.body)
	}
	pendingHash := res.Agent.Pending.CardHash
	for _, tt := range []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"refetch unknown", "POST", "/api/v1/agents/nobody/refetch", "", http.StatusNotFound, "not found"},
		{"refetch by-document agent", "POST", "/api/v1/agents/Doc%20Search/refetch", "", http.StatusConflict, "registered by document"},
		{"refetch stopped agent", "POST", "/api/v1/agents/Stopped/refetch", "", http.StatusBadGateway, "connection refused"},
		{"approve stale hash", "POST", "/api/v1/agents/Billing/approve", `{"card_hash": "sha256:00"}`, http.StatusConflict, "has changed"},
		{"approve bad body", "POST", "/api/v1/agents/Billing/approve", `{"hash": "x"}`, http.StatusBadRequest, "unknown field"},
		{"approve unknown", "POST", "/api/v1/agents/nobody/approve", "", http.StatusNotFound, "not found"},
		{"approve with nothing pending", "POST", "/api/v1/agents/Doc%20Search/approve", "", http.StatusConflict, "no card awaiting approval"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, srv, tt.method, tt.path, tt.body)
			if r.status != tt.status || !strings.Contains(r.errText(), tt.want) {
				t.Errorf("= %d %s, want %d mentioning %q", r.status, r.body, tt.status, tt.want)
			}
		})
	}
	r = call(t, srv, "POST", "/api/v1/agents/Billing/approve", `{"card_hash": "`+pendingHash+`"}`)
	if a := decodeAgent(t, r); r.status != http.StatusOK || a.Drift || a.CardHash != pendingHash || len(a.Skills) != 2 {
		t.Errorf("approve = %d %s", r.status, r.body)
	}
	// Health was recorded by the failed refetch.
	if a := decodeAgent(t, call(t, srv, "GET", "/api/v1/agents/Stopped", "")); a.Health.Status != "unreachable" || a.Health.Error == "" {
		t.Errorf("stopped agent health = %+v", a.Health)
	}

	// Replace.
	r = call(t, srv, "PUT", "/api/v1/agents/Doc%20Search", `{"card": `+cardJSON(t, "Docs", "https://docs.example/v2", "search", "summarize")+`}`)
	if a := decodeAgent(t, r); r.status != http.StatusOK || len(a.Skills) != 2 || a.URL != "https://docs.example/v2" {
		t.Errorf("PUT = %d %s", r.status, r.body)
	}
	for _, tt := range []struct {
		name, path, body string
		status           int
		want             string
	}{
		{"unknown", "/api/v1/agents/nobody", `{"card": ` + doc + `}`, http.StatusNotFound, "not found"},
		{"invalid card", "/api/v1/agents/Billing", `{"card": {"name": "x"}}`, http.StatusBadRequest, "invalid agent card: version"},
		{"name is not a field", "/api/v1/agents/Billing", `{"card": ` + doc + `, "name": "x"}`, http.StatusBadRequest, "unknown field"},
		{"fetch failed", "/api/v1/agents/Billing", `{"url": "` + stopped.URL() + `"}`, http.StatusBadGateway, "fetch agent card"},
	} {
		t.Run("PUT "+tt.name, func(t *testing.T) {
			r := call(t, srv, "PUT", tt.path, tt.body)
			if r.status != tt.status || !strings.Contains(r.errText(), tt.want) {
				t.Errorf("= %d %s, want %d mentioning %q", r.status, r.body, tt.status, tt.want)
			}
		})
	}

	// Delete.
	if r := call(t, srv, "DELETE", "/api/v1/agents/billing", ""); r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Errorf("DELETE = %d %s", r.status, r.body)
	}
	if r := call(t, srv, "DELETE", "/api/v1/agents/billing", ""); r.status != http.StatusNotFound {
		t.Errorf("DELETE again = %d %s", r.status, r.body)
	}
	// Wrong method: the gateway's JSON 405.
	if r := call(t, srv, "PATCH", "/api/v1/agents/x", "{}"); r.status != http.StatusMethodNotAllowed || r.errText() == "" {
		t.Errorf("PATCH = %d %s", r.status, r.body)
	}
}

// resolver answers for invented names.
type resolver map[string]string

func (f resolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return []netip.Addr{netip.MustParseAddr(a)}, nil
	}
	return nil, fmt.Errorf("lookup %s: no such host", host)
}

func TestAgentsAPIRefusesInternalAddresses(t *testing.T) {
	srv := server(t, agentcards.Options{Resolver: resolver{"internal.example": "10.1.1.1"}}, adminapi.Options{})
	p := agentcardstest.NewPeer(t, "Local", agentcardstest.Skill("x", "X"))
	for _, tt := range []struct {
		body string
		want string
	}{
		{`{"url": "` + p.URL() + `"}`, "127.0.0.1 is a loopback address"},
		{`{"url": "http://169.254.169.254/"}`, "cloud metadata"},
		{`{"url": "http://internal.example/"}`, "host internal.example resolves to 10.1.1.1, a private (RFC 1918) address"},
		{`{"url": "http://[fd00::1]/"}`, "unique-local"},
		{`{"card": ` + cardJSON(t, "Sneaky", "http://[::1]:8080/", "x") + `}`, "the card's JSONRPC interface: refusing http://[::1]:8080/: ::1 is a loopback address"},
	} {
		r := call(t, srv, "POST", "/api/v1/agents", tt.body)
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.errText(), tt.want) || !strings.Contains(r.errText(), "--allow-private-agent-urls") {
			t.Errorf("POST %s = %d %s, want 422 mentioning %q", tt.body, r.status, r.body, tt.want)
		}
	}
	if n := p.CardRequests.Load(); n != 0 {
		t.Errorf("the loopback agent was fetched %d times", n)
	}
}

func TestAgentsAPIAuthorize(t *testing.T) {
	var mu sync.Mutex
	var actions []string
	authorize := func(r *http.Request, action string) error {
		mu.Lock()
		actions = append(actions, action)
		mu.Unlock()
		switch r.Header.Get("Authorization") {
		case "":
			return fmt.Errorf("no bearer token: %w", adminapi.ErrUnauthenticated)
		case "Bearer reader":
			if action == adminapi.ActionListAgents || action == adminapi.ActionGetAgent {
				return nil
			}
			return fmt.Errorf("%s needs the admin role: %w", action, adminapi.ErrForbidden)
		}
		return nil
	}
	srv := server(t, agentcards.Options{AllowPrivate: true}, adminapi.Options{Authorize: authorize})
	doc := cardJSON(t, "Docs", "https://docs.example/a2a", "search")
	send := func(method, path, token, body string) int {
		req, _ := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := send("POST", "/api/v1/agents", "", `{"card": `+doc+`}`); s != http.StatusUnauthorized {
		t.Errorf("anonymous POST = %d, want 401", s)
	}
	if s := send("POST", "/api/v1/agents", "reader", `{"card": `+doc+`}`); s != http.StatusForbidden {
		t.Errorf("reader POST = %d, want 403", s)
	}
	if s := send("POST", "/api/v1/agents", "admin", `{"card": `+doc+`}`); s != http.StatusCreated {
		t.Errorf("admin POST = %d, want 201", s)
	}
	if s := send("GET", "/api/v1/agents/Docs", "reader", ""); s != http.StatusOK {
		t.Errorf("reader GET = %d, want 200", s)
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v1/agents"}, {"PUT", "/api/v1/agents/Docs"}, {"POST", "/api/v1/agents/Docs/refetch"},
		{"POST", "/api/v1/agents/Docs/approve"}, {"DELETE", "/api/v1/agents/Docs"},
	} {
		if s := send(c.method, c.path, "", ""); s != http.StatusUnauthorized {
			t.Errorf("anonymous %s %s = %d, want 401", c.method, c.path, s)
		}
	}
	want := []string{"agents.register", "agents.register", "agents.register", "agents.get",
		"agents.list", "agents.replace", "agents.refetch", "agents.approve", "agents.remove"}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(actions, want) {
		t.Errorf("actions = %v, want %v", actions, want)
	}
}

// The handler on its own enforces its body limit.
func TestAgentsAPIStandaloneBodyLimit(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := httptest.NewServer(adminapi.New(agentcards.New(st, agentcards.Options{}), adminapi.Options{MaxBodyBytes: 100}))
	defer srv.Close()
	r := call(t, srv, "POST", "/api/v1/agents", `{"card": {"name": "`+strings.Repeat("x", 200)+`"}}`)
	if r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body = %d %s, want 413", r.status, r.body)
	}
	if r := call(t, srv, "GET", "/api/v1/elsewhere", ""); r.status != http.StatusNotFound || r.errText() == "" {
		t.Errorf("unknown path = %d %s", r.status, r.body)
	}
}

func TestClient(t *testing.T) {
	ctx := t.Context()
	srv := server(t, agentcards.Options{AllowPrivate: true}, adminapi.Options{})
	p := agentcardstest.NewPeer(t, "Echo Agent", agentcardstest.Skill("echo", "Echo", "test"))
	c, err := adminapi.NewClient(srv.URL+"/", adminapi.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.Register(ctx, api.RegisterAgentRequest{URL: p.URL()})
	if err != nil || a.Name != "Echo Agent" {
		t.Fatalf("Register = %+v, %v", a, err)
	}
	if _, err := c.Register(ctx, api.RegisterAgentRequest{URL: p.URL()}); !adminapi.IsStatus(err, http.StatusConflict) {
		t.Errorf("second Register = %v, want 409", err)
	}
	var apiErr *adminapi.APIError
	if _, err := c.Get(ctx, "nobody"); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || !strings.Contains(apiErr.Message, "not found") {
		t.Errorf("Get unknown = %v", err)
	}
	got, err := c.Get(ctx, "echo agent")
	if err != nil || got.Name != "Echo Agent" || got.Card == nil {
		t.Errorf("Get = %+v, %v", got, err)
	}
	for i := range 3 {
		if _, err := c.Register(ctx, api.RegisterAgentRequest{URL: p.URL(), Name: fmt.Sprintf("copy-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := c.ListAll(ctx, adminapi.ListOptions{Skill: "echo", Limit: 1})
	if err != nil || len(all) != 4 {
		t.Errorf("ListAll = %d agents, %v", len(all), err)
	}
	res, err := c.Refetch(ctx, "copy-0")
	if err != nil || res.Outcome != "unchanged" {
		t.Errorf("Refetch = %+v, %v", res, err)
	}
	if _, err := c.Approve(ctx, "copy-0", ""); !adminapi.IsStatus(err, http.StatusConflict) {
		t.Errorf("Approve = %v, want 409", err)
	}
	if _, err := c.Replace(ctx, "copy-0", api.ReplaceAgentRequest{URL: p.URL()}); err != nil {
		t.Errorf("Replace: %v", err)
	}
	if err := c.Remove(ctx, "Echo Agent"); err != nil {
		t.Errorf("Remove: %v", err)
	}
	if _, err := adminapi.NewClient("127.0.0.1:8080", adminapi.ClientOptions{}); err == nil {
		t.Error("NewClient accepted a URL without scheme")
	}
	// A server that is not the gateway.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "teapot", http.StatusTeapot)
	}))
	defer other.Close()
	oc, _ := adminapi.NewClient(other.URL, adminapi.ClientOptions{Token: "t"})
	if _, err := oc.List(ctx, adminapi.ListOptions{}); !adminapi.IsStatus(err, http.StatusTeapot) || !strings.Contains(err.Error(), "teapot") {
		t.Errorf("List from a non-gateway = %v", err)
	}
}
