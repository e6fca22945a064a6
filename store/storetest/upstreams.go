package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/store"
)

// Contract tests for store.Upstreams: registered upstream MCP servers and
// the pins of their tools.

func upstreamRecord(name, url string, at time.Time) store.Upstream {
	spec, _ := json.Marshal(map[string]any{"name": name, "url": url})
	return store.Upstream{Name: name, Spec: spec, Source: store.UpstreamFromAPI, CreatedAt: at, UpdatedAt: at}
}

func toolPin(upstream, tool, hash string, at time.Time) store.UpstreamTool {
	return store.UpstreamTool{Upstream: upstream, Tool: tool, ApprovedHash: hash, ApprovedAt: at, SeenHash: hash, SeenAt: at, FirstSeenAt: at}
}

func testUpstreamCRUD(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	in := upstreamRecord("github", "https://mcp.github.example/mcp", t0)
	in.UpdatedAt = t0.Add(time.Hour) // ignored: a new upstream was updated when created
	created, err := s.CreateUpstream(ctx, in)
	if err != nil {
		t.Fatalf("CreateUpstream: %v", err)
	}
	want := store.Upstream{Name: "github", Version: 1, Spec: in.Spec, Source: store.UpstreamFromAPI, CreatedAt: t0, UpdatedAt: t0}
	if diff := cmp.Diff(want, created); diff != "" {
		t.Errorf("CreateUpstream (-want +got):\n%s", diff)
	}
	if _, err := s.CreateUpstream(ctx, upstreamRecord("github", "https://other.example/mcp", t0)); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateUpstream of a taken name = %v, want ErrExists", err)
	}
	got, err := s.GetUpstream(ctx, "github")
	if err != nil {
		t.Fatalf("GetUpstream: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetUpstream (-want +got):\n%s", diff)
	}
	if _, err := s.GetUpstream(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUpstream unknown = %v, want ErrNotFound", err)
	}

	// Listing is by name.
	fs := upstreamRecord("fs", "", t0.Add(time.Minute))
	fs.Source = store.UpstreamFromConfig
	if _, err := s.CreateUpstream(ctx, fs); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListUpstreams(ctx)
	if err != nil {
		t.Fatalf("ListUpstreams: %v", err)
	}
	var names []string
	for _, u := range list {
		names = append(names, u.Name+":"+u.Source)
	}
	if diff := cmp.Diff([]string{"fs:config", "github:api"}, names); diff != "" {
		t.Errorf("ListUpstreams names (-want +got):\n%s", diff)
	}

	// Versioned updates: the spec and source change, CreatedAt stays.
	upd := got
	upd.Spec = json.RawMessage(`{"name":"github","url":"https://new.example/mcp"}`)
	upd.Source = store.UpstreamFromConfig
	upd.CreatedAt = t0.Add(time.Hour) // ignored
	upd.UpdatedAt = t0.Add(2 * time.Minute)
	updated, err := s.UpdateUpstream(ctx, upd, 1)
	if err != nil {
		t.Fatalf("UpdateUpstream: %v", err)
	}
	want = store.Upstream{Name: "github", Version: 2, Spec: upd.Spec, Source: store.UpstreamFromConfig, CreatedAt: t0, UpdatedAt: t0.Add(2 * time.Minute)}
	if diff := cmp.Diff(want, updated); diff != "" {
		t.Errorf("UpdateUpstream (-want +got):\n%s", diff)
	}
	_, err = s.UpdateUpstream(ctx, upd, 1)
	var vc *store.VersionConflictError
	if !errors.As(err, &vc) || vc.Current != 2 || vc.Expected != 1 || !errors.Is(err, store.ErrVersionConflict) {
		t.Errorf("stale UpdateUpstream = %v, want a version conflict at current version 2", err)
	}
	if _, err := s.UpdateUpstream(ctx, upstreamRecord("nobody", "", t0), 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateUpstream unknown = %v, want ErrNotFound", err)
	}

	// Removing an upstream removes its pins: registered again, it starts
	// with none.
	if _, err := s.CreateUpstreamTool(ctx, toolPin("github", "search", "sha256:a", t0)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUpstream(ctx, "github", t0.Add(3*time.Minute)); err != nil {
		t.Fatalf("DeleteUpstream: %v", err)
	}
	if err := s.DeleteUpstream(ctx, "github", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteUpstream twice = %v, want ErrNotFound", err)
	}
	if _, err := s.GetUpstream(ctx, "github"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUpstream after delete = %v, want ErrNotFound", err)
	}
	if _, err := s.CreateUpstream(ctx, upstreamRecord("github", "https://mcp.github.example/mcp", t0)); err != nil {
		t.Fatal(err)
	}
	if pins, err := s.ListUpstreamTools(ctx, "github"); err != nil || len(pins) != 0 {
		t.Errorf("pins of a re-registered upstream = %v, %v; want none", pins, err)
	}
	if _, err := s.GetUpstreamTool(ctx, "github", "search"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUpstreamTool after the upstream was removed = %v, want ErrNotFound", err)
	}
}

