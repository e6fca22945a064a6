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
)

func TestMain(m *testing.M) {
	child.Dispatch(serveFuncs) // the servers' children are this test binary
	os.Exit(m.Run())
}

// checkReport fails unless every binding asked for was measured through
// both the proxy and the relay, without errors, with sane numbers, and
// every relayed task is in the store.
func checkReport(t *testing.T, rep *Report, bindings []string) {
	t.Helper()
	if diff := cmp.Diff(bindings, rep.Bindings); diff != "" {
		t.Errorf("bindings measured (-want +got):\n%s\nskipped: %v", diff, rep.Skipped)
	}
	var got, want []string
	for _, b := range bindings {
		want = append(want, b+" "+ViaProxy, b+" "+ViaRelay)
	}
	for _, r := range rep.Results {
		got = append(got, r.Binding+" "+r.Via)
		if r.Calls <= 0 || r.Errors != 0 || r.RPS <= 0 {
			t.Errorf("%s via %s: %d calls, %d errors (%s), %.0f req/s", r.Binding, r.Via, r.Calls, r.Errors, r.FirstError, r.RPS)
		}
		if r.P50Ms <= 0 || r.P99Ms < r.P50Ms || r.MaxMs < r.P99Ms {
			t.Errorf("%s via %s: p50 %.3f, p99 %.3f, max %.3f ms", r.Binding, r.Via, r.P50Ms, r.P99Ms, r.MaxMs)
		}
		if r.Seconds < 0.25 || r.Seconds > 5 {
			t.Errorf("%s via %s: measured %.2fs, want about 0.3s", r.Binding, r.Via, r.Seconds)
		}
		// Linux: the servers' CPU comes from /proc, and a process that
		// served calls used some.
		if r.CPURead != (rep.Platform[:5] == "linux") || (r.CPURead && (r.FrontCPUPerCallUs <= 0 || r.AgentCPUPerCallUs <= 0)) {
			t.Errorf("%s via %s: CPU read %v on %s, front %.0f µs/call, agent %.0f µs/call",
				r.Binding, r.Via, r.CPURead, rep.Platform, r.FrontCPUPerCallUs, r.AgentCPUPerCallUs)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
	if len(rep.Comparisons) != len(bindings) {
		t.Fatalf("comparisons %+v, want one per binding", rep.Comparisons)
	}
	for _, c := range rep.Comparisons {
		if c.Target != TargetCPURatio || c.RelayRPS <= 0 || c.ProxyRPS <= 0 || (rep.Platform[:5] == "linux" && c.CPURatio <= 0) {
			t.Errorf("comparison %+v", c)
		}
	}
	if !rep.AllRecorded || rep.RelayedFailed != 0 {
		t.Errorf("%d relayed calls (%d failed), %d relayed tasks recorded", rep.RelayedCalls, rep.RelayedFailed, rep.RelayedTasksRecorded)
	}
	if rep.RelayWarnings != 0 {
		t.Errorf("%d relay warnings, first: %s", rep.RelayWarnings, rep.FirstRelayWarning)
	}
}

// The core, briefly: 2 clients per target, 300ms each, every binding, the
// agent answering with completed tasks that the relay records.
func TestRunTasks(t *testing.T) {
	rep, err := Run(t.Context(), Config{Clients: 2, Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond, Rounds: 2})
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, rep, allBindings)
	if rep.Answer != AnswerTask {
		t.Errorf("answer %q", rep.Answer)
	}
	// Every relayed call's task is in the store: the measured ones, the
	// warm-ups' and the first call of each binding.
	var measured int64
	for _, r := range rep.Results {
		if r.Via == ViaRelay {
			measured += r.Calls
		}
	}
	if rep.RelayedTasksRecorded != rep.RelayedCalls || rep.RelayedCalls <= measured {
		t.Errorf("%d relayed tasks recorded, %d relayed calls, want as many, and more than the %d measured",
			rep.RelayedTasksRecorded, rep.RelayedCalls, measured)
	}
	var text bytes.Buffer
	rep.WriteText(&text)
	for _, want := range []string{"jsonrpc  proxy", "grpc     relay", "CPU per call relay/proxy", "all recorded"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
}

// The command, one binding, with the agent answering messages (nothing to
// record), -json and the servers' CPU profiles.
func TestCommandMessagesJSON(t *testing.T) {
	prefix := t.TempDir() + "/prof"
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"-clients", "2", "-duration", "300ms", "-warmup", "0", "-rounds", "1",
		"-bindings", "jsonrpc", "-answer", "message", "-server-cpuprofile", prefix, "-json", "-q"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s\nstdout:\n%s", code, stderr.String(), stdout.String())
	}
	var rep Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("decode -json output: %v\n%s", err, stdout.String())
	}
	checkReport(t, &rep, []string{BindingJSONRPC})
	if rep.Answer != AnswerMessage || rep.RelayedTasksRecorded != 0 {
		t.Errorf("answer %q, %d tasks recorded", rep.Answer, rep.RelayedTasksRecorded)
	}
	for _, name := range []string{serverParley, serverProxy, serverAgent} {
		path := prefix + "." + name + ".prof"
		if fi, err := os.Stat(path); err != nil || fi.Size() == 0 || rep.Profiles[name] != path {
			t.Errorf("%s's profile %s (report: %q): %v", name, path, rep.Profiles[name], err)
		}
	}
}

func TestCommandRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-clients", "0"},
		{"-duration", "0"},
		{"-warmup", "-1s"},
		{"-answer", "artifact"},
		{"-bindings", "smtp"},
		{"-bindings", "jsonrpc,"},
		{"stray"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr %q)", args, code, stderr.String())
		}
	}
}
