package agentcards_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	a2av1 "github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/parleyhq/parley/a2a/agentpool"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/store"
)

func names(agents []agentcards.Agent) []string {
	var out []string
	for _, a := range agents {
		out = append(out, a.Name)
	}
	return out
}

func TestRegisterByURLAndSearch(t *testing.T) {
	ctx := t.Context()
	reg, _, clk := newRegistry(t)
	billing := newPeer(t, "Billing", skill("refund", "Refund", "billing", "money"), skill("invoice", "Invoice lookup", "billing"))
	support := newPeer(t, "Support", skill("triage", "Triage tickets", "support"))
	shipping := newPeer(t, "Shipping", skill("track", "Track parcels", "logistics"))

	a, err := reg.Register(ctx, agentcards.Registration{URL: billing.URL()})
	if err != nil {
		t.Fatalf("Register by base URL: %v", err)
	}
	if a.Name != "Billing" || a.Version != 1 || a.SourceURL != billing.URL()+"/.well-known/agent-card.json" ||
		a.Card.Endpoint != billing.URL()+"/" || a.Card.ProtocolVersion != "0.3.0" || len(a.Card.Skills) != 2 ||
		a.Health.Status != agentcards.StatusHealthy || !a.Health.CheckedAt.Equal(clk.Now()) || a.Drift() {
		t.Errorf("registered = %+v", a)
	}
	// The card's own URL works too, and a name overrides the card's.
	if _, err := reg.Register(ctx, agentcards.Registration{URL: support.URL() + "/.well-known/agent-card.json", Name: "helpdesk"}); err != nil {
		t.Fatalf("Register by card URL: %v", err)
	}
	if _, err := reg.Register(ctx, agentcards.Registration{URL: shipping.URL()}); err != nil {
		t.Fatal(err)
	}
	// Names are unique, ignoring case.
	if _, err := reg.Register(ctx, agentcards.Registration{URL: shipping.URL(), Name: "BILLING"}); !errors.Is(err, agentcards.ErrExists) {
		t.Errorf("Register of a taken name = %v, want ErrExists", err)
	}

	tests := []struct {
		name string
		q    agentcards.Query
		want []string
	}{
		{"all", agentcards.Query{}, []string{"Billing", "helpdesk", "Shipping"}},
		{"by skill", agentcards.Query{Skill: "triage"}, []string{"helpdesk"}},
		{"by skill ignoring case", agentcards.Query{Skill: "REFUND"}, []string{"Billing"}},
		{"by tag", agentcards.Query{Tag: "billing"}, []string{"Billing"}},
		{"by tag ignoring case", agentcards.Query{Tag: "Logistics"}, []string{"Shipping"}},
		{"by text in a skill name", agentcards.Query{Text: "parcels"}, []string{"Shipping"}},
		{"by text in the description", agentcards.Query{Text: "test agent"}, []string{"Billing", "helpdesk", "Shipping"}},
		{"by text, every word", agentcards.Query{Text: "invoice refund"}, []string{"Billing"}},
		{"no match", agentcards.Query{Skill: "nothing"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := reg.List(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(names(got), tt.want) {
				t.Errorf("List(%+v) = %v, want %v", tt.q, names(got), tt.want)
			}
		})
	}
	all, err := reg.All(ctx, agentcards.Query{Limit: 1})
	if err != nil || len(all) != 3 {
		t.Errorf("All by pages of 1 = %v, %v", names(all), err)
	}
	got, err := reg.Get(ctx, "HELPDESK")
	if err != nil || got.Name != "helpdesk" || got.Card.Name != "Support" {
		t.Errorf("Get(HELPDESK) = %+v, %v", got, err)
	}
	if _, err := reg.Get(ctx, "nobody"); !errors.Is(err, agentcards.ErrNotFound) {
		t.Errorf("Get unknown = %v", err)
	}
}

// The registered card is good enough for the gateway's clients (the
// agent pool, a2a-go v2) to reach the agent.
func TestRegisteredCardReachesTheAgent(t *testing.T) {
	ctx := t.Context()
	reg, _, _ := newRegistry(t)
	p := newPeer(t, "Echo", skill("echo", "Echo"))
	if _, err := reg.Register(ctx, agentcards.Registration{URL: p.URL()}); err != nil {
		t.Fatal(err)
	}
	pool := agentpool.New(reg, agentpool.Options{Guard: reg.Guard()})
	defer pool.Close()
	client, _, err := pool.Client(ctx, "Echo")
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	res, err := client.SendMessage(ctx, &a2av1.SendMessageRequest{Message: a2av1.NewMessage(a2av1.MessageRoleUser, a2av1.NewTextPart("hello"))})
	if err != nil {
		t.Fatalf("message/send: %v", err)
	}
	msg, ok := res.(*a2av1.Message)
	if !ok || len(msg.Parts) != 1 || msg.Parts[0].Text() != "Echo echoes: hello" {
		t.Errorf("reply = %#v", res)
	}
}

func TestRegisterByDocument(t *testing.T) {
	ctx := t.Context()
	reg, _, _ := newRegistry(t)
	p := newPeer(t, "Doc", skill("doc", "Doc"))
	// An A2A 1.0 card pointing at the live peer.
	doc := `{"name":"Doc 1.0","version":"1","capabilities":{},"skills":[{"id":"doc","name":"Documents","tags":["files"]}],
		"supportedInterfaces":[{"url":"` + p.URL() + `/","protocolBinding":"JSONRPC","protocolVersion":"1.0"}]}`
	a, err := reg.Register(ctx, agentcards.Registration{Card: json.RawMessage(doc), Name: "docs"})
	if err != nil {
		t.Fatalf("Register by document: %v", err)
	}
	if a.SourceURL != "" || a.Health.Status != agentcards.StatusUnknown || a.Card.Endpoint != p.URL()+"/" || !a.Card.A2A10 {
		t.Errorf("registered = %+v", a)
	}
	if p.CardRequests.Load() != 0 {
		t.Errorf("registering by document fetched the card")
	}
	// There is no URL to re-fetch; the probe checks the endpoint instead.
	if _, err := reg.Refetch(ctx, "docs"); !errors.Is(err, agentcards.ErrNoSourceURL) {
		t.Errorf("Refetch = %v, want ErrNoSourceURL", err)
	}
	a, err = reg.Probe(ctx, "docs")
	if err != nil || a.Health.Status != agentcards.StatusHealthy {
		t.Errorf("Probe = %+v, %v; want healthy", a.Health, err)
	}
	p.Stop()
	a, err = reg.Probe(ctx, "docs")
	if err != nil || a.Health.Status != agentcards.StatusUnreachable || a.Health.Error == "" {
		t.Errorf("Probe of a stopped agent = %+v, %v; want unreachable", a.Health, err)
	}

	// The card's name is the default name, and must be usable as one.
	bad := strings.Replace(doc, `"Doc 1.0"`, `"Docs/Files"`, 1)
	if _, err := reg.Register(ctx, agentcards.Registration{Card: json.RawMessage(bad)}); !errors.Is(err, agentcards.ErrInvalid) {
		t.Errorf("Register with a card name unfit as a name = %v, want ErrInvalid", err)
	}
	if _, err := reg.Register(ctx, agentcards.Registration{Card: json.RawMessage(bad), Name: "files"}); err != nil {
		t.Errorf("the same with a name: %v", err)
	}
}

func TestRegisterErrors(t *testing.T) {
	ctx := t.Context()
	reg, _, _ := newRegistry(t, func(o *agentcards.Options) { o.FetchTimeout = 200 * time.Millisecond; o.MaxCardBytes = 4096 })
	p := newPeer(t, "Echo", skill("echo", "Echo"))
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"name":"` + strings.Repeat("x", 5000) + `"}`))
	}))
	defer huge.Close()
	invalid := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"name":"NoSkills","version":"1","url":"http://127.0.0.1:1/","protocolVersion":"0.3.0","capabilities":{},"skills":[]}`))
	}))
	defer invalid.Close()
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()

	tests := []struct {
		name     string
		reg      agentcards.Registration
		want     error
		wantText string
	}{
		{"neither", agentcards.Registration{}, agentcards.ErrInvalid, "either url"},
		{"both", agentcards.Registration{URL: p.URL(), Card: json.RawMessage(`{}`)}, agentcards.ErrInvalid, "not both"},
		{"bad name", agentcards.Registration{URL: p.URL(), Name: "a/b"}, agentcards.ErrInvalid, "name"},
		{"bad url", agentcards.Registration{URL: "ftp://x"}, agentcards.ErrInvalid, "http or https"},
		{"no card there", agentcards.Registration{URL: notFound.URL + "/agents/x"}, agentcards.ErrFetch, "HTTP 404 Not Found"},
		{"a JSON-RPC server, not a card", agentcards.Registration{URL: p.URL() + "/agents/x"}, agentcards.ErrFetch, "JSON-RPC error"},
		{"nobody listening", agentcards.Registration{URL: deadURL}, agentcards.ErrFetch, "connection refused"},
		{"too slow", agentcards.Registration{URL: hang.URL}, agentcards.ErrFetch, "no answer within 200ms"},
		{"too large", agentcards.Registration{URL: huge.URL}, agentcards.ErrFetch, "larger than 4096 bytes"},
		{"invalid card served", agentcards.Registration{URL: invalid.URL}, agentcards.ErrInvalidCard, "skills"},
		{"invalid document", agentcards.Registration{Card: json.RawMessage(`{"name":"x"}`)}, agentcards.ErrInvalidCard, "version"},
		{"document too large", agentcards.Registration{Card: json.RawMessage(`{"name":"` + strings.Repeat("x", 5000) + `"}`)}, agentcards.ErrInvalidCard, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := reg.Register(ctx, tt.reg)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Register = %v, want %v mentioning %q", err, tt.want, tt.wantText)
			}
		})
	}
	if all, _, _ := reg.List(ctx, agentcards.Query{}); len(all) != 0 {
		t.Errorf("failed registrations left agents: %v", names(all))
	}
}

