package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/store"
)

// Contract tests for store.A2ATasks: the tasks of the gateway's own A2A
// server.

// a2aDoc is a task document whose fields must always agree with each other
// and with the row's state column: a torn read would show a mix.
type a2aDoc struct {
	ID    string `json:"id"`
	N     int    `json:"n"`
	Copy  int    `json:"copy"`
	State string `json:"state"`
	Pad   string `json:"pad"`
}

func a2aTaskJSON(id string, n int, state string) []byte {
	// The padding makes the document span several pages, so that a torn
	// write would be visible if the backend allowed one.
	data, _ := json.Marshal(a2aDoc{ID: id, N: n, Copy: n, State: state, Pad: strings.Repeat(fmt.Sprintf("%06d", n), 2000)})
	return data
}

func checkA2ADoc(t *testing.T, got store.A2ATask) a2aDoc {
	t.Helper()
	var d a2aDoc
	if err := json.Unmarshal(got.Task, &d); err != nil {
		t.Fatalf("task %s: stored JSON does not parse (torn?): %v", got.ID, err)
	}
	if d.N != d.Copy || d.State != got.State || d.ID != got.ID || d.Pad != strings.Repeat(fmt.Sprintf("%06d", d.N), 2000) {
		t.Fatalf("task %s torn: doc n=%d copy=%d state=%q, row state=%q", got.ID, d.N, d.Copy, d.State, got.State)
	}
	return d
}

