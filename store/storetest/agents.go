package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/store"
)

// Contract tests for store.Agents: the registry of A2A agents.

func agentRecord(name string, skills, tags []string, text string, at time.Time) store.Agent {
	card, _ := json.Marshal(map[string]any{"name": name, "skills": skills})
	return store.Agent{
		Name:       name,
		SourceURL:  "https://agents.example/" + name + "/.well-known/agent-card.json",
		Card:       card,
		CardHash:   "sha256:" + name,
		SkillIDs:   skills,
		Tags:       tags,
		SearchText: text,
		Health:     store.AgentHealth{Status: store.AgentHealthy, CheckedAt: at},
		CreatedAt:  at,
		UpdatedAt:  at,
	}
}

func testAgentCRUD(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	in := agentRecord("Billing", []string{"refund", "invoice"}, []string{"money"}, "billing agent", t0)
	created, err := s.CreateAgent(ctx, in)
	if err != nil {
		t.Fatalf("CreateAgent: %v", err)
	}
	if created.Version != 1 || created.Name != "Billing" || !created.CreatedAt.Equal(t0) || !created.UpdatedAt.Equal(t0) ||
		created.Health.Status != store.AgentHealthy || !created.Health.CheckedAt.Equal(t0) || created.PendingCard != nil {
		t.Errorf("created = %+v", created)
	}
	// Names are unique ignoring case.
	if _, err := s.CreateAgent(ctx, agentRecord("BILLING", nil, nil, "", t0)); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateAgent of a name differing in case = %v, want ErrExists", err)
	}
	for _, name := range []string{"Billing", "billing", "bILLING"} {
		got, err := s.GetAgent(ctx, name)
		if err != nil {
			t.Fatalf("GetAgent(%q): %v", name, err)
		}
		if got.Name != "Billing" || string(got.Card) != string(in.Card) || got.CardHash != in.CardHash || got.SourceURL != in.SourceURL ||
			!slices.Equal(got.SkillIDs, in.SkillIDs) || !slices.Equal(got.Tags, in.Tags) || got.SearchText != in.SearchText {
			t.Errorf("GetAgent(%q) = %+v", name, got)
		}
	}
	if _, err := s.GetAgent(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAgent unknown = %v, want ErrNotFound", err)
	}

	// A registration by document: no source URL, never probed, no skills
	// (nil lists come back nil).
	doc := store.Agent{Name: "doc", Card: json.RawMessage(`{}`), CardHash: "h", CreatedAt: t0, UpdatedAt: t0}
	gotDoc, err := s.CreateAgent(ctx, doc)
	if err != nil {
		t.Fatal(err)
	}
	if gotDoc.Health.Status != store.AgentUnknown || !gotDoc.Health.CheckedAt.IsZero() || gotDoc.SkillIDs != nil || gotDoc.Tags != nil || !gotDoc.DriftAt.IsZero() {
		t.Errorf("document agent = %+v; want unknown health, zero times, nil lists", gotDoc)
	}

	// Drift: a pending card set, then cleared.
	upd := created
	upd.PendingCard = json.RawMessage(`{"name":"Billing","skills":["refund"]}`)
	upd.PendingHash = "sha256:pending"
	upd.DriftSummary = "skills: removed invoice"
	upd.DriftAt = t0.Add(time.Minute)
	upd.UpdatedAt = t0.Add(time.Minute)
	upd.Health = store.AgentHealth{Status: "ignored"} // UpdateAgent keeps health
	v2, err := s.UpdateAgent(ctx, upd, 1)
	if err != nil {
		t.Fatalf("UpdateAgent: %v", err)
	}
	if v2.Version != 2 || string(v2.PendingCard) != string(upd.PendingCard) || v2.PendingHash != "sha256:pending" ||
		v2.DriftSummary != upd.DriftSummary || !v2.DriftAt.Equal(upd.DriftAt) || !v2.UpdatedAt.Equal(upd.UpdatedAt) ||
		!v2.CreatedAt.Equal(t0) || v2.Health.Status != store.AgentHealthy {
		t.Errorf("after update = %+v", v2)
	}
	_, err = s.UpdateAgent(ctx, upd, 1)
	var vc *store.VersionConflictError
	if !errors.As(err, &vc) || vc.Current != 2 || vc.Expected != 1 || vc.Kind != store.KindAgent {
		t.Errorf("stale UpdateAgent = %v, want a version conflict at 2", err)
	}
	cleared := v2
	cleared.PendingCard, cleared.PendingHash, cleared.DriftSummary, cleared.DriftAt = nil, "", "", time.Time{}
	cleared.Name = "billing" // any case finds it
	v3, err := s.UpdateAgent(ctx, cleared, 2)
	if err != nil {
		t.Fatal(err)
	}
	if v3.Version != 3 || v3.PendingCard != nil || !v3.DriftAt.IsZero() || v3.Name != "Billing" {
		t.Errorf("after clearing drift = %+v", v3)
	}
	if _, err := s.UpdateAgent(ctx, agentRecord("nobody", nil, nil, "", t0), 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateAgent unknown = %v, want ErrNotFound", err)
	}

	if err := s.DeleteAgent(ctx, "BILLING", t0); err != nil {
		t.Fatalf("DeleteAgent: %v", err)
	}
	if _, err := s.GetAgent(ctx, "Billing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAgent after delete = %v, want ErrNotFound", err)
	}
	if err := s.DeleteAgent(ctx, "Billing", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteAgent = %v, want ErrNotFound", err)
	}
	// The name is free again.
	again, err := s.CreateAgent(ctx, agentRecord("billing", nil, nil, "", t0))
	if err != nil || again.Version != 1 {
		t.Errorf("re-create after delete = %+v, %v", again, err)
	}
}