// With the guard on (the default), loopback peers and cards pointing at
// internal addresses are refused before anything is fetched.
func TestRegisterRefusesPrivateAddresses(t *testing.T) {
	ctx := t.Context()
	reg, _, _ := newRegistry(t, func(o *agentcards.Options) { o.AllowPrivate = false; o.Resolver = testResolver })
	p := newPeer(t, "Echo", skill("echo", "Echo"))

	for _, url := range []string{
		p.URL(),
		"http://10.0.0.7:8080",
		"http://192.168.0.2/",
		"http://169.254.169.254/",
		"http://[::1]:9999/",
		"http://[fd00::1]/",
		"http://localhost:9999/",
		"http://internal.example/",
	} {
		t.Run(url, func(t *testing.T) {
			_, err := reg.Register(ctx, agentcards.Registration{URL: url})
			if !errors.Is(err, agentcards.ErrBlockedAddress) {
				t.Errorf("Register(%s) = %v, want ErrBlockedAddress", url, err)
			}
		})
	}
	if n := p.CardRequests.Load(); n != 0 {
		t.Errorf("the loopback peer was fetched %d times", n)
	}
	// A document whose endpoint is the metadata service.
	doc := mustJSON(t, card03("Sneaky", "http://169.254.169.254/latest/", skill("x", "X")))
	_, err := reg.Register(ctx, agentcards.Registration{Card: doc})
	var be *agentcards.BlockedError
	if !errors.As(err, &be) || be.Reason != "cloud metadata" {
		t.Errorf("Register of a card pointing at the metadata service = %v", err)
	}
	// A document on a public host is fine, and so is one whose host does
	// not resolve now (its connections are checked when made).
	for _, url := range []string{"https://public.example/a2a", "https://not-yet.example/a2a"} {
		if _, err := reg.Register(ctx, agentcards.Registration{Card: mustJSON(t, card03("ok-"+url, url, skill("x", "X"))), Name: strings.Split(url, "/")[2]}); err != nil {
			t.Errorf("Register of a card at %s = %v", url, err)
		}
	}
}