func testUpstreamTools(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	for _, name := range []string{"gh", "fs"} {
		if _, err := s.CreateUpstream(ctx, upstreamRecord(name, "", t0)); err != nil {
			t.Fatal(err)
		}
	}
	pin := toolPin("gh", "search", "sha256:one", t0)
	created, err := s.CreateUpstreamTool(ctx, pin)
	if err != nil {
		t.Fatalf("CreateUpstreamTool: %v", err)
	}
	want := pin
	want.Version = 1
	if diff := cmp.Diff(want, created); diff != "" {
		t.Errorf("CreateUpstreamTool (-want +got):\n%s", diff)
	}
	if created.Drifted() {
		t.Error("a new pin is drifted")
	}
	if _, err := s.CreateUpstreamTool(ctx, toolPin("gh", "search", "sha256:two", t0)); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateUpstreamTool twice = %v, want ErrExists", err)
	}
	if _, err := s.CreateUpstreamTool(ctx, toolPin("nobody", "search", "sha256:one", t0)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateUpstreamTool for an unknown upstream = %v, want ErrNotFound", err)
	}
	// The same tool name at another upstream is another pin.
	if _, err := s.CreateUpstreamTool(ctx, toolPin("fs", "search", "sha256:fs", t0)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUpstreamTool(ctx, toolPin("gh", "issues", "sha256:iss", t0)); err != nil {
		t.Fatal(err)
	}

	got, err := s.GetUpstreamTool(ctx, "gh", "search")
	if err != nil {
		t.Fatalf("GetUpstreamTool: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetUpstreamTool (-want +got):\n%s", diff)
	}
	if _, err := s.GetUpstreamTool(ctx, "gh", "nothing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUpstreamTool unknown = %v, want ErrNotFound", err)
	}

	// Drift: a different definition seen; FirstSeenAt is kept.
	drift := got
	drift.SeenHash, drift.SeenAt = "sha256:two", t0.Add(time.Minute)
	drift.FirstSeenAt = t0.Add(time.Hour) // ignored
	updated, err := s.UpdateUpstreamTool(ctx, drift, 1)
	if err != nil {
		t.Fatalf("UpdateUpstreamTool: %v", err)
	}
	want = store.UpstreamTool{Upstream: "gh", Tool: "search", Version: 2, ApprovedHash: "sha256:one", ApprovedAt: t0,
		SeenHash: "sha256:two", SeenAt: t0.Add(time.Minute), FirstSeenAt: t0}
	if diff := cmp.Diff(want, updated); diff != "" {
		t.Errorf("UpdateUpstreamTool (-want +got):\n%s", diff)
	}
	if !updated.Drifted() {
		t.Error("a pin seen with another hash is not drifted")
	}
	_, err = s.UpdateUpstreamTool(ctx, drift, 1)
	var vc *store.VersionConflictError
	if !errors.As(err, &vc) || vc.Current != 2 {
		t.Errorf("stale UpdateUpstreamTool = %v, want a version conflict at current version 2", err)
	}
	if _, err := s.UpdateUpstreamTool(ctx, toolPin("gh", "nothing", "h", t0), 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateUpstreamTool unknown = %v, want ErrNotFound", err)
	}

	list, err := s.ListUpstreamTools(ctx, "gh")
	if err != nil {
		t.Fatalf("ListUpstreamTools: %v", err)
	}
	var tools []string
	for _, p := range list {
		tools = append(tools, fmt.Sprintf("%s/%s@%d", p.Upstream, p.Tool, p.Version))
	}
	if diff := cmp.Diff([]string{"gh/issues@1", "gh/search@2"}, tools); diff != "" {
		t.Errorf("ListUpstreamTools (-want +got):\n%s", diff)
	}
	if list, err := s.ListUpstreamTools(ctx, "nobody"); err != nil || len(list) != 0 {
		t.Errorf("ListUpstreamTools of an unknown upstream = %v, %v; want none", list, err)
	}
	// Removing one upstream leaves the other's pins.
	if err := s.DeleteUpstream(ctx, "gh", t0); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetUpstreamTool(ctx, "fs", "search"); err != nil || got.ApprovedHash != "sha256:fs" {
		t.Errorf("fs's pin after removing gh = %+v, %v", got, err)
	}
}

