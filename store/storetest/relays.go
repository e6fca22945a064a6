package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/store"
)

// Contract tests for store.RelayedTasks: the record of tasks relayed to
// registered agents.

func relayed(agent, taskID, contextID, caller, state string, at time.Time) store.RelayedTask {
	return store.RelayedTask{Agent: agent, TaskID: taskID, ContextID: contextID, Caller: caller, State: state, UpdatedAt: at}
}

// quietFeed checks that the feed ch delivered no change since it was
// subscribed: it creates a ticket named marker and expects that ticket's
// change next. The feed is in commit order, so a change of an earlier
// write would come first.
func quietFeed(t *testing.T, s store.Store, ch <-chan store.Change, marker string) {
	t.Helper()
	if _, err := s.CreateTicket(t.Context(), ticket(marker, "new", "", t0), hist("test", "create")); err != nil {
		t.Fatalf("CreateTicket(%s): %v", marker, err)
	}
	if c := next(t, ch); c.Kind != store.KindTicket || c.Key != marker {
		t.Errorf("change = %+v, want none before ticket %s's: saving relayed tasks emits no change", c, marker)
	}
}

// getRelayed finds one relayed task by listing.
func getRelayed(t *testing.T, s store.Store, agent, taskID string) store.RelayedTask {
	t.Helper()
	all, _, err := s.ListRelayedTasks(t.Context(), store.RelayedTaskFilter{Agent: agent, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range all {
		if r.TaskID == taskID {
			return r
		}
	}
	t.Fatalf("relayed task %s/%s not found among %+v", agent, taskID, all)
	return store.RelayedTask{}
}

func testRelayedTaskUpsert(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := s.Subscribe(subCtx)
	if err != nil {
		t.Fatal(err)
	}

	// The first save of a task records who asked; the context may not be
	// known yet.
	if err := s.SaveRelayedTask(ctx, relayed("Billing", "task-1", "", "alice", "submitted", t0)); err != nil {
		t.Fatalf("first SaveRelayedTask: %v", err)
	}
	got := getRelayed(t, s, "billing", "task-1")
	if got.Agent != "Billing" || got.Caller != "alice" || got.State != "submitted" || got.ContextID != "" || got.Version != 1 ||
		!got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t0) {
		t.Errorf("after first save = %+v", got)
	}

	steps := []struct {
		name string
		save store.RelayedTask
		want store.RelayedTask // Agent, ContextID, Caller, State, Version, UpdatedAt
	}{
		{"later state by someone else, agent in other case", relayed("BILLING", "task-1", "ctx-1", "bob", "working", t0.Add(time.Second)),
			store.RelayedTask{Agent: "Billing", ContextID: "ctx-1", Caller: "alice", State: "working", Version: 2, UpdatedAt: t0.Add(time.Second)}},
		{"same state again", relayed("billing", "task-1", "ctx-1", "alice", "working", t0.Add(2*time.Second)),
			store.RelayedTask{Agent: "Billing", ContextID: "ctx-1", Caller: "alice", State: "working", Version: 2, UpdatedAt: t0.Add(time.Second)}},
		{"no state keeps the state", relayed("billing", "task-1", "ctx-other", "alice", "", t0.Add(3*time.Second)),
			store.RelayedTask{Agent: "Billing", ContextID: "ctx-1", Caller: "alice", State: "working", Version: 2, UpdatedAt: t0.Add(time.Second)}},
		{"stale save is ignored", relayed("billing", "task-1", "ctx-1", "alice", "submitted", t0.Add(time.Second/2)),
			store.RelayedTask{Agent: "Billing", ContextID: "ctx-1", Caller: "alice", State: "working", Version: 2, UpdatedAt: t0.Add(time.Second)}},
		{"completed", relayed("billing", "task-1", "ctx-1", "alice", "completed", t0.Add(4*time.Second)),
			store.RelayedTask{Agent: "Billing", ContextID: "ctx-1", Caller: "alice", State: "completed", Version: 3, UpdatedAt: t0.Add(4 * time.Second)}},
	}
	for _, st := range steps {
		if err := s.SaveRelayedTask(ctx, st.save); err != nil {
			t.Fatalf("%s: SaveRelayedTask: %v", st.name, err)
		}
		got := getRelayed(t, s, "billing", "task-1")
		w := st.want
		if got.Agent != w.Agent || got.ContextID != w.ContextID || got.Caller != w.Caller || got.State != w.State ||
			got.Version != w.Version || !got.UpdatedAt.Equal(w.UpdatedAt) || !got.CreatedAt.Equal(t0) {
			t.Errorf("%s: record = %+v, want %+v (created %v)", st.name, got, w, t0)
		}
	}
	// None of the saves is on the feed (store.RelayedTasks says why).
	quietFeed(t, s, ch, "after-upsert")

	// The same task ID at another agent is another task.
	if err := s.SaveRelayedTask(ctx, relayed("shipping", "task-1", "ctx-9", "carol", "working", t0)); err != nil {
		t.Fatal(err)
	}
	if got := getRelayed(t, s, "shipping", "task-1"); got.Caller != "carol" || got.Version != 1 {
		t.Errorf("shipping's task-1 = %+v", got)
	}
	if got := getRelayed(t, s, "billing", "task-1"); got.State != "completed" || got.Caller != "alice" {
		t.Errorf("billing's task-1 after shipping's = %+v", got)
	}
	// A task ID may hold "/": the key splits at the first one.
	if err := s.SaveRelayedTask(ctx, relayed("shipping", "tasks/7", "", "carol", "working", t0)); err != nil {
		t.Fatal(err)
	}
	if key := getRelayed(t, s, "shipping", "tasks/7").Key(); key != "shipping/tasks/7" {
		t.Errorf("Key() = %q, want shipping/tasks/7", key)
	} else if agent, id, ok := store.SplitRelayedTaskKey(key); !ok || agent != "shipping" || id != "tasks/7" {
		t.Errorf("SplitRelayedTaskKey(%q) = %q, %q, %v", key, agent, id, ok)
	}
	quietFeed(t, s, ch, "after-other-agent")

	// GetRelayedTask finds one task by its agent (ignoring case) and its ID
	// (exactly), as the relay does before letting a caller reach it.
	if got, err := s.GetRelayedTask(ctx, "BILLING", "task-1"); err != nil || got.Agent != "Billing" || got.Caller != "alice" ||
		got.State != "completed" || got.ContextID != "ctx-1" || got.Version != 3 || !got.CreatedAt.Equal(t0) {
		t.Errorf("GetRelayedTask(BILLING, task-1) = %+v, %v", got, err)
	}
	if got, err := s.GetRelayedTask(ctx, "shipping", "tasks/7"); err != nil || got.Caller != "carol" {
		t.Errorf("GetRelayedTask(shipping, tasks/7) = %+v, %v", got, err)
	}
	for _, missing := range [][2]string{{"billing", "task-2"}, {"nobody", "task-1"}, {"billing", "TASK-1"}} {
		if got, err := s.GetRelayedTask(ctx, missing[0], missing[1]); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetRelayedTask(%s, %s) = %+v, %v; want ErrNotFound", missing[0], missing[1], got, err)
		}
	}

	for _, bad := range []store.RelayedTask{
		relayed("", "task-1", "", "alice", "working", t0),
		relayed("billing", "", "", "alice", "working", t0),
	} {
		if err := s.SaveRelayedTask(ctx, bad); err == nil {
			t.Errorf("SaveRelayedTask(%+v) succeeded", bad)
		}
	}
	t.Run("SaveRelayedTasks", func(t *testing.T) { testRelayedTaskBatch(t, newDB) })
}