func TestRegisterAllowsLoopbackWithAllowPrivate(t *testing.T) {
	reg, _, _ := newRegistry(t) // AllowPrivate: true
	p := newPeer(t, "Echo", skill("echo", "Echo"))
	for _, base := range []string{p.URL(), strings.Replace(p.URL(), "127.0.0.1", "localhost", 1)} {
		if _, err := reg.Register(t.Context(), agentcards.Registration{URL: base, Name: strings.Split(base, "//")[1][:4]}); err != nil {
			t.Errorf("Register(%s) with AllowPrivate = %v", base, err)
		}
	}
}

func TestDriftFlaggedAndApproved(t *testing.T) {
	ctx := t.Context()
	reg, st, clk := newRegistry(t)
	p := newPeer(t, "Billing", skill("refund", "Refund", "billing"))
	a, err := reg.Register(ctx, agentcards.Registration{URL: p.URL()})
	if err != nil {
		t.Fatal(err)
	}
	adopted := a.Card.Hash

	// Nothing changed.
	res, err := reg.Refetch(ctx, "Billing")
	if err != nil || res.Outcome != agentcards.OutcomeUnchanged || res.Agent.Version != 1 {
		t.Fatalf("Refetch of the same card = %+v, %v", res, err)
	}

	// A cosmetic change is adopted.
	c := card03("Billing", p.URL()+"/", skill("refund", "Refund", "billing"))
	c.Description = "Now with better words"
	p.Serve(c)
	res, err = reg.Refetch(ctx, "Billing")
	if err != nil || res.Outcome != agentcards.OutcomeUpdated || res.Agent.Card.Description != "Now with better words" || res.Agent.Drift() {
		t.Fatalf("Refetch after a cosmetic change = %+v, %v", res, err)
	}
	adopted = res.Agent.Card.Hash

	// A new skill is flagged, not adopted.
	ch, err := st.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	c = card03("Billing", p.URL()+"/", skill("refund", "Refund", "billing"), skill("wire", "Wire money", "billing"))
	c.Description = "Now with better words"
	p.Serve(c)
	res, err = reg.Refetch(ctx, "Billing")
	if err != nil || res.Outcome != agentcards.OutcomeDrift {
		t.Fatalf("Refetch after a skill was added = %+v, %v", res, err)
	}
	got, _ := reg.Get(ctx, "Billing")
	if !got.Drift() || got.Card.Hash != adopted || !strings.Contains(got.Pending.Summary, "skills: added wire") ||
		!got.Pending.DetectedAt.Equal(clk.Now()) || len(got.Pending.Card.Skills) != 2 {
		t.Errorf("after drift = %+v (pending %+v)", got, got.Pending)
	}
	if c := nextAgentChange(t, ch, "Billing"); c.Version != got.Version {
		t.Errorf("drift change version %d, agent version %d", c.Version, got.Version)
	}
	// The pending card's skills are not searchable until approved.
	if found, _, _ := reg.List(ctx, agentcards.Query{Skill: "wire"}); len(found) != 0 {
		t.Errorf("search found the pending skill: %v", names(found))
	}
	// Fetching the same drift again changes nothing.
	res, err = reg.Refetch(ctx, "Billing")
	if err != nil || res.Outcome != agentcards.OutcomeDrift || res.Agent.Version != got.Version {
		t.Errorf("second Refetch of the drift = %+v, %v", res, err)
	}

	// Approval: a stale hash is refused, the right one adopts.
	if _, err := reg.Approve(ctx, "Billing", "sha256:0000"); !errors.Is(err, agentcards.ErrStalePending) {
		t.Errorf("Approve with a stale hash = %v", err)
	}
	approved, err := reg.Approve(ctx, "billing", got.Pending.Card.Hash)
	if err != nil || approved.Drift() || approved.Card.Hash != got.Pending.Card.Hash {
		t.Fatalf("Approve = %+v, %v", approved, err)
	}
	if found, _, _ := reg.List(ctx, agentcards.Query{Skill: "wire"}); !slices.Equal(names(found), []string{"Billing"}) {
		t.Errorf("after approval search by the new skill = %v", names(found))
	}
	if _, err := reg.Approve(ctx, "Billing", ""); !errors.Is(err, agentcards.ErrNoDrift) {
		t.Errorf("Approve with nothing pending = %v", err)
	}

	// Drift that goes away by itself is cleared.
	moved := card03("Billing", "http://127.0.0.1:1/moved", skill("refund", "Refund", "billing"), skill("wire", "Wire money", "billing"))
	p.Serve(moved)
	if res, err := reg.Refetch(ctx, "Billing"); err != nil || res.Outcome != agentcards.OutcomeDrift || !strings.Contains(res.Summary, "endpoints:") {
		t.Fatalf("Refetch after the endpoint moved = %+v, %v", res, err)
	}
	p.Serve(c)
	res, err = reg.Refetch(ctx, "Billing")
	if err != nil || res.Outcome != agentcards.OutcomeDriftCleared || res.Agent.Drift() {
		t.Errorf("Refetch after the agent went back = %+v, %v", res, err)
	}
}