// Replicas seeing a new tool at once agree: exactly one pin is created,
// the others get ErrExists and read the winner's.
func testUpstreamToolFirstSightRace(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	open := newDB(t, Options{})
	replicas := []store.Store{open(t), open(t)}
	if _, err := replicas[0].CreateUpstream(ctx, upstreamRecord("gh", "", t0)); err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		tool := fmt.Sprintf("tool%d", round)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var winners []string
		start := make(chan struct{})
		for w := range 8 {
			s := replicas[w%2]
			wg.Go(func() {
				<-start
				hash := fmt.Sprintf("sha256:%d", w)
				p, err := s.CreateUpstreamTool(ctx, toolPin("gh", tool, hash, t0))
				switch {
				case err == nil:
					mu.Lock()
					winners = append(winners, p.ApprovedHash)
					mu.Unlock()
				case !errors.Is(err, store.ErrExists):
					t.Errorf("round %d: worker %d: %v", round, w, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("round %d: %d sightings created the pin (%v), want exactly 1", round, len(winners), winners)
		}
		for i, s := range replicas {
			got, err := s.GetUpstreamTool(ctx, "gh", tool)
			if err != nil || got.ApprovedHash != winners[0] || got.Version != 1 {
				t.Errorf("round %d: replica %d reads %+v, %v; want the winner's hash %s at version 1", round, i, got, err, winners[0])
			}
		}
	}
}

func testUpstreamFeed(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	ch, err := s.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUpstream(ctx, upstreamRecord("gh", "", t0))
	if err != nil {
		t.Fatal(err)
	}
	u.UpdatedAt = t0.Add(time.Second)
	if _, err := s.UpdateUpstream(ctx, u, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateUpstream(ctx, u, 1); err == nil {
		t.Fatal("stale update succeeded")
	}
	pin, err := s.CreateUpstreamTool(ctx, toolPin("gh", "search", "sha256:a", t0.Add(2*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUpstreamTool(ctx, pin); err == nil {
		t.Fatal("second pin succeeded")
	}
	pin.SeenHash, pin.SeenAt = "sha256:b", t0.Add(3*time.Second)
	if _, err := s.UpdateUpstreamTool(ctx, pin, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUpstream(ctx, "gh", t0.Add(4*time.Second)); err != nil {
		t.Fatal(err)
	}
	// Failed writes emit nothing; pins' changes carry the upstream's name
	// and the pin's version.
	for _, want := range []store.Change{
		{Kind: store.KindUpstream, Key: "gh", Version: 1, At: t0},
		{Kind: store.KindUpstream, Key: "gh", Version: 2, At: t0.Add(time.Second)},
		{Kind: store.KindUpstreamTool, Key: "gh", Version: 1, At: t0.Add(2 * time.Second)},
		{Kind: store.KindUpstreamTool, Key: "gh", Version: 2, At: t0.Add(3 * time.Second)},
		{Kind: store.KindUpstream, Key: "gh", Version: 3, At: t0.Add(4 * time.Second)},
	} {
		got := next(t, ch)
		if got.Kind != want.Kind || got.Key != want.Key || got.Version != want.Version || !got.At.Equal(want.At) {
			t.Errorf("change = %+v, want %+v", got, want)
		}
	}
}
