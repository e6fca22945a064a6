// Package storetest is the contract every store.Store implementation must
// meet. Each backend's tests call Run with a way to make a fresh, empty
// database and open instances on it.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/store"
)

// NewDB makes a fresh, empty database for one test and returns a function
// that opens an instance on it, as opts asks. Opening twice gives two
// instances sharing the data, as two gateway replicas would. Instances are
// closed by cleanup and not run: a test that needs an instance's background
// work runs it.
type NewDB func(t testing.TB, opts Options) (open func(t testing.TB) store.Store)

// Options are what a test asks of the instances it opens.
type Options struct {
	// Now, if set, is the store's own clock: what feed retention counts
	// from (sqlstore.Options.Now). Nil means the backend's default.
	Now func() time.Time
}

// t0 is the time tests stamp records with. It is plain data: no store
// behaviour depends on how it relates to the date the tests run on.
var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

// clock is a store clock that a test moves by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock(now time.Time) *clock { return &clock{now: now} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// feedSweeper is how a test sweeps the feed at once instead of waiting for
// Run's hourly sweep. Both SQL backends have it.
type feedSweeper interface {
	SweepFeed(ctx context.Context) (int64, error)
}

// run runs s's background work until the test ends, and checks that Run
// returned cleanly. Cleanups run last-in first-out, so this stops before
// the instance is closed.
func run(t testing.TB, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// Run runs the contract suite.
func Run(t *testing.T, newDB NewDB) {
	tests := []struct {
		name string
		f    func(t *testing.T, newDB NewDB)
	}{
		{"TicketCRUD", testTicketCRUD},
		{"TicketVersions", testTicketVersions},
		{"ConcurrentVersionedWrites", testConcurrentVersionedWrites},
		{"ListTickets", testListTickets},
		{"Analyses", testAnalyses},
		{"TaskQueue", testTaskQueue},
		{"LeaseExpiry", testLeaseExpiry},
		{"ConcurrentClaims", testConcurrentClaims},
		{"Feed", testFeed},
		{"FeedResumeAndSweep", testFeedResumeAndSweep},
		{"FeedRetentionCountsFromCommit", testFeedRetentionCountsFromCommit},
		{"FeedAcrossInstances", testFeedAcrossInstances},
		{"FeedSlowSubscriber", testFeedSlowSubscriber},
		{"RunAndClose", testRunAndClose},
		{"EventsAppendAfter", testEventsAppendAfter},
		{"EventsUnknownStream", testEventsUnknownStream},
		{"EventsConcurrentAppends", testEventsConcurrentAppends},
		{"EventsCap", testEventsCap},
		{"EventsSweep", testEventsSweep},
		{"EventsCloseSession", testEventsCloseSession},
		{"EventsNotOnFeed", testEventsNotOnFeed},
		{"EventsWriteBatch", testEventsWriteBatch},
		{"A2ATaskUpsert", testA2ATaskUpsert},
		{"A2ATaskConcurrentSaveGet", testA2ATaskConcurrentSaveGet},
		{"ListA2ATasks", testListA2ATasks},
		{"A2ATaskSurvivesReopen", testA2ATaskSurvivesReopen},
		{"A2ATaskEventSweep", testA2ATaskEventSweep},
		{"A2APushConfigs", testA2APushConfigs},
		{"A2AWorkQueue", testA2AWorkQueue},
		{"A2AWorkConcurrentClaims", testA2AWorkConcurrentClaims},
		{"AgentCRUD", testAgentCRUD},
		{"AgentSearch", testAgentSearch},
		{"AgentHealth", testAgentHealth},
		{"AgentHealthConcurrent", testAgentHealthConcurrent},
		{"AgentFeed", testAgentFeed},
		{"AuditAppend", testAuditAppend},
		{"AuditList", testAuditList},
		{"AuditConcurrentAppends", testAuditConcurrentAppends},
		{"AuditBatch", testAuditBatch},
		{"AuditConcurrentLogs", testAuditConcurrentLogs},
		{"AuditNotOnFeed", testAuditNotOnFeed},
		{"AuditOutbox", testAuditOutbox},
		{"AuditOutboxConcurrentLogs", testAuditOutboxConcurrentLogs},
		{"RelayedTaskUpsert", testRelayedTaskUpsert},
		{"ListRelayedTasks", testListRelayedTasks},
		{"RelayedTaskConcurrentSaves", testRelayedTaskConcurrentSaves},
		{"NegotiationCRUD", testNegotiationCRUD},
		{"ListNegotiations", testListNegotiations},
		{"NegotiationClaim", testNegotiationClaim},
		{"NegotiationUpdate", testNegotiationUpdate},
		{"NegotiationUpdateSequence", testNegotiationUpdateSequence},
		{"NegotiationLeaseRenewRelease", testNegotiationLeaseRenewRelease},
		{"NegotiationFeed", testNegotiationFeed},
		{"NegotiationTriggerRace", testNegotiationTriggerRace},
		{"NegotiationConcurrentClaims", testNegotiationConcurrentClaims},
		{"UpstreamCRUD", testUpstreamCRUD},
		{"UpstreamTools", testUpstreamTools},
		{"UpstreamToolFirstSightRace", testUpstreamToolFirstSightRace},
		{"UpstreamFeed", testUpstreamFeed},
		{"MCPSessionCRUD", testMCPSessionCRUD},
		{"MCPSessionSweep", testMCPSessionSweep},
		{"MCPSessionStreamsGoWithIt", testMCPSessionStreamsGoWithIt},
		{"MCPSessionDeleteFeed", testMCPSessionDeleteFeed},
		{"MCPSessionLevelFeed", testMCPSessionLevelFeed},
		{"MCPSessionSubscriptions", testMCPSessionSubscriptions},
		{"MCPReplicas", testMCPReplicas},
		{"MCPSessionResponses", testMCPSessionResponses},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.f(t, newDB) })
	}
}