func testA2ATaskUpsert(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	if _, err := s.GetA2ATask(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetA2ATask unknown = %v, want ErrNotFound", err)
	}
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := s.Subscribe(subCtx)
	if err != nil {
		t.Fatal(err)
	}

	if v, err := s.CreateA2ATask(ctx, store.A2ATask{ID: "task-1", ContextID: "ctx-1", Caller: "alice", State: "submitted",
		Task: a2aTaskJSON("task-1", 1, "submitted"), CreatedAt: t0}, []byte(`{"e":1}`)); err != nil || v != 1 {
		t.Fatalf("CreateA2ATask = %d, %v; want 1", v, err)
	}
	if _, err := s.CreateA2ATask(ctx, store.A2ATask{ID: "task-1", Caller: "bob", State: "x", Task: []byte(`{}`), CreatedAt: t0}, []byte(`{"e":"dup"}`)); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateA2ATask of an existing ID = %v, want ErrExists", err)
	}
	got, err := s.GetA2ATask(ctx, "task-1")
	if err != nil {
		t.Fatalf("GetA2ATask: %v", err)
	}
	if got.ID != "task-1" || got.ContextID != "ctx-1" || got.Caller != "alice" || got.State != "submitted" ||
		got.Version != 1 || !got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t0) {
		t.Errorf("after first save = %+v", got)
	}
	checkA2ADoc(t, got)

	// A later save replaces the state and the document only: the caller
	// (someone else continuing the task) and the context stay as recorded.
	later := t0.Add(time.Second)
	if v, err := s.UpdateA2ATask(ctx, store.A2ATask{ID: "task-1", ContextID: "ctx-1", Caller: "bob", State: "completed",
		Task: a2aTaskJSON("task-1", 2, "completed"), CreatedAt: later, UpdatedAt: later}, 1, []byte(`{"e":2}`)); err != nil || v != 2 {
		t.Fatalf("UpdateA2ATask = %d, %v; want 2", v, err)
	}
	// A stale version is refused and changes nothing, nor logs its event.
	_, err = s.UpdateA2ATask(ctx, store.A2ATask{ID: "task-1", State: "failed", Task: []byte(`{}`), UpdatedAt: later}, 1, []byte(`{"e":"stale"}`))
	var vc *store.VersionConflictError
	if !errors.As(err, &vc) || vc.Current != 2 || vc.Expected != 1 {
		t.Errorf("stale UpdateA2ATask = %v, want a version conflict at 2", err)
	}
	if _, err := s.UpdateA2ATask(ctx, store.A2ATask{ID: "nope", State: "x", Task: []byte(`{}`)}, 0, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateA2ATask of an unknown task = %v, want ErrNotFound", err)
	}
	got, err = s.GetA2ATask(ctx, "task-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.ContextID != "ctx-1" || got.Caller != "alice" || got.State != "completed" || got.Version != 2 ||
		!got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(later) {
		t.Errorf("after second save = %+v", got)
	}
	if d := checkA2ADoc(t, got); d.N != 2 {
		t.Errorf("document n = %d, want 2 (the second save's)", d.N)
	}

	// A task without an ID is refused rather than stored under "".
	if _, err := s.CreateA2ATask(ctx, store.A2ATask{State: "submitted", Task: []byte(`{}`), CreatedAt: t0}, nil); err == nil {
		t.Error("CreateA2ATask with an empty ID succeeded")
	}

	// An unconditional update (prevVersion 0) with no event bumps the
	// version but logs nothing.
	if v, err := s.UpdateA2ATask(ctx, store.A2ATask{ID: "task-1", ContextID: "ctx-1", State: "completed",
		Task: a2aTaskJSON("task-1", 3, "completed"), UpdatedAt: later}, 0, nil); err != nil || v != 3 {
		t.Fatalf("unconditional UpdateA2ATask = %d, %v; want 3", v, err)
	}
	events, err := s.A2ATaskEventsAfter(ctx, "task-1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got2 []string
	for _, e := range events {
		got2 = append(got2, fmt.Sprintf("v%d %s %s", e.Version, e.Event, e.At.Format(time.TimeOnly)))
		if e.TaskID != "task-1" {
			t.Errorf("event %+v has the wrong task", e)
		}
	}
	if want := []string{`v1 {"e":1} 10:00:00`, `v2 {"e":2} 10:00:01`}; !slices.Equal(got2, want) {
		t.Errorf("events = %q, want %q", got2, want)
	}
	if len(events) == 2 {
		last, err := s.LastA2ATaskEventSeq(ctx, "task-1")
		if err != nil || last != events[1].Seq {
			t.Errorf("LastA2ATaskEventSeq = %d, %v; want %d", last, err, events[1].Seq)
		}
		after, err := s.A2ATaskEventsAfter(ctx, "task-1", events[0].Seq, 0)
		if err != nil || len(after) != 1 || after[0].Seq != events[1].Seq {
			t.Errorf("events after the first = %+v, %v", after, err)
		}
	}
	if last, err := s.LastA2ATaskEventSeq(ctx, "nope"); err != nil || last != 0 {
		t.Errorf("LastA2ATaskEventSeq of an unknown task = %d, %v; want 0", last, err)
	}

	for i, want := range []store.Change{
		{Kind: store.KindA2ATask, Key: "task-1", Version: 1, At: t0},
		{Kind: store.KindA2ATask, Key: "task-1", Version: 2, At: later},
		{Kind: store.KindA2ATask, Key: "task-1", Version: 3, At: later},
	} {
		c := next(t, ch)
		if c.Kind != want.Kind || c.Key != want.Key || c.Version != want.Version || !c.At.Equal(want.At) {
			t.Errorf("change %d = %+v, want %+v", i, c, want)
		}
	}
}

// testA2ATaskConcurrentSaveGet saves a task over and over, as a2a-go does on
// every event, while readers read it: every read must be one whole save.
// Several writers race to create the same new task (one wins, the others
// get ErrExists) and then update it under optimistic versions, retrying on
// conflicts: every write counts once and logs its event with its version.
func testA2ATaskConcurrentSaveGet(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	const writers, saves, readers = 4, 15, 4

	var wg sync.WaitGroup
	var done atomic.Bool
	errs := make(chan error, writers*saves+readers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range saves {
				n := w*1000 + i
				state := fmt.Sprintf("state-%d", n)
				task := store.A2ATask{ID: "hot", ContextID: "ctx", Caller: fmt.Sprintf("writer-%d", w), State: state,
					Task: a2aTaskJSON("hot", n, state), CreatedAt: t0, UpdatedAt: t0.Add(time.Duration(i) * time.Millisecond)}
				event := []byte(fmt.Sprintf(`{"n":%d}`, n))
				if i == 0 {
					_, err := s.CreateA2ATask(ctx, task, event)
					if err == nil {
						continue
					}
					if !errors.Is(err, store.ErrExists) {
						errs <- fmt.Errorf("writer %d create: %w", w, err)
						return
					}
				}
				for {
					cur, err := s.GetA2ATask(ctx, "hot")
					if errors.Is(err, store.ErrNotFound) {
						continue // the winner has not committed yet
					}
					if err != nil {
						errs <- err
						return
					}
					_, err = s.UpdateA2ATask(ctx, task, cur.Version, event)
					if errors.Is(err, store.ErrVersionConflict) {
						continue
					}
					if err != nil {
						errs <- fmt.Errorf("writer %d save %d: %w", w, i, err)
						return
					}
					break
				}
			}
		}()
	}
	var reads atomic.Int64
	var rwg sync.WaitGroup
	for range readers {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for !done.Load() {
				got, err := s.GetA2ATask(ctx, "hot")
				if errors.Is(err, store.ErrNotFound) {
					continue // not created yet
				}
				if err != nil {
					errs <- err
					return
				}
				var d a2aDoc
				if err := json.Unmarshal(got.Task, &d); err != nil {
					errs <- fmt.Errorf("read a torn document: %v", err)
					return
				}
				if d.N != d.Copy || d.State != got.State || d.Pad != strings.Repeat(fmt.Sprintf("%06d", d.N), 2000) {
					errs <- fmt.Errorf("read a torn task: doc n=%d copy=%d state=%q, row state=%q", d.N, d.Copy, d.State, got.State)
					return
				}
				reads.Add(1)
			}
		}()
	}
	wg.Wait()
	done.Store(true)
	rwg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := s.GetA2ATask(ctx, "hot")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != writers*saves {
		t.Errorf("version = %d, want %d: every save counts once", got.Version, writers*saves)
	}
	if !strings.HasPrefix(got.Caller, "writer-") {
		t.Errorf("caller = %q, want the first writer's", got.Caller)
	}
	checkA2ADoc(t, got)
	events, err := s.A2ATaskEventsAfter(ctx, "hot", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var versions []int64
	for _, e := range events {
		versions = append(versions, e.Version)
	}
	var want []int64
	for v := range int64(writers * saves) {
		want = append(want, v+1)
	}
	if !slices.Equal(versions, want) {
		t.Errorf("event versions = %v, want 1 … %d in seq order", versions, writers*saves)
	}
	t.Logf("%d consistent reads during %d saves", reads.Load(), writers*saves)
}

