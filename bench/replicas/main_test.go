package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/bench/internal/child"
	"github.com/parleyhq/parley/bench/internal/mcpclient"
	"github.com/parleyhq/parley/store/postgres/pgtest"
)

// The gateways run in children of the test binary, as they do of the
// command.
func TestMain(m *testing.M) {
	child.Dispatch(serveFuncs)
	os.Exit(m.Run())
}

const nginxPath = defaultNginx

// needNginx skips the test without Debian's nginx (fails it under CI,
// which installs it: .ci/run).
func needNginx(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(nginxPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("nginx is not installed (%v); CI is set, so this test must run", err)
		}
		t.Skipf("nginx is not installed (apt-get install nginx): %v", err)
	}
}

// landed is what a slice says of where its sessions were opened and its
// calls answered; calls are compared as "answered by" (true if > 0),
// since round robin splits them in no fixed proportion under concurrency.
type landed struct {
	Replica  string
	Opened   int64
	Answered bool
}

// checkSlices fails unless every slice made its calls without error in
// session mode, with latencies, and its sessions were opened and its
// calls answered where the slice says.
func checkSlices(t *testing.T, rep *Report, clients int, calls int64) {
	t.Helper()
	half := int64(clients / 2)
	want := map[string][]landed{
		sliceDirect:   {{"a", int64(clients), true}, {"b", 0, false}},
		sliceSplit:    {{"a", half, true}, {"b", half, true}},
		sliceNginxOne: {{"a", int64(clients), true}, {"b", 0, false}},
		slicePinned:   {{"a", int64(clients), true}, {"b", 0, true}},
	}
	for _, s := range rep.Slices {
		if s.Calls != calls || s.Errors != 0 || s.RPS <= 0 {
			t.Errorf("%s: %d calls, %d errors (%s), %.0f req/s; want %d calls without error", s.Name, s.Calls, s.Errors, s.FirstError, s.RPS, calls)
		}
		if s.P50Ms <= 0 || s.P99Ms < s.P50Ms || s.MaxMs < s.P99Ms {
			t.Errorf("%s: p50 %.3f, p99 %.3f, max %.3f ms", s.Name, s.P50Ms, s.P99Ms, s.MaxMs)
		}
		if s.Protocol != mcpclient.SessionVersion {
			t.Errorf("%s: negotiated %s, want %s", s.Name, s.Protocol, mcpclient.SessionVersion)
		}
		var got []landed
		var sum int64
		opened := int64(0)
		for _, p := range s.PerReplica {
			got = append(got, landed{p.Replica, p.Opened, p.Calls > 0})
			sum += p.Calls
			opened += p.Opened
		}
		if sum != s.Calls {
			t.Errorf("%s: the replicas answered %d calls between them, the clients made %d", s.Name, sum, s.Calls)
		}
		if w, ok := want[s.Name]; ok {
			if diff := cmp.Diff(w, got); diff != "" {
				t.Errorf("%s: sessions opened and calls answered by replica (-want +got):\n%s", s.Name, diff)
			}
			continue
		}
		// balanced: nginx opens the sessions where it likes, and both
		// replicas answer calls.
		if opened != int64(clients) || len(got) != 2 || !got[0].Answered || !got[1].Answered {
			t.Errorf("%s: %+v: want %d sessions opened and calls answered by both", s.Name, got, clients)
		}
	}
}