func testAgentSearch(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	for _, a := range []store.Agent{
		agentRecord("alpha", []string{"refund", "a_c"}, []string{"billing", "money"}, "alpha agent handles refunds", t0),
		agentRecord("Bravo", []string{"lookup"}, []string{"billing"}, "bravo looks up orders 100%", t0),
		agentRecord("charlie", []string{"Refund-V2", "abc"}, []string{"Support"}, "Charlie triages tickets", t0),
		agentRecord("delta", nil, nil, "", t0),
	} {
		if _, err := s.CreateAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		f    store.AgentFilter
		want []string
		more bool
	}{
		{"all, by name ignoring case", store.AgentFilter{}, []string{"alpha", "Bravo", "charlie", "delta"}, false},
		{"skill exact", store.AgentFilter{SkillID: "refund"}, []string{"alpha"}, false},
		{"skill is not a prefix match", store.AgentFilter{SkillID: "refund-v"}, nil, false},
		{"skill underscore is literal", store.AgentFilter{SkillID: "a_c"}, []string{"alpha"}, false},
		{"skill percent is literal", store.AgentFilter{SkillID: "%"}, nil, false},
		{"skill ignores case", store.AgentFilter{SkillID: "REFUND"}, []string{"alpha"}, false},
		{"tag ignores case", store.AgentFilter{Tag: "BILLING"}, []string{"alpha", "Bravo"}, false},
		{"tag exact", store.AgentFilter{Tag: "bill"}, nil, false},
		{"text substring", store.AgentFilter{Text: "Refund"}, []string{"alpha"}, false},
		{"text every word", store.AgentFilter{Text: "agent  refunds"}, []string{"alpha"}, false},
		{"text words in any order", store.AgentFilter{Text: "tickets charlie"}, []string{"charlie"}, false},
		{"text no match", store.AgentFilter{Text: "alpha tickets"}, nil, false},
		{"text percent is literal", store.AgentFilter{Text: "100%"}, []string{"Bravo"}, false},
		{"text underscore is literal", store.AgentFilter{Text: "a_e"}, nil, false},
		{"filters combine", store.AgentFilter{Tag: "billing", Text: "orders"}, []string{"Bravo"}, false},
		{"page 1", store.AgentFilter{Limit: 2}, []string{"alpha", "Bravo"}, true},
		{"page 2", store.AgentFilter{Limit: 2, After: "BRAVO"}, []string{"charlie", "delta"}, false},
		{"stored mixed case, asked lower", store.AgentFilter{SkillID: "refund-v2", Tag: "support", Text: "charlie"}, []string{"charlie"}, false},
		{"page with filter", store.AgentFilter{Tag: "billing", Limit: 1}, []string{"alpha"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, more, err := s.ListAgents(ctx, tt.f)
			if err != nil {
				t.Fatalf("ListAgents: %v", err)
			}
			var names []string
			for _, a := range got {
				names = append(names, a.Name)
			}
			if !slices.Equal(names, tt.want) || more != tt.more {
				t.Errorf("ListAgents(%+v) = %v more=%v, want %v more=%v", tt.f, names, more, tt.want, tt.more)
			}
		})
	}
}