func TestReplaceAndRemove(t *testing.T) {
	ctx := t.Context()
	reg, _, _ := newRegistry(t)
	p := newPeer(t, "Billing", skill("refund", "Refund"))
	if _, err := reg.Register(ctx, agentcards.Registration{URL: p.URL()}); err != nil {
		t.Fatal(err)
	}
	// Make it drift, then replace the card by hand: the drift goes.
	p.Serve(card03("Billing", p.URL()+"/", skill("refund", "Refund"), skill("wire", "Wire")))
	if res, err := reg.Refetch(ctx, "Billing"); err != nil || res.Outcome != agentcards.OutcomeDrift {
		t.Fatal(res, err)
	}
	doc := mustJSON(t, card03("Billing", p.URL()+"/", skill("audit", "Audit")))
	a, err := reg.Replace(ctx, "Billing", agentcards.Registration{Card: doc})
	if err != nil || a.Drift() || !slices.Equal(a.Card.SkillIDs(), []string{"audit"}) || a.SourceURL == "" {
		t.Fatalf("Replace with a card = %+v, %v", a, err)
	}
	// Replace from the URL adopts the served card.
	a, err = reg.Replace(ctx, "Billing", agentcards.Registration{URL: p.URL()})
	if err != nil || !slices.Equal(a.Card.SkillIDs(), []string{"refund", "wire"}) {
		t.Fatalf("Replace from the URL = %+v, %v", a, err)
	}
	if _, err := reg.Replace(ctx, "Billing", agentcards.Registration{Card: doc, Name: "other"}); !errors.Is(err, agentcards.ErrInvalid) {
		t.Errorf("Replace with a rename = %v", err)
	}
	if _, err := reg.Replace(ctx, "nobody", agentcards.Registration{Card: doc}); !errors.Is(err, agentcards.ErrNotFound) {
		t.Errorf("Replace unknown = %v", err)
	}
	if _, err := reg.Replace(ctx, "Billing", agentcards.Registration{Card: json.RawMessage(`{"name":1}`)}); !errors.Is(err, agentcards.ErrInvalidCard) {
		t.Errorf("Replace with an invalid card = %v", err)
	}
	if err := reg.Remove(ctx, "BILLING"); err != nil {
		t.Fatal(err)
	}
	if err := reg.Remove(ctx, "Billing"); !errors.Is(err, agentcards.ErrNotFound) {
		t.Errorf("second Remove = %v", err)
	}
}