func openOne(t testing.TB, newDB NewDB) store.Store {
	return newDB(t, Options{})(t)
}

func ticket(id, status, category string, at time.Time) store.Ticket {
	data, _ := json.Marshal(map[string]any{"id": id, "status": status, "category": category})
	return store.Ticket{ID: id, Status: status, Category: category, Data: data, CreatedAt: at, UpdatedAt: at}
}

func hist(actor, action string) store.HistoryEntry {
	return store.HistoryEntry{Actor: actor, Action: action, Detail: json.RawMessage(`{"field":"status"}`)}
}

func testTicketCRUD(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	created, err := s.CreateTicket(ctx, ticket("T-1", "new", "billing", t0), hist("triage", "create"))
	if err != nil {
		t.Fatalf("CreateTicket: %v", err)
	}
	if created.Version != 1 {
		t.Errorf("created version = %d, want 1", created.Version)
	}
	if _, err := s.CreateTicket(ctx, ticket("T-1", "new", "", t0), hist("x", "create")); !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate CreateTicket error = %v, want ErrExists", err)
	}
	got, err := s.GetTicket(ctx, "T-1")
	if err != nil {
		t.Fatalf("GetTicket: %v", err)
	}
	if got.Status != "new" || got.Category != "billing" || got.Version != 1 || !got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t0) {
		t.Errorf("GetTicket = %+v", got)
	}
	var data map[string]any
	if err := json.Unmarshal(got.Data, &data); err != nil || data["id"] != "T-1" {
		t.Errorf("GetTicket data = %s (%v)", got.Data, err)
	}
	if _, err := s.GetTicket(ctx, "T-404"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetTicket unknown: %v, want ErrNotFound", err)
	}
	if _, err := s.TicketHistory(ctx, "T-404"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TicketHistory unknown: %v, want ErrNotFound", err)
	}
	if _, err := s.UpdateTicket(ctx, ticket("T-404", "new", "", t0), 1, hist("x", "update")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateTicket unknown: %v, want ErrNotFound", err)
	}
	counts, err := s.CountTickets(ctx)
	if err != nil || counts["new"] != 1 || len(counts) != 1 {
		t.Errorf("CountTickets = %v, %v; want map[new:1]", counts, err)
	}
}

