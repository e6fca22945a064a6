package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/bench/internal/child"
	"github.com/parleyhq/parley/bench/internal/mcpclient"
	"github.com/parleyhq/parley/bench/internal/shipped"
	"github.com/parleyhq/parley/store/postgres/pgtest"
)

// The servers run in children of the test binary, as they do of the
// command.
func TestMain(m *testing.M) {
	child.Dispatch(serveFuncs)
	os.Exit(m.Run())
}

// checkResults fails unless every scenario made calls without errors, with
// sane numbers and the protocol of its mode.
func checkResults(t *testing.T, rep *Report) {
	t.Helper()
	for _, r := range rep.Results {
		if r.Calls <= 0 || r.Errors != 0 || r.RPS <= 0 {
			t.Errorf("%s %s %s: %d calls, %d errors (%s), %.0f req/s", r.Mode, r.Server, r.Tool, r.Calls, r.Errors, r.FirstError, r.RPS)
		}
		if r.P50Ms <= 0 || r.P99Ms < r.P50Ms || r.MaxMs < r.P99Ms {
			t.Errorf("%s %s %s: p50 %.3f, p99 %.3f, max %.3f ms", r.Mode, r.Server, r.Tool, r.P50Ms, r.P99Ms, r.MaxMs)
		}
		want := mcpclient.StatelessVersion
		if r.Mode == mcpclient.ModeSession {
			want = mcpclient.SessionVersion
		}
		if r.Protocol != want {
			t.Errorf("%s %s: negotiated %s, want %s", r.Mode, r.Server, r.Protocol, want)
		}
	}
	// Like for like: the bare server answers get_ticket with the bytes
	// the gateway does (it holds the gateway's tickets); every server
	// answers.
	for s, n := range rep.ResponseBytes {
		if n == 0 {
			t.Errorf("%s: empty get_ticket result", s)
		}
	}
	if b, ok := rep.ResponseBytes[serverBare]; ok && b != rep.ResponseBytes[serverParley] {
		t.Errorf("get_ticket result sizes: %v", rep.ResponseBytes)
	}
}

// The whole tool, briefly: the bare server and the gateway with auth off
// and on, each in a child process built by app.Build, both modes, every
// scenario (a fixed rate and idle sessions too), 2 clients.
func TestRunEverything(t *testing.T) {
	rep, err := Run(t.Context(), Config{
		Clients: 2, Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond, Rounds: 2,
		Modes: []Mode{mcpclient.ModeStateless, mcpclient.ModeSession}, Tickets: 10, Rate: 50, IdleSessions: 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(rep.Servers, ","), "bare,parley,parley-auth"; got != want {
		t.Errorf("servers %s, want %s", got, want)
	}
	// stateless: get ×3, save ×2, get at a rate ×3; session: and open ×3.
	if got, want := len(rep.Results), 8+11; got != want {
		t.Fatalf("%d results, want %d: %+v", got, want, rep.Results)
	}
	checkResults(t, rep)
	for _, r := range rep.Results {
		if r.Seconds < 0.25 || r.Seconds > 5 {
			t.Errorf("%s %s %s: measured %.2fs, want about 0.3s", r.Mode, r.Server, r.Tool, r.Seconds)
		}
	}
	if len(rep.Idle) != 3 {
		t.Fatalf("idle: %+v", rep.Idle)
	}
	for _, i := range rep.Idle {
		if i.Errors != 0 || i.RSSAfterMiB <= 0 {
			t.Errorf("idle %+v", i)
		}
	}
	var text bytes.Buffer
	rep.WriteText(&text)
	for _, want := range []string{"open_session", "save_ticket", "50/s", "idle sessions opened"} {
		if !bytes.Contains(text.Bytes(), []byte(want)) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
}

// The command with -requests and -json, against an already running
// gateway (-target), here one built by app.Build in this process: the
// tickets are seeded over MCP.
func TestCommandTargetJSON(t *testing.T) {
	g, err := shipped.Start(t.Context(), shipped.Config("sqlite://"+filepath.Join(t.TempDir(), "parley.db")), shipped.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Error(err)
		}
	})
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"-target", g.MCPURL(), "-target-pid", "0", "-clients", "2", "-requests", "20", "-warmup", "0",
		"-tickets", "4", "-mode", "stateless", "-json", "-q"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s\nstdout:\n%s", code, stderr.String(), stdout.String())
	}
	var rep Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("decode -json output: %v\n%s", err, stdout.String())
	}
	checkResults(t, &rep)
	if len(rep.Results) != 3 { // get bare, get parley, save parley
		t.Errorf("%d results, want 3", len(rep.Results))
	}
	for _, r := range rep.Results {
		if r.Calls != 20 {
			t.Errorf("%s %s: %d calls, want -requests 20", r.Server, r.Tool, r.Calls)
		}
	}
	if rep.Target != g.MCPURL() {
		t.Errorf("report target %q, want %q", rep.Target, g.MCPURL())
	}
	tk, err := g.Workspace.GetTicket(t.Context(), "LOAD-00003")
	if err != nil || tk.Customer != "ACME-00003" {
		t.Errorf("seeded ticket: %+v, %v", tk, err)
	}
}

// -compare auth: the gateway with auth on against itself with auth off.
func TestCommandCompareAuth(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"-compare", "auth", "-clients", "2", "-requests", "20", "-warmup", "0",
		"-rounds", "1", "-tickets", "4", "-mode", "session", "-no-save", "-json", "-q", "-postgres-url", ""}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s\nstdout:\n%s", code, stderr.String(), stdout.String())
	}
	var rep Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("decode -json output: %v\n%s", err, stdout.String())
	}
	if got := strings.Join(rep.Servers, ","); got != "parley,parley-auth" {
		t.Errorf("servers %s", got)
	}
	if len(rep.Results) != 4 { // get and open, each server
		t.Errorf("%d results, want 4", len(rep.Results))
	}
	checkResults(t, &rep)
}

func TestCommandRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-clients", "0"},
		{"-mode", "both-ish"},
		{"-store", "mysql"},
		{"-store", "postgres", "-postgres-url", ""},
		{"-clients", "8", "-tickets", "4"},
		{"-duration", "0"},
		{"-target", "http://127.0.0.1:1/mcp", "-store", "postgres"},
		{"-target", "http://127.0.0.1:1/mcp", "-auth", "on"},
		{"-compare", "nothing"},
		{"-compare", "auth", "-target", "http://127.0.0.1:1/mcp"},
		{"-auth", "maybe"},
		{"-audit=false"},
		{"-rate", "-1"},
		{"stray"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr %q)", args, code, stderr.String())
		}
	}
}

// Against PostgreSQL when the test server is there (.ci/run sets it), in a
// schema of its own.
func TestRunPostgres(t *testing.T) {
	url := pgtest.NewSchema(t)
	rep, err := Run(t.Context(), Config{
		Clients: 2, Requests: 20, Rounds: 1, Modes: []Mode{mcpclient.ModeSession}, Tickets: 4,
		Store: "postgres", PostgresURL: url, Auth: authOff, NoOpen: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 3 {
		t.Errorf("%d results, want 3", len(rep.Results))
	}
	checkResults(t, rep)
}
