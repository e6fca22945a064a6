package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/bench/internal/child"
	"github.com/parleyhq/parley/bench/internal/mcpclient"
)

// The servers run in children of the test binary, as they do of the
// command.
func TestMain(m *testing.M) {
	child.Dispatch(serveFuncs)
	os.Exit(m.Run())
}

// scenarioKey names a result for comparing the set of scenarios run.
func scenarioKey(mode Mode, path, tool, upstreamProtocol string, rate float64) string {
	return fmt.Sprintf("%s %s %s via %s at %s", mode, path, tool, upstreamProtocol, rateText(rate))
}

// checkReport fails unless the report holds exactly the scenarios want
// (scenarioKey) and the comparisons wantCmp, each complete: calls without
// errors, latencies, the hosts' protocol, both processes' CPU read, and
// every comparison's figures and verdicts consistent with its scenarios.
func checkReport(t *testing.T, rep *Report, want, wantCmp []string) {
	t.Helper()
	if d := cmp.Diff(map[string]string{upstreamStateless: mcpclient.StatelessVersion, upstreamSessions: mcpclient.SessionVersion}, rep.Generations); d != "" {
		t.Errorf("generations Parley speaks to the upstream (-want +got):\n%s", d)
	}
	var got []string
	for _, r := range rep.Results {
		got = append(got, scenarioKey(r.Mode, r.Path, r.Tool, r.UpstreamProtocol, r.Rate))
		if r.Calls <= 0 || r.Errors != 0 || r.RPS <= 0 {
			t.Errorf("%s %s %s: %d calls, %d errors (%s), %.0f req/s", r.Mode, r.Path, r.Tool, r.Calls, r.Errors, r.FirstError, r.RPS)
		}
		if r.P50Ms <= 0 || r.P99Ms < r.P50Ms || r.MaxMs < r.P99Ms {
			t.Errorf("%s %s %s: p50 %.3f, p99 %.3f, max %.3f ms", r.Mode, r.Path, r.Tool, r.P50Ms, r.P99Ms, r.MaxMs)
		}
		wantProto := mcpclient.StatelessVersion
		if r.Mode == mcpclient.ModeSession {
			wantProto = mcpclient.SessionVersion
		}
		if r.Protocol != wantProto {
			t.Errorf("%s %s %s: the hosts negotiated %s, want %s", r.Mode, r.Path, r.Tool, r.Protocol, wantProto)
		}
		// CPU time comes in 10 ms ticks: a short run may read 0, but it
		// must have been read, and never be negative.
		if !r.CPURead || r.UpstreamCPUPerCallUs < 0 || r.ParleyCPUPerCallUs < 0 || r.ParleyCores < 0 {
			t.Errorf("%s %s %s: CPU read %v, upstream %.0f µs, parley %.0f µs, parley cores %.2f",
				r.Mode, r.Path, r.Tool, r.CPURead, r.UpstreamCPUPerCallUs, r.ParleyCPUPerCallUs, r.ParleyCores)
		}
		if r.Path == pathDirect && r.ParleyCPUPerCallUs != 0 {
			t.Errorf("%s direct: Parley CPU per call %.0f µs: the calls did not go through it", r.Mode, r.ParleyCPUPerCallUs)
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("scenarios (-want +got):\n%s", d)
	}
	got = nil
	for _, c := range rep.Comparisons {
		got = append(got, fmt.Sprintf("%s at %s via %s", c.Mode, rateText(c.Rate), c.UpstreamProtocol))
		if c.P99Ms <= 0 || c.DirectP99Ms <= 0 || c.P99AddedMs != c.P99Ms-c.DirectP99Ms {
			t.Errorf("%+v: p99 added is not through − directly", c)
		}
		if c.P99Met != (c.P99AddedMs < TargetP99AddedMs) {
			t.Errorf("%+v: p99 verdict", c)
		}
		if c.UpstreamCPUPerCallUs > 0 && (c.CPURatio != c.ParleyCPUPerCallUs/c.UpstreamCPUPerCallUs || c.CPUMet != (c.CPURatio <= TargetCPURatio)) {
			t.Errorf("%+v: CPU ratio or its verdict", c)
		}
		if c.RPS <= 0 {
			t.Errorf("%+v: no throughput ratio", c)
		}
	}
	if d := cmp.Diff(wantCmp, got); d != "" {
		t.Errorf("comparisons (-want +got):\n%s", d)
	}
}

// The whole tool, briefly: both host generations, directly and through
// Parley to the upstream in both generations, as fast as the clients go
// and at a fixed rate, 2 clients.
func TestRunEverything(t *testing.T) {
	rep, err := Run(t.Context(), Config{
		Clients: 2, Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond, Rounds: 2, Rate: 40,
	})
	if err != nil {
		t.Fatal(err)
	}
	var want, wantCmp []string
	for _, rate := range []float64{0, 40} {
		for _, m := range []struct {
			mode Mode
			gen  string
		}{{mcpclient.ModeStateless, mcpclient.StatelessVersion}, {mcpclient.ModeSession, mcpclient.SessionVersion}} {
			want = append(want,
				scenarioKey(m.mode, pathDirect, "echo", m.gen, rate),
				scenarioKey(m.mode, pathParley, "echo", mcpclient.StatelessVersion, rate),
				scenarioKey(m.mode, pathParley, "sessions_echo", mcpclient.SessionVersion, rate))
			wantCmp = append(wantCmp,
				fmt.Sprintf("%s at %s via %s", m.mode, rateText(rate), mcpclient.StatelessVersion),
				fmt.Sprintf("%s at %s via %s", m.mode, rateText(rate), mcpclient.SessionVersion))
		}
	}
	checkReport(t, rep, want, wantCmp)
	for _, r := range rep.Results {
		if r.Seconds < 0.25 || r.Seconds > 5 {
			t.Errorf("%s %s %s: measured %.2fs, want about 0.3s", r.Mode, r.Path, r.Tool, r.Seconds)
		}
	}
	var text bytes.Buffer
	rep.WriteText(&text)
	for _, want := range []string{"sessions_echo", "40/s", "Parley ÷ upstream CPU per call", "p99 added", "upstream spoken to in 2025-11-25"} {
		if !bytes.Contains(text.Bytes(), []byte(want)) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
}

// The command with auth on and -json: one host generation, one upstream
// generation, no fixed rate.
func TestCommandAuthJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"-auth", "on", "-clients", "2", "-duration", "200ms", "-warmup", "0", "-rounds", "1",
		"-mode", "session", "-upstream", "stateless", "-rate", "0", "-json", "-q"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s\nstdout:\n%s", code, stderr.String(), stdout.String())
	}
	var rep Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("decode -json output: %v\n%s", err, stdout.String())
	}
	if !rep.Auth {
		t.Error("report says auth off")
	}
	checkReport(t, &rep,
		[]string{scenarioKey(mcpclient.ModeSession, pathDirect, "echo", mcpclient.SessionVersion, 0), scenarioKey(mcpclient.ModeSession, pathParley, "echo", mcpclient.StatelessVersion, 0)},
		[]string{fmt.Sprintf("%s at max via %s", mcpclient.ModeSession, mcpclient.StatelessVersion)})
}

func TestCommandRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-clients", "0"},
		{"-mode", "both-ish"},
		{"-upstream", "stdio"},
		{"-auth", "maybe"},
		{"-duration", "0"},
		{"-rounds", "0"},
		{"-rate", "-1"},
		{"-warmup", "-1s"},
		{"-text-bytes", "8"},
		{"stray"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr %q)", args, code, stderr.String())
		}
	}
}

// -echo-write reaches the upstream's child (and only it), whose echo then
// lacks readOnlyHint.
func TestEchoWriteArgs(t *testing.T) {
	got := map[string][]string{}
	for _, write := range []bool{false, true} {
		cfg := Config{EchoWrite: write}
		for _, name := range []string{serverUpstream, serverParley} {
			got[fmt.Sprint(name, " write=", write)] = cfg.childArgs(name)
		}
	}
	want := map[string][]string{
		serverUpstream + " write=false": nil, serverParley + " write=false": nil,
		serverUpstream + " write=true": {"-echo-write"}, serverParley + " write=true": nil,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("childArgs (-want +got):\n%s", diff)
	}
}