func testTicketVersions(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	if _, err := s.CreateTicket(ctx, ticket("T-1", "new", "billing", t0), hist("triage", "create")); err != nil {
		t.Fatal(err)
	}
	upd := ticket("T-1", "triaged", "billing", t0.Add(time.Minute))
	v2, err := s.UpdateTicket(ctx, upd, 1, hist("triage", "triage"))
	if err != nil {
		t.Fatalf("UpdateTicket: %v", err)
	}
	if v2.Version != 2 || v2.Status != "triaged" || !v2.CreatedAt.Equal(t0) || !v2.UpdatedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("updated = %+v", v2)
	}
	_, err = s.UpdateTicket(ctx, ticket("T-1", "escalated", "billing", t0), 1, hist("billing", "escalate"))
	var vc *store.VersionConflictError
	if !errors.As(err, &vc) || !errors.Is(err, store.ErrVersionConflict) {
		t.Fatalf("stale UpdateTicket error = %v, want *VersionConflictError", err)
	}
	if vc.Current != 2 || vc.Expected != 1 || vc.Key != "T-1" {
		t.Errorf("conflict = %+v, want expected 1 current 2", vc)
	}
	got, _ := s.GetTicket(ctx, "T-1")
	if got.Status != "triaged" || got.Version != 2 {
		t.Errorf("after stale write ticket = %+v, want unchanged at version 2", got)
	}
	h, err := s.TicketHistory(ctx, "T-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].Version != 1 || h[0].Action != "create" || h[1].Version != 2 || h[1].Actor != "triage" ||
		!h[1].At.Equal(t0.Add(time.Minute)) || string(h[1].Detail) != `{"field":"status"}` {
		t.Errorf("history = %+v", h)
	}
}

