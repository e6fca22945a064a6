package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/parleyhq/parley/store/postgres/pgtest"
)

// checkReport fails unless every scenario made calls without errors and
// has sane numbers, and each mode has its ratio.
func checkReport(t *testing.T, rep *Report, modes, scenariosPerMode int) {
	t.Helper()
	if got, want := len(rep.Results), modes*scenariosPerMode; got != want {
		t.Fatalf("%d results, want %d: %+v", got, want, rep.Results)
	}
	for _, r := range rep.Results {
		if r.Calls <= 0 || r.Errors != 0 || r.RPS <= 0 {
			t.Errorf("%s %s %s: %d calls, %d errors (%s), %.0f req/s", r.Mode, r.Server, r.Tool, r.Calls, r.Errors, r.FirstError, r.RPS)
		}
		if r.P50Ms <= 0 || r.P99Ms < r.P50Ms || r.MaxMs < r.P99Ms {
			t.Errorf("%s %s %s: p50 %.3f, p99 %.3f, max %.3f ms", r.Mode, r.Server, r.Tool, r.P50Ms, r.P99Ms, r.MaxMs)
		}
		want := statelessVersion
		if r.Mode == ModeSession {
			want = sessionVersion
		}
		if r.Protocol != want {
			t.Errorf("%s %s: negotiated %s, want %s", r.Mode, r.Server, r.Protocol, want)
		}
	}
	if len(rep.Ratios) != modes {
		t.Fatalf("%d ratios, want %d", len(rep.Ratios), modes)
	}
	for _, ra := range rep.Ratios {
		if ra.Ratio <= 0 || ra.ParleyRPS <= 0 || ra.BareRPS <= 0 {
			t.Errorf("ratio %+v", ra)
		}
	}
	// Like for like: the two servers answer get_ticket with results of the
	// same size.
	if p, b := rep.ResponseBytes[serverParley], rep.ResponseBytes[serverBare]; p == 0 || p != b {
		t.Errorf("get_ticket result sizes: parley %d bytes, bare %d", p, b)
	}
}

// The whole tool, briefly: in-process Parley over SQLite and the bare
// server, both modes, 2 clients, a few hundred milliseconds per scenario.
func TestRunBothModes(t *testing.T) {
	rep, err := Run(t.Context(), Config{
		Clients: 2, Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond, Rounds: 2,
		Modes: []Mode{ModeStateless, ModeSession}, Tickets: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, rep, 2, 3)
	for _, r := range rep.Results {
		if r.Seconds < 0.25 || r.Seconds > 5 {
			t.Errorf("%s %s %s: measured %.2fs, want about 0.3s", r.Mode, r.Server, r.Tool, r.Seconds)
		}
	}
	var text bytes.Buffer
	rep.WriteText(&text)
	for _, want := range []string{"stateless get_ticket: parley/bare", "session get_ticket: parley/bare", "save_ticket"} {
		if !bytes.Contains(text.Bytes(), []byte(want)) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
}

// The command with -requests and -json, against an already running
// gateway (-target): the tickets are seeded over MCP.
func TestCommandTargetJSON(t *testing.T) {
	cfg := Config{Store: "sqlite"}
	p, err := startParley(t.Context(), &cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)

	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"-target", p.url, "-clients", "2", "-requests", "20", "-warmup", "0",
		"-tickets", "4", "-mode", "stateless", "-json", "-q"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s\nstdout:\n%s", code, stderr.String(), stdout.String())
	}
	var rep Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("decode -json output: %v\n%s", err, stdout.String())
	}
	checkReport(t, &rep, 1, 3)
	for _, r := range rep.Results {
		if r.Calls != 20 {
			t.Errorf("%s %s: %d calls, want -requests 20", r.Server, r.Tool, r.Calls)
		}
	}
	if rep.Target != p.url {
		t.Errorf("report target %q, want %q", rep.Target, p.url)
	}
	// The seeded tickets are on the gateway, as the tool wrote them.
	tk, err := p.ws.GetTicket(t.Context(), "LOAD-00003")
	if err != nil || tk.Customer != "ACME-00003" {
		t.Errorf("seeded ticket: %+v, %v", tk, err)
	}
}

func TestCommandRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-clients", "0"},
		{"-mode", "both-ish"},
		{"-store", "mysql"},
		{"-store", "postgres"},
		{"-clients", "8", "-tickets", "4"},
		{"-duration", "0"},
		{"-target", "http://127.0.0.1:1/mcp", "-store", "postgres"},
		{"-compare", "nothing"},
		{"-compare", "auth", "-target", "http://127.0.0.1:1/mcp"},
		{"-no-token-cache"},
		{"-audit"},
		{"stray"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr %q)", args, code, stderr.String())
		}
	}
}