func testAgentHealth(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	doc := store.Agent{Name: "probe-me", Card: json.RawMessage(`{}`), CardHash: "h", CreatedAt: t0, UpdatedAt: t0}
	if _, err := s.CreateAgent(ctx, doc); err != nil {
		t.Fatal(err)
	}
	ch, err := s.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		h           store.AgentHealth
		wantVersion int64
	}{
		{store.AgentHealth{Status: store.AgentHealthy, CheckedAt: t0.Add(1 * time.Second)}, 2},
		// Confirming the status records the time but is no change.
		{store.AgentHealth{Status: store.AgentHealthy, CheckedAt: t0.Add(2 * time.Second)}, 2},
		{store.AgentHealth{Status: store.AgentUnreachable, Error: "connection refused", CheckedAt: t0.Add(3 * time.Second)}, 3},
		{store.AgentHealth{Status: store.AgentUnreachable, Error: "timeout", CheckedAt: t0.Add(4 * time.Second)}, 3},
		{store.AgentHealth{Status: store.AgentHealthy, CheckedAt: t0.Add(5 * time.Second)}, 4},
	}
	for i, st := range steps {
		got, err := s.SetAgentHealth(ctx, "PROBE-ME", st.h)
		if err != nil {
			t.Fatalf("step %d: SetAgentHealth: %v", i, err)
		}
		if got.Version != st.wantVersion || got.Health != st.h {
			t.Errorf("step %d: agent = version %d health %+v, want version %d health %+v", i, got.Version, got.Health, st.wantVersion, st.h)
		}
	}
	// Only the transitions are on the feed: versions 2, 3 and 4.
	for _, want := range []int64{2, 3, 4} {
		c := next(t, ch)
		if c.Kind != store.KindAgent || c.Key != "probe-me" || c.Version != want {
			t.Errorf("change = %+v, want agent probe-me version %d", c, want)
		}
	}
	if _, err := s.SetAgentHealth(ctx, "nobody", store.AgentHealth{Status: store.AgentHealthy, CheckedAt: t0}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetAgentHealth unknown = %v, want ErrNotFound", err)
	}
}

// Replicas probing the same agent at once report a transition once.
func testAgentHealthConcurrent(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	if _, err := s.CreateAgent(ctx, agentRecord("racy", nil, nil, "", t0)); err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		status := store.AgentUnreachable
		if round%2 == 1 {
			status = store.AgentHealthy
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for w := range 4 {
			wg.Go(func() {
				<-start
				h := store.AgentHealth{Status: status, Error: fmt.Sprint(w), CheckedAt: t0.Add(time.Duration(round) * time.Minute)}
				if _, err := s.SetAgentHealth(ctx, "racy", h); err != nil {
					t.Errorf("round %d: %v", round, err)
				}
			})
		}
		close(start)
		wg.Wait()
		got, err := s.GetAgent(ctx, "racy")
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(round + 2); got.Version != want || got.Health.Status != status {
			t.Fatalf("round %d: version %d status %s, want version %d status %s", round, got.Version, got.Health.Status, want, status)
		}
	}
}

func testAgentFeed(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	ch, err := s.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateAgent(ctx, agentRecord("Echo", []string{"echo"}, nil, "", t0))
	if err != nil {
		t.Fatal(err)
	}
	a.UpdatedAt = t0.Add(time.Second)
	if _, err := s.UpdateAgent(ctx, a, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateAgent(ctx, a, 1); err == nil {
		t.Fatal("stale update succeeded")
	}
	if err := s.DeleteAgent(ctx, "echo", t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	// Keys carry the name as registered, whatever case the caller used.
	for _, want := range []store.Change{
		{Kind: store.KindAgent, Key: "Echo", Version: 1, At: t0},
		{Kind: store.KindAgent, Key: "Echo", Version: 2, At: t0.Add(time.Second)},
		{Kind: store.KindAgent, Key: "Echo", Version: 3, At: t0.Add(2 * time.Second)},
	} {
		got := next(t, ch)
		if got.Kind != want.Kind || got.Key != want.Key || got.Version != want.Version || !got.At.Equal(want.At) {
			t.Errorf("change = %+v, want %+v", got, want)
		}
	}
}