func testConcurrentVersionedWrites(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	if _, err := s.CreateTicket(ctx, ticket("T-1", "new", "", t0), hist("a", "create")); err != nil {
		t.Fatal(err)
	}
	for round := int64(1); round <= 10; round++ {
		var wins, conflicts atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for w := range 2 {
			wg.Go(func() {
				<-start
				_, err := s.UpdateTicket(ctx, ticket("T-1", fmt.Sprintf("w%d", w), "", t0), round, hist(fmt.Sprint(w), "update"))
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, store.ErrVersionConflict):
					conflicts.Add(1)
				default:
					t.Errorf("round %d: unexpected error %v", round, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 || conflicts.Load() != 1 {
			t.Fatalf("round %d: %d wins, %d conflicts; want exactly one of each", round, wins.Load(), conflicts.Load())
		}
	}
	got, _ := s.GetTicket(ctx, "T-1")
	if got.Version != 11 {
		t.Errorf("version after 10 rounds = %d, want 11", got.Version)
	}
}

func testListTickets(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	for i := range 7 {
		status, category := "new", "billing"
		if i%2 == 1 {
			status, category = "triaged", "technical"
		}
		if _, err := s.CreateTicket(ctx, ticket(fmt.Sprintf("T-%02d", i), status, category, t0), hist("a", "create")); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		f    store.TicketFilter
		want []string
		more bool
	}{
		{"all", store.TicketFilter{}, []string{"T-00", "T-01", "T-02", "T-03", "T-04", "T-05", "T-06"}, false},
		{"by status", store.TicketFilter{Statuses: []string{"triaged"}}, []string{"T-01", "T-03", "T-05"}, false},
		{"several statuses", store.TicketFilter{Statuses: []string{"triaged", "new"}, Limit: 2}, []string{"T-00", "T-01"}, true},
		{"by category", store.TicketFilter{Category: "billing"}, []string{"T-00", "T-02", "T-04", "T-06"}, false},
		{"both", store.TicketFilter{Statuses: []string{"new"}, Category: "technical"}, nil, false},
		{"first page", store.TicketFilter{Limit: 3}, []string{"T-00", "T-01", "T-02"}, true},
		{"next page", store.TicketFilter{Limit: 3, After: "T-02"}, []string{"T-03", "T-04", "T-05"}, true},
		{"last page", store.TicketFilter{Limit: 3, After: "T-05"}, []string{"T-06"}, false},
		{"exact page", store.TicketFilter{Limit: 7}, []string{"T-00", "T-01", "T-02", "T-03", "T-04", "T-05", "T-06"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, more, err := s.ListTickets(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, tk := range got {
				ids = append(ids, tk.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tt.want) || more != tt.more {
				t.Errorf("ListTickets(%+v) = %v more=%v; want %v more=%v", tt.f, ids, more, tt.want, tt.more)
			}
		})
	}
	counts, err := s.CountTickets(ctx)
	if err != nil || counts["new"] != 4 || counts["triaged"] != 3 {
		t.Errorf("CountTickets = %v, %v", counts, err)
	}
}

func testAnalyses(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	if _, err := s.PutAnalysis(ctx, store.Analysis{TicketID: "T-404", Namespace: "sentiment", Findings: json.RawMessage(`{}`), UpdatedAt: t0}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PutAnalysis for unknown ticket: %v, want ErrNotFound", err)
	}
	if _, err := s.ListAnalyses(ctx, "T-404"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ListAnalyses for unknown ticket: %v, want ErrNotFound", err)
	}
	if _, err := s.CreateTicket(ctx, ticket("T-1", "new", "", t0), hist("a", "create")); err != nil {
		t.Fatal(err)
	}
	empty, err := s.ListAnalyses(ctx, "T-1")
	if err != nil || len(empty) != 0 {
		t.Errorf("ListAnalyses before any = %v, %v; want empty", empty, err)
	}
	var wg sync.WaitGroup
	for _, ns := range []string{"sentiment", "category", "priority", "history"} {
		wg.Go(func() {
			_, err := s.PutAnalysis(ctx, store.Analysis{TicketID: "T-1", Namespace: ns, Author: ns + "-agent",
				Findings: json.RawMessage(`{"ns":"` + ns + `"}`), UpdatedAt: t0})
			if err != nil {
				t.Errorf("PutAnalysis %s: %v", ns, err)
			}
		})
	}
	wg.Wait()
	again, err := s.PutAnalysis(ctx, store.Analysis{TicketID: "T-1", Namespace: "sentiment", Author: "other",
		Findings: json.RawMessage(`{"score":-0.8}`), UpdatedAt: t0.Add(time.Second)})
	if err != nil || again.Version != 2 || again.Author != "other" {
		t.Errorf("PutAnalysis overwrite = %+v, %v; want version 2", again, err)
	}
	all, err := s.ListAnalyses(ctx, "T-1")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range all {
		names = append(names, a.Namespace)
	}
	if fmt.Sprint(names) != "[category history priority sentiment]" {
		t.Errorf("namespaces = %v", names)
	}
	if string(all[3].Findings) != `{"score":-0.8}` || !all[3].UpdatedAt.Equal(t0.Add(time.Second)) {
		t.Errorf("sentiment = %+v", all[3])
	}
}

func newTask(id, typ string, at time.Time) store.Task {
	return store.Task{ID: id, Type: typ, Payload: json.RawMessage(`{"ticket":"T-1"}`), CreatedAt: at}
}

func testTaskQueue(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	for i, typ := range []string{"billing", "triage", "billing"} {
		if _, err := s.CreateTask(ctx, newTask(fmt.Sprintf("task-%d", i), typ, t0.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateTask(ctx, newTask("task-0", "x", t0)); !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate CreateTask: %v, want ErrExists", err)
	}
	// Time only moves forward: each claim happens a second after the last
	// step, with a two-minute lease.
	clock := t0.Add(time.Minute)
	claim := func(types []string, who string) (store.Task, error) {
		clock = clock.Add(time.Second)
		return s.ClaimTask(ctx, store.Claim{Types: types, Claimant: who, LeaseToken: who + "-token", Now: clock, LeaseUntil: clock.Add(2 * time.Minute)})
	}
	if _, err := claim([]string{"escalation"}, "a"); !errors.Is(err, store.ErrNoTask) {
		t.Errorf("claim of a type with no task: %v, want ErrNoTask", err)
	}
	if _, err := claim(nil, "a"); err == nil {
		t.Errorf("claim with no types succeeded")
	}
	first, err := claim([]string{"billing"}, "a")
	if err != nil {
		t.Fatal(err)
	}
	if first.ID != "task-0" || first.Status != store.TaskClaimed || first.Claimant != "a" || first.Attempts != 1 || string(first.Payload) != `{"ticket":"T-1"}` {
		t.Errorf("first claim = %+v, want task-0 claimed by a", first)
	}
	second, err := claim([]string{"triage", "billing"}, "b")
	if err != nil || second.ID != "task-1" {
		t.Errorf("second claim = %v, %v; want task-1 (oldest of either type)", second.ID, err)
	}
	counts, err := s.CountOpenTasks(ctx)
	if err != nil || counts[store.TaskClaimed] != 2 || counts[store.TaskPending] != 1 {
		t.Errorf("CountOpenTasks = %v, %v", counts, err)
	}
	now := clock.Add(time.Second)
	clock = now
	if _, err := s.FinishTask(ctx, "task-0", "b-token", store.TaskDone, nil, "", now); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("finish with another's token: %v, want ErrLeaseLost", err)
	}
	if _, err := s.FinishTask(ctx, "task-404", "a-token", store.TaskDone, nil, "", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("finish unknown task: %v, want ErrNotFound", err)
	}
	done, err := s.FinishTask(ctx, "task-0", "a-token", store.TaskDone, json.RawMessage(`{"ok":true}`), "", now)
	if err != nil || done.Status != store.TaskDone || string(done.Result) != `{"ok":true}` {
		t.Errorf("finish = %+v, %v", done, err)
	}
	if _, err := s.FinishTask(ctx, "task-0", "a-token", store.TaskDone, nil, "", now); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("finish twice: %v, want ErrLeaseLost", err)
	}
	requeued, err := s.FinishTask(ctx, "task-1", "b-token", store.TaskPending, nil, "transient", now)
	if err != nil || requeued.Status != store.TaskPending || requeued.Claimant != "" || requeued.Error != "transient" {
		t.Errorf("requeue = %+v, %v", requeued, err)
	}
	again, err := claim([]string{"triage"}, "c")
	if err != nil || again.ID != "task-1" || again.Attempts != 2 {
		t.Errorf("claim after requeue = %+v, %v; want task-1 attempt 2", again, err)
	}
	failed, err := s.FinishTask(ctx, "task-1", "c-token", store.TaskFailed, nil, "bad payload", now)
	if err != nil || failed.Status != store.TaskFailed {
		t.Errorf("fail = %+v, %v", failed, err)
	}
	if _, err := claim([]string{"triage"}, "d"); !errors.Is(err, store.ErrNoTask) {
		t.Errorf("claim after failure: %v, want ErrNoTask (failed tasks stay failed)", err)
	}
	got, err := s.GetTask(ctx, "task-1")
	if err != nil || got.Status != store.TaskFailed || got.Error != "bad payload" {
		t.Errorf("GetTask = %+v, %v", got, err)
	}
	if _, err := s.GetTask(ctx, "task-404"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetTask unknown: %v", err)
	}
}

// testLeaseExpiry moves time through the Claim and FinishTask arguments:
// leases are decided by the times callers pass, so no test sleeps.
func testLeaseExpiry(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	if _, err := s.CreateTask(ctx, newTask("task-1", "billing", t0)); err != nil {
		t.Fatal(err)
	}
	claimAt := func(now time.Time, who string) (store.Task, error) {
		return s.ClaimTask(ctx, store.Claim{Types: []string{"billing"}, Claimant: who, LeaseToken: who + "-token", Now: now, LeaseUntil: now.Add(30 * time.Second)})
	}
	if _, err := claimAt(t0, "a"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		at      time.Duration
		who     string
		wantErr error
	}{
		{10 * time.Second, "b", store.ErrNoTask},
		{29 * time.Second, "b", store.ErrNoTask},
		{30 * time.Second, "b", nil}, // the lease ends at exactly t0+30s
	}
	for _, tt := range tests {
		got, err := claimAt(t0.Add(tt.at), tt.who)
		if !errors.Is(err, tt.wantErr) {
			t.Fatalf("claim at +%v: %v, want %v", tt.at, err, tt.wantErr)
		}
		if err == nil && (got.Claimant != "b" || got.Attempts != 2) {
			t.Errorf("reclaimed = %+v, want claimant b attempt 2", got)
		}
	}
	if _, err := s.FinishTask(ctx, "task-1", "a-token", store.TaskDone, nil, "", t0.Add(31*time.Second)); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("first claimant finishing after losing the lease: %v, want ErrLeaseLost", err)
	}
	if _, err := s.FinishTask(ctx, "task-1", "b-token", store.TaskDone, nil, "", t0.Add(61*time.Second)); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("finishing after own lease expired: %v, want ErrLeaseLost", err)
	}
	if _, err := s.FinishTask(ctx, "task-1", "b-token", store.TaskDone, nil, "", t0.Add(59*time.Second)); err != nil {
		t.Errorf("finishing within the lease: %v", err)
	}
}

func testConcurrentClaims(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	const tasks, workers = 1000, 8
	for i := range tasks {
		if _, err := s.CreateTask(ctx, newTask(fmt.Sprintf("task-%04d", i), "work", t0.Add(time.Duration(i)*time.Millisecond))); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	claimed := map[string]int{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			who := fmt.Sprintf("worker-%d", w)
			for n := 0; ; n++ {
				tok := fmt.Sprintf("%s-%d", who, n)
				task, err := s.ClaimTask(ctx, store.Claim{Types: []string{"work"}, Claimant: who, LeaseToken: tok, Now: t0.Add(time.Hour), LeaseUntil: t0.Add(2 * time.Hour)})
				if errors.Is(err, store.ErrNoTask) {
					return
				}
				if err != nil {
					t.Errorf("%s: claim: %v", who, err)
					return
				}
				mu.Lock()
				claimed[task.ID]++
				mu.Unlock()
				if _, err := s.FinishTask(ctx, task.ID, tok, store.TaskDone, nil, "", t0.Add(time.Hour)); err != nil {
					t.Errorf("%s: finish %s: %v", who, task.ID, err)
				}
			}
		})
	}
	wg.Wait()
	if len(claimed) != tasks {
		t.Errorf("%d distinct tasks claimed, want %d", len(claimed), tasks)
	}
	for id, n := range claimed {
		if n != 1 {
			t.Errorf("task %s claimed %d times", id, n)
		}
	}
	counts, err := s.CountOpenTasks(ctx)
	if err != nil || len(counts) != 0 {
		t.Errorf("open tasks after all done = %v, %v", counts, err)
	}
}

// next reads one change or fails after a generous deadline (a hang guard, not
// a speed target: latency is measured by the feed benchmark).
func next(t *testing.T, ch <-chan store.Change) store.Change {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("feed closed")
		}
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no change arrived")
	}
	return store.Change{}
}