// -compare auth, briefly: Parley with auth off and on over one SQLite
// store, a local OIDC issuer, both modes, 2 clients. Setup itself checks
// that auth is enforced on the auth-on endpoint; the results show that
// every call with a token succeeded there.
func TestRunAuth(t *testing.T) {
	rep, err := Run(t.Context(), Config{
		Clients: 2, Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond, Rounds: 2,
		Modes: []Mode{ModeStateless, ModeSession}, Tickets: 10, Compare: compareAuth, Events: eventsMemory,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkAuthReport(t, rep, 2)

	var text bytes.Buffer
	rep.WriteText(&text)
	for _, want := range []string{"stateless get_ticket: auth on/off", "session get_ticket: auth on/off", "auth-on", "auth-off", "token cache on"} {
		if !bytes.Contains(text.Bytes(), []byte(want)) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
}

// The command with -compare auth -no-token-cache -audit -json: every
// request verifies its token's signature, every tool call is audited; the
// durable event store.
func TestCommandAuthNoTokenCacheAudit(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"-compare", "auth", "-no-token-cache", "-audit", "-clients", "2", "-requests", "20", "-warmup", "0",
		"-rounds", "1", "-tickets", "4", "-mode", "session", "-json", "-q"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s\nstdout:\n%s", code, stderr.String(), stdout.String())
	}
	var rep Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("decode -json output: %v\n%s", err, stdout.String())
	}
	checkAuthReport(t, &rep, 1)
	if rep.TokenCache == nil || *rep.TokenCache || !rep.Audit || rep.Events != eventsDurable {
		t.Errorf("report: token cache %v, audit %t, events %q; want false, true, durable", rep.TokenCache, rep.Audit, rep.Events)
	}
	for _, r := range rep.Results {
		if r.Calls != 20 {
			t.Errorf("%s %s: %d calls, want -requests 20", r.Server, r.Tool, r.Calls)
		}
	}
}

// checkAuthReport fails unless both servers' get_ticket made calls without
// errors in every mode, with sane numbers, and each mode has its ratio.
func checkAuthReport(t *testing.T, rep *Report, modes int) {
	t.Helper()
	if got, want := len(rep.Results), modes*2; got != want {
		t.Fatalf("%d results, want %d: %+v", got, want, rep.Results)
	}
	for i, r := range rep.Results {
		if want := []string{serverAuthOff, serverAuthOn}[i%2]; r.Server != want || r.Tool != toolGet {
			t.Errorf("result %d: %s %s, want %s %s", i, r.Server, r.Tool, want, toolGet)
		}
		if r.Calls <= 0 || r.Errors != 0 || r.RPS <= 0 {
			t.Errorf("%s %s %s: %d calls, %d errors (%s), %.0f req/s", r.Mode, r.Server, r.Tool, r.Calls, r.Errors, r.FirstError, r.RPS)
		}
		if r.P50Ms <= 0 || r.P99Ms < r.P50Ms || r.MaxMs < r.P99Ms {
			t.Errorf("%s %s: p50 %.3f, p99 %.3f, max %.3f ms", r.Mode, r.Server, r.P50Ms, r.P99Ms, r.MaxMs)
		}
		want := statelessVersion
		if r.Mode == ModeSession {
			want = sessionVersion
		}
		if r.Protocol != want {
			t.Errorf("%s %s: negotiated %s, want %s", r.Mode, r.Server, r.Protocol, want)
		}
	}
	if len(rep.Ratios) != 0 || len(rep.AuthRatios) != modes {
		t.Fatalf("%d ratios and %d auth ratios, want 0 and %d", len(rep.Ratios), len(rep.AuthRatios), modes)
	}
	for _, ra := range rep.AuthRatios {
		if ra.Ratio <= 0 || ra.OnRPS <= 0 || ra.OffRPS <= 0 || ra.OnP99Ms <= 0 || ra.OffP99Ms <= 0 || ra.Target != AuthTargetRatio {
			t.Errorf("auth ratio %+v", ra)
		}
	}
	if rep.Compare != compareAuth {
		t.Errorf("report compare %q", rep.Compare)
	}
	if on, off := rep.ResponseBytes[serverAuthOn], rep.ResponseBytes[serverAuthOff]; on == 0 || on != off {
		t.Errorf("get_ticket result sizes: auth on %d bytes, off %d", on, off)
	}
}

// Against PostgreSQL when the test server is there (.ci/run sets it), in a
// schema of its own.
func TestRunPostgres(t *testing.T) {
	url := pgtest.NewSchema(t)
	rep, err := Run(t.Context(), Config{
		Clients: 2, Requests: 20, Rounds: 1, Modes: []Mode{ModeSession}, Tickets: 4,
		Store: "postgres", PostgresURL: url,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, rep, 1, 3)
}