// testRelayedTaskBatch: a store that saves relayed tasks in batches (the
// relay's recorder uses it when there) saves each as SaveRelayedTask does,
// in order (emitting no change), and a batch with a bad record saves
// nothing.
func testRelayedTaskBatch(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	b, ok := s.(interface {
		SaveRelayedTasks(ctx context.Context, ts []store.RelayedTask) error
	})
	if !ok {
		t.Skip("the store has no SaveRelayedTasks")
	}
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := s.Subscribe(subCtx)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.SaveRelayedTasks(ctx, nil); err != nil {
		t.Errorf("empty batch: %v", err)
	}
	err = b.SaveRelayedTasks(ctx, []store.RelayedTask{
		relayed("Billing", "t1", "", "alice", "submitted", t0),
		relayed("billing", "t1", "ctx-1", "bob", "working", t0.Add(time.Second)),
		relayed("shipping", "t2", "ctx-2", "carol", "working", t0),
		relayed("billing", "t1", "ctx-1", "alice", "submitted", t0.Add(time.Second/2)), // stale: ignored
		relayed("billing", "t1", "ctx-1", "alice", "completed", t0.Add(2*time.Second)),
	})
	if err != nil {
		t.Fatalf("SaveRelayedTasks: %v", err)
	}
	if got := getRelayed(t, s, "billing", "t1"); got.Agent != "Billing" || got.Caller != "alice" || got.State != "completed" ||
		got.ContextID != "ctx-1" || got.Version != 3 || !got.UpdatedAt.Equal(t0.Add(2*time.Second)) {
		t.Errorf("billing's t1 = %+v", got)
	}
	if got := getRelayed(t, s, "shipping", "t2"); got.Caller != "carol" || got.Version != 1 {
		t.Errorf("shipping's t2 = %+v", got)
	}
	quietFeed(t, s, ch, "after-batch")
	// All or nothing: a batch with a bad record saves none of it.
	err = b.SaveRelayedTasks(ctx, []store.RelayedTask{
		relayed("billing", "t3", "", "alice", "working", t0),
		relayed("", "t4", "", "alice", "working", t0),
	})
	if err == nil {
		t.Error("a batch with a record without agent succeeded")
	}
	if got, err := s.GetRelayedTask(ctx, "billing", "t3"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("t3 of the failed batch = %+v, %v; want ErrNotFound", got, err)
	}
}