func testListA2ATasks(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	// a-0 … a-6, created a second apart; a-3 and a-5 are created at the
	// same instant as a-2 and a-4 to exercise the ID tie-break.
	type seed struct {
		id, contextID, caller, state string
		at                           time.Time
	}
	seeds := []seed{
		{"a-6", "c1", "alice", "completed", t0.Add(5 * time.Second)},
		{"a-0", "c1", "alice", "completed", t0},
		{"a-1", "c2", "bob", "working", t0.Add(1 * time.Second)},
		{"a-2", "c1", "alice", "failed", t0.Add(2 * time.Second)},
		{"a-3", "c2", "bob", "completed", t0.Add(2 * time.Second)},
		{"a-4", "c3", "alice", "working", t0.Add(3 * time.Second)},
		{"a-5", "c3", "carol", "completed", t0.Add(3 * time.Second)},
	}
	for _, sd := range seeds {
		if _, err := s.CreateA2ATask(ctx, store.A2ATask{ID: sd.id, ContextID: sd.contextID, Caller: sd.caller, State: sd.state,
			Task: []byte(`{"id":"` + sd.id + `"}`), CreatedAt: sd.at}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// A later save moves a-1 on but keeps its place: order is by creation.
	if _, err := s.UpdateA2ATask(ctx, store.A2ATask{ID: "a-1", ContextID: "c2", Caller: "mallory", State: "completed",
		Task: []byte(`{"id":"a-1"}`), UpdatedAt: t0.Add(time.Hour)}, 1, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		filter   store.A2ATaskFilter
		want     []string
		wantMore bool
		// wantTotal is what the filter selects, ignoring cursor and limit.
		wantTotal int
	}{
		{"all", store.A2ATaskFilter{}, []string{"a-0", "a-1", "a-2", "a-3", "a-4", "a-5", "a-6"}, false, 7},
		{"by caller", store.A2ATaskFilter{Caller: "alice"}, []string{"a-0", "a-2", "a-4", "a-6"}, false, 4},
		{"by context", store.A2ATaskFilter{ContextID: "c2"}, []string{"a-1", "a-3"}, false, 2},
		{"by state", store.A2ATaskFilter{States: []string{"completed"}}, []string{"a-0", "a-1", "a-3", "a-5", "a-6"}, false, 5},
		{"several states", store.A2ATaskFilter{States: []string{"working", "failed"}}, []string{"a-2", "a-4"}, false, 2},
		{"caller and state", store.A2ATaskFilter{Caller: "alice", States: []string{"completed"}}, []string{"a-0", "a-6"}, false, 2},
		{"caller and context", store.A2ATaskFilter{Caller: "carol", ContextID: "c1"}, nil, false, 0},
		{"unknown caller", store.A2ATaskFilter{Caller: "mallory"}, nil, false, 0},
		{"first page", store.A2ATaskFilter{Limit: 3}, []string{"a-0", "a-1", "a-2"}, true, 7},
		{"next page across a tie", store.A2ATaskFilter{Limit: 3, After: "a-2"}, []string{"a-3", "a-4", "a-5"}, true, 7},
		{"last page", store.A2ATaskFilter{Limit: 3, After: "a-5"}, []string{"a-6"}, false, 7},
		{"exact page", store.A2ATaskFilter{Limit: 7}, []string{"a-0", "a-1", "a-2", "a-3", "a-4", "a-5", "a-6"}, false, 7},
		{"filtered pages", store.A2ATaskFilter{Caller: "alice", Limit: 2, After: "a-0"}, []string{"a-2", "a-4"}, true, 4},
		{"unknown cursor", store.A2ATaskFilter{After: "zzz"}, nil, false, 7},
		// a-1 was updated last; the others keep their creation time as
		// their update time. Ties go by ID, descending.
		{"newest first", store.A2ATaskFilter{NewestFirst: true}, []string{"a-1", "a-6", "a-5", "a-4", "a-3", "a-2", "a-0"}, false, 7},
		{"newest first page", store.A2ATaskFilter{NewestFirst: true, Limit: 3}, []string{"a-1", "a-6", "a-5"}, true, 7},
		{"newest first across a tie", store.A2ATaskFilter{NewestFirst: true, Limit: 3,
			Before: store.A2ATaskCursor{UpdatedAt: t0.Add(3 * time.Second), ID: "a-5"}}, []string{"a-4", "a-3", "a-2"}, true, 7},
		{"newest first last page", store.A2ATaskFilter{NewestFirst: true, Limit: 3,
			Before: store.A2ATaskCursor{UpdatedAt: t0.Add(2 * time.Second), ID: "a-2"}}, []string{"a-0"}, false, 7},
		{"updated after", store.A2ATaskFilter{UpdatedAfter: t0.Add(3 * time.Second)}, []string{"a-1", "a-4", "a-5", "a-6"}, false, 4},
		{"updated after, by caller, newest first", store.A2ATaskFilter{Caller: "alice", UpdatedAfter: t0.Add(2 * time.Second), NewestFirst: true},
			[]string{"a-6", "a-4", "a-2"}, false, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, total, more, err := s.ListA2ATasks(ctx, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, task := range got {
				ids = append(ids, task.ID)
			}
			if !slices.Equal(ids, tt.want) || more != tt.wantMore || total != tt.wantTotal {
				t.Errorf("ListA2ATasks(%+v) = %v, total %d, more %v; want %v, total %d, more %v", tt.filter, ids, total, more, tt.want, tt.wantTotal, tt.wantMore)
			}
		})
	}
	got, _, _, err := s.ListA2ATasks(ctx, store.A2ATaskFilter{ContextID: "c2"})
	if err != nil || len(got) != 2 {
		t.Fatalf("list c2 = %v, %v", got, err)
	}
	if a1 := got[0]; a1.State != "completed" || a1.Version != 2 || a1.Caller != "bob" || string(a1.Task) != `{"id":"a-1"}` ||
		!a1.CreatedAt.Equal(t0.Add(time.Second)) || !a1.UpdatedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("listed a-1 = %+v", a1)
	}
}

// testA2ATaskSurvivesReopen: a task saved by one instance is read by the
// next one after the first closed, as after a gateway restart.
func testA2ATaskSurvivesReopen(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	open := newDB(t, Options{})
	first := open(t)
	if _, err := first.CreateA2ATask(ctx, store.A2ATask{ID: "task-r", ContextID: "ctx-r", Caller: "alice", State: "working",
		Task: a2aTaskJSON("task-r", 1, "working"), CreatedAt: t0}, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := first.UpdateA2ATask(ctx, store.A2ATask{ID: "task-r", ContextID: "ctx-r", State: "completed",
		Task: a2aTaskJSON("task-r", 2, "completed"), UpdatedAt: t0.Add(time.Second)}, 1, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	second := open(t)
	got, err := second.GetA2ATask(ctx, "task-r")
	if err != nil {
		t.Fatalf("GetA2ATask after reopen: %v", err)
	}
	if got.Caller != "alice" || got.State != "completed" || got.Version != 2 || got.ContextID != "ctx-r" {
		t.Errorf("after reopen = %+v", got)
	}
	if d := checkA2ADoc(t, got); d.N != 2 {
		t.Errorf("after reopen document n = %d, want 2", d.N)
	}
}