// The whole tool, briefly: two gateways in child processes on one SQLite
// file, nginx in front, every slice, and idle sessions.
func TestRunEverything(t *testing.T) {
	needNginx(t)
	rep, err := Run(t.Context(), Config{
		Clients: 2, Requests: 40, Rounds: 2, Warmup: 50 * time.Millisecond, CallTimeout: 10 * time.Second,
		Tickets: 5, IdleSessions: 20, Rebuilds: 10, Nginx: nginxPath, Keepalive: 8,
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range rep.Slices {
		names = append(names, s.Name)
	}
	if diff := cmp.Diff(allSlices, names); diff != "" {
		t.Fatalf("slices (-want +got):\n%s", diff)
	}
	checkSlices(t, rep, 2, 40)
	if s := rep.Slices[0]; s.BalancerCPUPerCallUs != 0 {
		t.Errorf("direct: nginx CPU %.0f µs a call counted, but the slice does not go through nginx", s.BalancerCPUPerCallUs)
	}
	// b answers pings of sessions a opened: it rebuilt them.
	if b := rep.Rebuilds; b == nil || b.Sessions != 10 || b.Errors != 0 || b.FirstP50Ms <= 0 || b.LaterP50Ms <= 0 {
		t.Errorf("rebuilds: %+v, want 10 sessions rebuilt on b without error", b)
	}
	i := rep.Idle
	if i == nil {
		t.Fatal("no idle sessions in the report")
	}
	if i.Errors != 0 || i.Sessions != 20 || i.Requests < 40 || len(i.PerReplica) != 2 {
		t.Fatalf("idle: %+v", i)
	}
	if opened := i.PerReplica[0].Opened + i.PerReplica[1].Opened; opened != 20 {
		t.Errorf("idle: the replicas opened %d sessions between them, want 20: %+v", opened, i.PerReplica)
	}
	for _, p := range i.PerReplica {
		if p.RSSAfterMiB <= 0 {
			t.Errorf("idle: %s: RSS %.1f MiB", p.Replica, p.RSSAfterMiB)
		}
	}
	var text bytes.Buffer
	rep.WriteText(&text)
	for _, want := range []string{"balanced", "pinned", "non-opener (b) ÷ opener (a)", "idle sessions opened", "holds all 20", "the rebuild"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
}

// The command with -json and one slice: pinned, whose sessions a opens
// and whose calls both replicas answer.
func TestCommandPinnedJSON(t *testing.T) {
	needNginx(t)
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"-slices", "pinned", "-clients", "4", "-requests", "30", "-rounds", "1", "-warmup", "0",
		"-tickets", "3", "-json", "-q"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s\nstdout:\n%s", code, stderr.String(), stdout.String())
	}
	var rep Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("decode -json output: %v\n%s", err, stdout.String())
	}
	if len(rep.Slices) != 1 || rep.Slices[0].Name != slicePinned {
		t.Fatalf("slices %+v, want pinned alone", rep.Slices)
	}
	checkSlices(t, &rep, 4, 30)
	if rep.Idle != nil {
		t.Errorf("idle sessions measured without -idle-sessions: %+v", rep.Idle)
	}
}

func TestCommandRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-clients", "0"},
		{"-rounds", "0"},
		{"-duration", "0"},
		{"-tickets", "0"},
		{"-idle-sessions", "-1"},
		{"-nginx-keepalive", "-1"},
		{"-rebuilds", "-1"},
		{"-load=false"},
		{"-slices", "direct,sideways"},
		{"-call-timeout", "-1s"},
		{"stray"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr %q)", args, code, stderr.String())
		}
	}
}

// On PostgreSQL when the test server is there (.ci/run sets it), in a
// schema of its own.
func TestRunPostgres(t *testing.T) {
	needNginx(t)
	url := pgtest.NewSchema(t)
	rep, err := Run(t.Context(), Config{
		Clients: 2, Requests: 20, Rounds: 1, Tickets: 3, // the zero Nginx and CallTimeout: the defaults
		PostgresURL: url, Slices: []string{sliceDirect, sliceBalanced},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Store != "postgres" || len(rep.Slices) != 2 {
		t.Fatalf("store %q, %d slices", rep.Store, len(rep.Slices))
	}
	checkSlices(t, rep, 2, 20)
}

func TestStatPPIDTicks(t *testing.T) {
	for _, tc := range []struct {
		line  string
		ppid  int
		ticks int64
		ok    bool
	}{
		{"42 (nginx) S 7 42 42 0 -1 4194560 100 0 0 0 12 30 0 0 20 0 1 0 100 0 0", 7, 42, true},
		{"43 (a (b) c) R 42 42 42 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 100 0 0", 42, 11, true},
		{"44 (short) S 1 2", 0, 0, false},
		{"no parenthesis", 0, 0, false},
	} {
		ppid, ticks, ok := statPPIDTicks([]byte(tc.line))
		if ppid != tc.ppid || ticks != tc.ticks || ok != tc.ok {
			t.Errorf("%q: %d, %d, %v; want %d, %d, %v", tc.line, ppid, ticks, ok, tc.ppid, tc.ticks, tc.ok)
		}
	}
}