func testListRelayedTasks(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	seeds := []store.RelayedTask{
		relayed("billing", "b-2", "c1", "alice", "completed", t0.Add(2*time.Second)),
		relayed("billing", "b-0", "c1", "alice", "completed", t0),
		relayed("shipping", "s-0", "c2", "bob", "working", t0.Add(time.Second)),
		relayed("billing", "b-1", "c2", "bob", "working", t0.Add(time.Second)), // ties with s-0: agent breaks it
		relayed("Shipping", "s-1", "c3", "alice", "failed", t0.Add(3*time.Second)),
		relayed("billing", "b-3", "c3", "carol", "input-required", t0.Add(3*time.Second)),
	}
	for _, sd := range seeds {
		if err := s.SaveRelayedTask(ctx, sd); err != nil {
			t.Fatal(err)
		}
	}
	// A later save moves b-1 on but keeps its place: order is by creation.
	if err := s.SaveRelayedTask(ctx, relayed("billing", "b-1", "c2", "bob", "completed", t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	all := []string{"billing/b-0", "billing/b-1", "shipping/s-0", "billing/b-2", "billing/b-3", "shipping/s-1"}
	tests := []struct {
		name     string
		filter   store.RelayedTaskFilter
		want     []string
		wantMore bool
	}{
		{"all", store.RelayedTaskFilter{}, all, false},
		{"by agent", store.RelayedTaskFilter{Agent: "billing"}, []string{"billing/b-0", "billing/b-1", "billing/b-2", "billing/b-3"}, false},
		{"by agent ignoring case", store.RelayedTaskFilter{Agent: "SHIPPING"}, []string{"shipping/s-0", "shipping/s-1"}, false},
		{"by caller", store.RelayedTaskFilter{Caller: "alice"}, []string{"billing/b-0", "billing/b-2", "shipping/s-1"}, false},
		{"agent and caller", store.RelayedTaskFilter{Agent: "billing", Caller: "bob"}, []string{"billing/b-1"}, false},
		{"by state", store.RelayedTaskFilter{States: []string{"completed"}}, []string{"billing/b-0", "billing/b-1", "billing/b-2"}, false},
		{"several states", store.RelayedTaskFilter{States: []string{"working", "failed"}}, []string{"shipping/s-0", "shipping/s-1"}, false},
		{"unknown agent", store.RelayedTaskFilter{Agent: "nobody"}, nil, false},
		{"first page", store.RelayedTaskFilter{Limit: 2}, all[:2], true},
		{"next page across a tie", store.RelayedTaskFilter{Limit: 2, After: "billing/b-1"}, all[2:4], true},
		{"cursor in other case", store.RelayedTaskFilter{Limit: 2, After: "BILLING/b-1"}, all[2:4], true},
		{"last page", store.RelayedTaskFilter{Limit: 2, After: "billing/b-2"}, all[4:], false},
		{"exact page", store.RelayedTaskFilter{Limit: 6}, all, false},
		{"filtered pages", store.RelayedTaskFilter{Agent: "billing", Limit: 2, After: "billing/b-0"}, []string{"billing/b-1", "billing/b-2"}, true},
		{"unknown cursor", store.RelayedTaskFilter{After: "billing/zzz"}, nil, false},
		{"cursor without task", store.RelayedTaskFilter{After: "billing"}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, more, err := s.ListRelayedTasks(ctx, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, r := range got {
				keys = append(keys, r.Key())
			}
			// Names are listed as first saved: "Shipping/s-1" was saved
			// as such; compare ignoring the agent's case.
			for i := range keys {
				agent, id, _ := store.SplitRelayedTaskKey(keys[i])
				if agent == "Shipping" {
					keys[i] = "shipping/" + id
				}
			}
			if !slices.Equal(keys, tt.want) || more != tt.wantMore {
				t.Errorf("ListRelayedTasks(%+v) = %v, more %v; want %v, more %v", tt.filter, keys, more, tt.want, tt.wantMore)
			}
		})
	}
	b1 := getRelayed(t, s, "billing", "b-1")
	if b1.State != "completed" || b1.Version != 2 || b1.Caller != "bob" || b1.ContextID != "c2" ||
		!b1.CreatedAt.Equal(t0.Add(time.Second)) || !b1.UpdatedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("listed b-1 = %+v", b1)
	}
}

// testRelayedTaskConcurrentSaves: several relays (goroutines, or replicas)
// see the same new task at once; none fails on the primary key, the first
// caller is kept, and the state ends at the latest save's.
func testRelayedTaskConcurrentSaves(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	open := newDB(t, Options{})
	replicas := []store.Store{open(t), open(t)}
	const writers, saves = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*saves)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := replicas[w%len(replicas)]
			for i := range saves {
				state := fmt.Sprintf("state-%d", i)
				if err := s.SaveRelayedTask(ctx, relayed("billing", "hot", "ctx", fmt.Sprintf("writer-%d", w), state, t0.Add(time.Duration(i)*time.Second))); err != nil {
					errs <- fmt.Errorf("writer %d save %d: %w", w, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := getRelayed(t, replicas[1], "billing", "hot")
	if got.State != fmt.Sprintf("state-%d", saves-1) || !got.UpdatedAt.Equal(t0.Add((saves-1)*time.Second)) {
		t.Errorf("after concurrent saves = %+v, want the latest state", got)
	}
	if got.Version < saves || got.Version > writers*saves {
		t.Errorf("version = %d, want between %d and %d", got.Version, saves, writers*saves)
	}
	if l, _, err := replicas[0].ListRelayedTasks(ctx, store.RelayedTaskFilter{Caller: got.Caller}); err != nil || len(l) != 1 || l[0].TaskID != "hot" {
		t.Errorf("list by the recorded caller %q = %+v, %v", got.Caller, l, err)
	}
}