func testFeed(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	// A change before subscribing is not delivered.
	if _, err := s.CreateTicket(ctx, ticket("T-0", "new", "", t0), hist("a", "create")); err != nil {
		t.Fatal(err)
	}
	subCtx, cancel := context.WithCancel(ctx)
	ch, err := s.Subscribe(subCtx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTicket(ctx, ticket("T-1", "new", "", t0), hist("a", "create")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateTicket(ctx, ticket("T-1", "triaged", "", t0), 1, hist("a", "triage")); err != nil {
		t.Fatal(err)
	}
	// A failed write emits nothing.
	if _, err := s.UpdateTicket(ctx, ticket("T-1", "x", "", t0), 1, hist("a", "stale")); err == nil {
		t.Fatal("stale write succeeded")
	}
	if _, err := s.PutAnalysis(ctx, store.Analysis{TicketID: "T-1", Namespace: "sentiment", Findings: json.RawMessage(`{}`), UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTask(ctx, newTask("task-1", "billing", t0)); err != nil {
		t.Fatal(err)
	}
	want := []store.Change{
		{Kind: store.KindTicket, Key: "T-1", Version: 1},
		{Kind: store.KindTicket, Key: "T-1", Version: 2},
		{Kind: store.KindAnalysis, Key: "T-1/sentiment", Version: 1},
		{Kind: store.KindTask, Key: "task-1", Version: 1},
	}
	var lastSeq int64
	for i, w := range want {
		got := next(t, ch)
		if got.Kind != w.Kind || got.Key != w.Key || got.Version != w.Version {
			t.Errorf("change %d = %+v, want %+v", i, got, w)
		}
		if got.Seq <= lastSeq {
			t.Errorf("change %d seq %d not after %d", i, got.Seq, lastSeq)
		}
		lastSeq = got.Seq
	}
	cancel()
	for range ch {
		// drain until the feed closes the channel
	}
}

func testFeedResumeAndSweep(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	// The store's clock starts anywhere; the tickets carry t0 whatever it says.
	clk := newClock(time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC))
	s := newDB(t, Options{Now: clk.Now})(t)
	var seqs []int64
	ch, err := s.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Committed an hour apart on the store's clock.
	for i := range 3 {
		if _, err := s.CreateTicket(ctx, ticket(fmt.Sprintf("T-%d", i), "new", "", t0), hist("a", "create")); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, next(t, ch).Seq)
		clk.Advance(time.Hour)
	}
	resumed, err := s.SubscribeAfter(ctx, seqs[0])
	if err != nil {
		t.Fatal(err)
	}
	if c := next(t, resumed); c.Seq != seqs[1] || c.Key != "T-1" {
		t.Errorf("resumed change = %+v, want T-1 at seq %d", c, seqs[1])
	}
	sweeper, ok := s.(feedSweeper)
	if !ok {
		t.Skip("store does not expose SweepFeed")
	}
	// Now T-0 was committed 24h30m ago, T-1 23h30m ago: with the default
	// 24h retention, only T-0 goes.
	clk.Advance(21*time.Hour + 30*time.Minute)
	if n, err := sweeper.SweepFeed(ctx); err != nil || n != 1 {
		t.Fatalf("SweepFeed = %d, %v; want 1", n, err)
	}
	clk.Advance(time.Hour) // and now T-1 goes too
	if n, err := sweeper.SweepFeed(ctx); err != nil || n != 1 {
		t.Fatalf("SweepFeed an hour later = %d, %v; want 1", n, err)
	}
	if _, err := s.SubscribeAfter(ctx, seqs[0]); !errors.Is(err, store.ErrEventsPurged) {
		t.Errorf("resume from a swept point: %v, want ErrEventsPurged", err)
	}
	fromKept, err := s.SubscribeAfter(ctx, seqs[1])
	if err != nil {
		t.Fatalf("resume from the purge point: %v", err)
	}
	if c := next(t, fromKept); c.Key != "T-2" {
		t.Errorf("after purge point = %+v, want T-2", c)
	}
}

// testFeedRetentionCountsFromCommit: the feed keeps a change for the
// retention after the store committed it, by the store's clock, whatever
// time the caller stamped it with. A change stamped years ago survives a
// sweep right after its commit, and reaches its subscribers.
func testFeedRetentionCountsFromCommit(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	clk := newClock(time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC))
	s := newDB(t, Options{Now: clk.Now})(t)
	sweeper, ok := s.(feedSweeper)
	if !ok {
		t.Skip("store does not expose SweepFeed")
	}
	ch, err := s.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stamps := []struct {
		name string
		at   time.Time
	}{
		{"years before the store's clock", clk.Now().AddDate(-5, 0, 0)},
		{"the Unix epoch", time.Unix(0, 0).UTC()},
		{"a day and a minute before", clk.Now().Add(-24*time.Hour - time.Minute)},
		{"years after", clk.Now().AddDate(3, 0, 0)},
	}
	for i, st := range stamps {
		if _, err := s.CreateTicket(ctx, ticket(fmt.Sprintf("T-%d", i), "new", "", st.at), hist("a", "create")); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
	}
	if n, err := sweeper.SweepFeed(ctx); err != nil || n != 0 {
		t.Fatalf("SweepFeed right after the commits = %d, %v; want 0 (retention counts from the commit)", n, err)
	}
	var first int64
	for i, st := range stamps {
		c := next(t, ch)
		if c.Key != fmt.Sprintf("T-%d", i) || !c.At.Equal(st.at) {
			t.Errorf("change %d (%s) = %s at %v; want T-%d at the caller's time %v", i, st.name, c.Key, c.At, i, st.at)
		}
		if i == 0 {
			first = c.Seq
		}
	}
	// Still all there: a late subscriber resuming from before them gets them.
	resumed, err := s.SubscribeAfter(ctx, first-1)
	if err != nil {
		t.Fatalf("SubscribeAfter before the first change: %v", err)
	}
	if c := next(t, resumed); c.Seq != first {
		t.Errorf("resumed at %+v, want seq %d", c, first)
	}

	// Within the retention by the store's clock: kept.
	clk.Advance(24*time.Hour - time.Minute)
	if n, err := sweeper.SweepFeed(ctx); err != nil || n != 0 {
		t.Fatalf("SweepFeed 23h59m after the commits = %d, %v; want 0", n, err)
	}
	// A change committed now, stamped years ago, stays when the others go.
	if _, err := s.CreateTicket(ctx, ticket("T-late", "new", "", clk.Now().AddDate(-10, 0, 0)), hist("a", "create")); err != nil {
		t.Fatal(err)
	}
	late := next(t, ch)
	clk.Advance(2 * time.Minute)
	if n, err := sweeper.SweepFeed(ctx); err != nil || n != int64(len(stamps)) {
		t.Fatalf("SweepFeed past the retention = %d, %v; want %d", n, err, len(stamps))
	}
	if _, err := s.SubscribeAfter(ctx, first-1); !errors.Is(err, store.ErrEventsPurged) {
		t.Errorf("SubscribeAfter before the swept changes: %v, want ErrEventsPurged", err)
	}
	kept, err := s.SubscribeAfter(ctx, late.Seq-1)
	if err != nil {
		t.Fatalf("SubscribeAfter the swept changes: %v", err)
	}
	if c := next(t, kept); c.Key != "T-late" {
		t.Errorf("after the sweep = %+v, want T-late", c)
	}
}

// testRunAndClose: Run does its work until ctx ends or Close; Close stops
// it and every subscription; Run after Close refuses.
func testRunAndClose(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := newDB(t, Options{})(t)
	// Run returns nil when its ctx ends, and may run again after.
	runCtx, stop := context.WithCancel(ctx)
	stop()
	if err := s.Run(runCtx); err != nil {
		t.Fatalf("Run with an ended ctx = %v, want nil", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	ch, err := s.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTicket(ctx, ticket("T-1", "new", "", t0), hist("a", "create")); err != nil {
		t.Fatal(err)
	}
	if c := next(t, ch); c.Key != "T-1" {
		t.Errorf("change = %+v, want T-1", c)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after Close returned %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not stop Run")
	}
	select {
	case c, ok := <-ch:
		if ok {
			t.Errorf("subscription delivered %+v after Close, want it closed", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the subscription")
	}
	if err := s.Run(ctx); err == nil {
		t.Error("Run after Close succeeded")
	}
}

func testFeedAcrossInstances(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	open := newDB(t, Options{})
	a, b := open(t), open(t)
	// b learns of a's commits from its background work (a poll, or the
	// backend's notifications).
	run(t, a)
	run(t, b)
	ch, err := b.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateTicket(ctx, ticket("T-1", "new", "", t0), hist("replica-a", "create")); err != nil {
		t.Fatal(err)
	}
	if c := next(t, ch); c.Kind != store.KindTicket || c.Key != "T-1" || c.Version != 1 {
		t.Errorf("other instance saw %+v", c)
	}
	got, err := b.GetTicket(ctx, "T-1")
	if err != nil || got.Version != 1 {
		t.Errorf("other instance reads %+v, %v", got, err)
	}
}

func testFeedSlowSubscriber(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	slow, err := s.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fast, err := s.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// More than one read batch, while the slow subscriber reads nothing.
	const n = 300
	for i := range n {
		if _, err := s.CreateTask(ctx, newTask(fmt.Sprintf("task-%03d", i), "x", t0)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if c := next(t, fast); c.Key != fmt.Sprintf("task-%03d", i) {
			t.Fatalf("fast subscriber change %d = %s", i, c.Key)
		}
	}
	for i := range n {
		if c := next(t, slow); c.Key != fmt.Sprintf("task-%03d", i) {
			t.Fatalf("slow subscriber change %d = %s", i, c.Key)
		}
	}
}