// nextAgentChange waits for the next change of the named agent on the feed.
func nextAgentChange(t *testing.T, ch <-chan store.Change, name string) store.Change {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case c, ok := <-ch:
			if !ok {
				t.Fatal("feed closed")
			}
			if c.Kind == store.KindAgent && c.Key == name {
				return c
			}
		case <-timeout:
			t.Fatalf("no change of agent %s arrived", name)
		}
	}
}

func TestHealthGoesUnreachableWhenTheAgentStops(t *testing.T) {
	ctx := t.Context()
	reg, st, _ := newRegistry(t)
	p := newPeer(t, "Echo", skill("echo", "Echo"))
	if _, err := reg.Register(ctx, agentcards.Registration{URL: p.URL()}); err != nil {
		t.Fatal(err)
	}
	ch, err := st.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.ProbeAll(ctx); err != nil {
		t.Fatal(err)
	}
	a, _ := reg.Get(ctx, "Echo")
	if a.Health.Status != agentcards.StatusHealthy || a.Version != 1 {
		t.Errorf("after a good probe = %+v version %d; want healthy, no new version", a.Health, a.Version)
	}
	p.Stop()
	if err := reg.ProbeAll(ctx); err != nil {
		t.Fatal(err)
	}
	a, _ = reg.Get(ctx, "Echo")
	if a.Health.Status != agentcards.StatusUnreachable || !strings.Contains(a.Health.Error, "connection refused") {
		t.Errorf("after the agent stopped = %+v", a.Health)
	}
	// The transition is on the feed, for the MCP side's tools/list_changed.
	if c := nextAgentChange(t, ch, "Echo"); c.Version != a.Version {
		t.Errorf("change %+v, agent version %d", c, a.Version)
	}
	// A manual re-fetch reports the failure and records it too.
	if _, err := reg.Refetch(ctx, "Echo"); !errors.Is(err, agentcards.ErrFetch) {
		t.Errorf("Refetch of a stopped agent = %v, want ErrFetch", err)
	}
}

