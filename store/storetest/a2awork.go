package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/store"
)

// Contract tests for store.A2APushConfigs, store.A2AWorkQueue and the
// retention of A2A task events.

func testA2ATaskEventSweep(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	terminal := []string{"completed", "failed"}
	for _, sd := range []struct {
		id, state string
		at        time.Time
	}{
		{"old-done", "completed", t0},
		{"old-working", "working", t0},
		{"new-done", "failed", t0.Add(2 * time.Hour)},
	} {
		if _, err := s.CreateA2ATask(ctx, store.A2ATask{ID: sd.id, State: "submitted", Task: []byte(`{}`), CreatedAt: sd.at}, []byte(`{"n":1}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateA2ATask(ctx, store.A2ATask{ID: sd.id, State: sd.state, Task: []byte(`{}`), UpdatedAt: sd.at}, 1, []byte(`{"n":2}`)); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.SweepA2ATaskEvents(ctx, terminal, t0.Add(time.Hour))
	if err != nil || n != 2 {
		t.Errorf("SweepA2ATaskEvents = %d, %v; want the 2 events of old-done", n, err)
	}
	for id, want := range map[string]int{"old-done": 0, "old-working": 2, "new-done": 2} {
		events, err := s.A2ATaskEventsAfter(ctx, id, 0, 0)
		if err != nil || len(events) != want {
			t.Errorf("%s: %d events (%v), want %d", id, len(events), err, want)
		}
	}
	if _, err := s.GetA2ATask(ctx, "old-done"); err != nil {
		t.Errorf("the swept task itself is gone: %v", err)
	}
	if n, err := s.SweepA2ATaskEvents(ctx, nil, t0.Add(10*time.Hour)); err != nil || n != 0 {
		t.Errorf("sweep with no states = %d, %v; want 0", n, err)
	}
}

func testA2APushConfigs(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	if _, err := s.GetA2APushConfig(ctx, "t1", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get unknown = %v, want ErrNotFound", err)
	}
	for _, c := range []struct{ task, id, cfg string }{
		{"t1", "b", `{"url":"b1"}`},
		{"t1", "a", `{"url":"a1"}`},
		{"t2", "a", `{"url":"other"}`},
		{"t1", "c", `{"url":"c1"}`},
		{"t1", "b", `{"url":"b2"}`}, // replaces b, which keeps its place
	} {
		if err := s.SaveA2APushConfig(ctx, c.task, c.id, []byte(c.cfg)); err != nil {
			t.Fatal(err)
		}
	}
	list := func(task string) []string {
		t.Helper()
		cs, err := s.ListA2APushConfigs(ctx, task)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range cs {
			if c.TaskID != task {
				t.Errorf("listed %+v under task %s", c, task)
			}
			out = append(out, c.ID+"="+string(c.Config))
		}
		return out
	}
	if diff := cmp.Diff([]string{`b={"url":"b2"}`, `a={"url":"a1"}`, `c={"url":"c1"}`}, list("t1")); diff != "" {
		t.Errorf("List t1 (-want +got):\n%s", diff)
	}
	got, err := s.GetA2APushConfig(ctx, "t2", "a")
	if err != nil || string(got.Config) != `{"url":"other"}` || got.ID != "a" || got.TaskID != "t2" {
		t.Errorf("Get t2/a = %+v, %v", got, err)
	}
	if err := s.DeleteA2APushConfig(ctx, "t1", "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteA2APushConfig(ctx, "t1", "a"); err != nil {
		t.Errorf("deleting an absent config = %v, want nil", err)
	}
	if diff := cmp.Diff([]string{`b={"url":"b2"}`, `c={"url":"c1"}`}, list("t1")); diff != "" {
		t.Errorf("List t1 after delete (-want +got):\n%s", diff)
	}
	if err := s.DeleteA2APushConfigs(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if got := list("t1"); len(got) != 0 {
		t.Errorf("List t1 after DeleteAll = %v", got)
	}
	if diff := cmp.Diff([]string{`a={"url":"other"}`}, list("t2")); diff != "" {
		t.Errorf("DeleteAll of t1 touched t2 (-want +got):\n%s", diff)
	}
}

func testA2AWorkQueue(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := s.Subscribe(subCtx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimA2AWork(ctx, "r1", t0, time.Minute); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("claim from an empty queue = %v, want ErrNotFound", err)
	}
	id1, err := s.EnqueueA2AWork(ctx, "task-1", []byte(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	id2, err := s.EnqueueA2AWork(ctx, "task-2", []byte(`{"n":2}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []store.Change{{Kind: store.KindA2AWork, Key: "task-1", Version: id1}, {Kind: store.KindA2AWork, Key: "task-2", Version: id2}} {
		if c := next(t, ch); c.Kind != want.Kind || c.Key != want.Key || c.Version != want.Version {
			t.Errorf("change = %+v, want %+v", c, want)
		}
	}

	// Oldest first; a held item is not handed out again while its lease runs.
	w1, err := s.ClaimA2AWork(ctx, "r1", t0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := store.A2AWork{ID: id1, TaskID: "task-1", Payload: []byte(`{"n":1}`), Owner: "r1", LeaseUntil: t0.Add(time.Minute), Attempts: 1}
	if diff := cmp.Diff(want, w1); diff != "" {
		t.Errorf("first claim (-want +got):\n%s", diff)
	}
	w2, err := s.ClaimA2AWork(ctx, "r2", t0, time.Minute)
	if err != nil || w2.ID != id2 {
		t.Fatalf("second claim = %+v, %v; want item %d", w2, err, id2)
	}
	if _, err := s.ClaimA2AWork(ctx, "r3", t0.Add(59*time.Second), time.Minute); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("claim while both are held = %v, want ErrNotFound", err)
	}

	// r1 extends its lease; r2's runs out and r3 takes item 2 over.
	if err := s.ExtendA2AWork(ctx, id1, "r1", t0.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.ExtendA2AWork(ctx, id1, "r2", t0.Add(5*time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("extend by a non-owner = %v, want ErrNotFound", err)
	}
	w3, err := s.ClaimA2AWork(ctx, "r3", t0.Add(time.Minute), time.Minute)
	if err != nil || w3.ID != id2 || w3.Attempts != 2 || w3.Owner != "r3" {
		t.Fatalf("claim after the lease ended = %+v, %v; want item %d, attempt 2", w3, err, id2)
	}
	for name, err := range map[string]error{
		"extend":   s.ExtendA2AWork(ctx, id2, "r2", t0.Add(time.Hour)),
		"complete": s.CompleteA2AWork(ctx, id2, "r2"),
		"return":   s.ReturnA2AWork(ctx, id2, "r2"),
	} {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s by the owner who lost it = %v, want ErrNotFound", name, err)
		}
	}

	// r3 returns item 2: claimable at once, with a change to wake others.
	if err := s.ReturnA2AWork(ctx, id2, "r3"); err != nil {
		t.Fatal(err)
	}
	if c := next(t, ch); c.Kind != store.KindA2AWork || c.Key != "task-2" || c.Version != id2 {
		t.Errorf("change on return = %+v", c)
	}
	w4, err := s.ClaimA2AWork(ctx, "r4", t0.Add(time.Minute), time.Minute)
	if err != nil || w4.ID != id2 || w4.Attempts != 3 {
		t.Fatalf("claim after return = %+v, %v", w4, err)
	}
	if err := s.CompleteA2AWork(ctx, id2, "r4"); err != nil {
		t.Fatal(err)
	}
	if err := s.CompleteA2AWork(ctx, id2, "r4"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("completing twice = %v, want ErrNotFound", err)
	}
	// Item 1 is still r1's (extended), so nothing is ready before its end.
	if _, err := s.ClaimA2AWork(ctx, "r5", t0.Add(4*time.Minute), time.Minute); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("claim during the extended lease = %v, want ErrNotFound", err)
	}
	if err := s.CompleteA2AWork(ctx, id1, "r1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimA2AWork(ctx, "r5", t0.Add(time.Hour), time.Minute); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("claim from a drained queue = %v, want ErrNotFound", err)
	}
}

// testA2AWorkConcurrentClaims: replicas claiming at once each get a
// different item, and every item goes to exactly one of them.
func testA2AWorkConcurrentClaims(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	open := newDB(t, Options{})
	a, b := open(t), open(t)
	const items, claimers = 40, 6
	for i := range items {
		if _, err := a.EnqueueA2AWork(ctx, fmt.Sprintf("task-%d", i), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var got []int64
	var wg sync.WaitGroup
	for c := range claimers {
		s := []store.Store{a, b}[c%2]
		wg.Go(func() {
			owner := fmt.Sprintf("claimer-%d", c)
			for {
				w, err := s.ClaimA2AWork(ctx, owner, t0, time.Hour)
				if errors.Is(err, store.ErrNotFound) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got = append(got, w.ID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(got)
	if len(got) != items || len(slices.Compact(slices.Clone(got))) != items {
		t.Errorf("claimed %d items (%d distinct), want each of %d once: %v", len(got), len(slices.Compact(slices.Clone(got))), items, got)
	}
}
