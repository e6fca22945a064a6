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

	if err := s.SaveA2ATask(ctx, "task-1", "ctx-1", "alice", "submitted", a2aTaskJSON("task-1", 1, "submitted"), t0); err != nil {
		t.Fatalf("first SaveA2ATask: %v", err)
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
	if err := s.SaveA2ATask(ctx, "task-1", "ctx-other", "bob", "completed", a2aTaskJSON("task-1", 2, "completed"), later); err != nil {
		t.Fatalf("second SaveA2ATask: %v", err)
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
	if err := s.SaveA2ATask(ctx, "", "ctx-1", "alice", "submitted", []byte(`{}`), t0); err == nil {
		t.Error("SaveA2ATask with an empty ID succeeded")
	}

	for i, want := range []store.Change{
		{Kind: store.KindA2ATask, Key: "task-1", Version: 1, At: t0},
		{Kind: store.KindA2ATask, Key: "task-1", Version: 2, At: later},
	} {
		c := next(t, ch)
		if c.Kind != want.Kind || c.Key != want.Key || c.Version != want.Version || !c.At.Equal(want.At) {
			t.Errorf("change %d = %+v, want %+v", i, c, want)
		}
	}
}

// testA2ATaskConcurrentSaveGet saves a task over and over, as a2a-go does on
// every event, while readers read it: every read must be one whole save.
// Several writers also race to create the same new task, which must not
// fail on the primary key.
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
				if err := s.SaveA2ATask(ctx, "hot", "ctx", fmt.Sprintf("writer-%d", w), state, a2aTaskJSON("hot", n, state), t0.Add(time.Duration(i)*time.Millisecond)); err != nil {
					errs <- fmt.Errorf("writer %d save %d: %w", w, i, err)
					return
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
		if err := s.SaveA2ATask(ctx, sd.id, sd.contextID, sd.caller, sd.state, []byte(`{"id":"`+sd.id+`"}`), sd.at); err != nil {
			t.Fatal(err)
		}
	}
	// A later save moves a-1 on but keeps its place: order is by creation.
	if err := s.SaveA2ATask(ctx, "a-1", "c2", "bob", "completed", []byte(`{"id":"a-1"}`), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		filter   store.A2ATaskFilter
		want     []string
		wantMore bool
	}{
		{"all", store.A2ATaskFilter{}, []string{"a-0", "a-1", "a-2", "a-3", "a-4", "a-5", "a-6"}, false},
		{"by caller", store.A2ATaskFilter{Caller: "alice"}, []string{"a-0", "a-2", "a-4", "a-6"}, false},
		{"by context", store.A2ATaskFilter{ContextID: "c2"}, []string{"a-1", "a-3"}, false},
		{"by state", store.A2ATaskFilter{States: []string{"completed"}}, []string{"a-0", "a-1", "a-3", "a-5", "a-6"}, false},
		{"several states", store.A2ATaskFilter{States: []string{"working", "failed"}}, []string{"a-2", "a-4"}, false},
		{"caller and state", store.A2ATaskFilter{Caller: "alice", States: []string{"completed"}}, []string{"a-0", "a-6"}, false},
		{"caller and context", store.A2ATaskFilter{Caller: "carol", ContextID: "c1"}, nil, false},
		{"unknown caller", store.A2ATaskFilter{Caller: "mallory"}, nil, false},
		{"first page", store.A2ATaskFilter{Limit: 3}, []string{"a-0", "a-1", "a-2"}, true},
		{"next page across a tie", store.A2ATaskFilter{Limit: 3, After: "a-2"}, []string{"a-3", "a-4", "a-5"}, true},
		{"last page", store.A2ATaskFilter{Limit: 3, After: "a-5"}, []string{"a-6"}, false},
		{"exact page", store.A2ATaskFilter{Limit: 7}, []string{"a-0", "a-1", "a-2", "a-3", "a-4", "a-5", "a-6"}, false},
		{"filtered pages", store.A2ATaskFilter{Caller: "alice", Limit: 2, After: "a-0"}, []string{"a-2", "a-4"}, true},
		{"unknown cursor", store.A2ATaskFilter{After: "zzz"}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, more, err := s.ListA2ATasks(ctx, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, task := range got {
				ids = append(ids, task.ID)
			}
			if !slices.Equal(ids, tt.want) || more != tt.wantMore {
				t.Errorf("ListA2ATasks(%+v) = %v, more %v; want %v, more %v", tt.filter, ids, more, tt.want, tt.wantMore)
			}
		})
	}
	got, _, err := s.ListA2ATasks(ctx, store.A2ATaskFilter{ContextID: "c2"})
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
	if err := first.SaveA2ATask(ctx, "task-r", "ctx-r", "alice", "working", a2aTaskJSON("task-r", 1, "working"), t0); err != nil {
		t.Fatal(err)
	}
	if err := first.SaveA2ATask(ctx, "task-r", "ctx-r", "alice", "completed", a2aTaskJSON("task-r", 2, "completed"), t0.Add(time.Second)); err != nil {
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