// Run probes on its ticker, with the clock injected: no sleeping.
func TestRunProbesOnEachTick(t *testing.T) {
	ctx := t.Context()
	ticks := make(chan time.Time)
	reg, st, clk := newRegistry(t, func(o *agentcards.Options) {
		o.HealthInterval = time.Minute
		o.NewTicker = func(d time.Duration) (<-chan time.Time, func()) {
			if d != time.Minute {
				t.Errorf("ticker interval %v, want 1m", d)
			}
			return ticks, func() {}
		}
	})
	live := newPeer(t, "Live", skill("a", "A"))
	doomed := newPeer(t, "Doomed", skill("b", "B"))
	drifting := newPeer(t, "Drifting", skill("c", "C"))
	for _, p := range []*peer{live, doomed, drifting} {
		if _, err := reg.Register(ctx, agentcards.Registration{URL: p.URL()}); err != nil {
			t.Fatal(err)
		}
	}
	ch, err := st.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Round 1 runs as Run starts: with the clock a minute on, every agent
	// is due.
	doomed.Stop()
	drifting.Serve(card03("Drifting", drifting.URL()+"/", skill("c", "C"), skill("d", "D")))
	clk.Advance(time.Minute)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- reg.Run(runCtx) }()

	seen := map[string]bool{}
	for len(seen) < 2 {
		seen[nextAgentChangeOf(t, ch).Key] = true
	}
	if !seen["Doomed"] || !seen["Drifting"] {
		t.Errorf("changes for %v, want Doomed and Drifting", seen)
	}
	// Run takes a tick only between rounds: once this send returns, round
	// 1 is over (and round 2 started, finding nothing due unless it reads
	// the clock after the advance below; either round then probes Live).
	ticks <- clk.Now()
	live.Stop()
	clk.Advance(time.Minute)
	ticks <- clk.Now()
	if c := nextAgentChangeOf(t, ch); c.Key != "Live" {
		t.Errorf("change of %s, want Live", c.Key)
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	for name, want := range map[string]string{"Live": agentcards.StatusUnreachable, "Doomed": agentcards.StatusUnreachable, "Drifting": agentcards.StatusHealthy} {
		a, _ := reg.Get(ctx, name)
		if a.Health.Status != want {
			t.Errorf("%s health = %+v, want %s", name, a.Health, want)
		}
	}
	if a, _ := reg.Get(ctx, "Drifting"); !a.Drift() {
		t.Errorf("the prober did not flag Drifting's new card")
	}
}

func nextAgentChangeOf(t *testing.T, ch <-chan store.Change) store.Change {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case c := <-ch:
			if c.Kind == store.KindAgent {
				return c
			}
		case <-timeout:
			t.Fatal("no agent change arrived")
		}
	}
}

func TestRunDisabled(t *testing.T) {
	reg, _, _ := newRegistry(t, func(o *agentcards.Options) { o.HealthInterval = -1 })
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := reg.Run(ctx); err != nil {
		t.Errorf("Run = %v", err)
	}
}

// A probe cut short by the caller's shutdown says nothing about the agent:
// it stays healthy.
func TestShutdownMidProbeKeepsHealth(t *testing.T) {
	ctx := t.Context()
	ticks := make(chan time.Time)
	reg, _, clk := newRegistry(t, func(o *agentcards.Options) {
		o.HealthInterval = time.Minute
		o.NewTicker = func(time.Duration) (<-chan time.Time, func()) { return ticks, func() {} }
	})
	card := mustJSON(t, card03("Slow", "http://127.0.0.1:1/", skill("s", "S")))
	var hang atomic.Bool
	entered := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hang.Load() {
			entered <- struct{}{}
			<-r.Context().Done()
			return
		}
		w.Write(card)
	}))
	defer srv.Close()
	if _, err := reg.Register(ctx, agentcards.Registration{URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	hang.Store(true)
	clk.Advance(time.Minute) // due: Run's first round probes it
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- reg.Run(runCtx) }()
	<-entered // the probe is waiting on the agent
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	a, err := reg.Get(ctx, "Slow")
	if err != nil || a.Health.Status != agentcards.StatusHealthy || a.Health.Error != "" {
		t.Errorf("after a shutdown mid-probe health = %+v, %v; want still healthy", a.Health, err)
	}
}
