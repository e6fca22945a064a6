package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// checkReport fails unless both targets made calls without errors, with
// sane numbers, and the ratio is there.
func checkReport(t *testing.T, rep *Report) {
	t.Helper()
	if len(rep.Results) != 2 || rep.Results[0].Target != TargetDirect || rep.Results[1].Target != TargetRelay {
		t.Fatalf("results: %+v", rep.Results)
	}
	for _, r := range rep.Results {
		if r.Calls <= 0 || r.Errors != 0 || r.RPS <= 0 {
			t.Errorf("%s: %d calls, %d errors (%s), %.0f req/s", r.Target, r.Calls, r.Errors, r.FirstError, r.RPS)
		}
		if r.P50Ms <= 0 || r.P99Ms < r.P50Ms || r.MaxMs < r.P99Ms {
			t.Errorf("%s: p50 %.3f, p99 %.3f, max %.3f ms", r.Target, r.P50Ms, r.P99Ms, r.MaxMs)
		}
		if r.Seconds < 0.25 || r.Seconds > 5 {
			t.Errorf("%s: measured %.2fs, want about 0.3s", r.Target, r.Seconds)
		}
	}
	if ra := rep.Ratio; ra.Ratio <= 0 || ra.RelayRPS <= 0 || ra.DirectRPS <= 0 || ra.P99Ratio <= 0 || ra.Target != TargetRatio {
		t.Errorf("ratio %+v", ra)
	}
	if rep.RelayWarnings != 0 {
		t.Errorf("%d relay warnings, first: %s", rep.RelayWarnings, rep.FirstRelayWarning)
	}
	// The relay adds the caller to the message's metadata, which the
	// task's history echoes: the relayed answer is the larger.
	if d, r := rep.ResponseBytes[TargetDirect], rep.ResponseBytes[TargetRelay]; d <= 0 || r < d {
		t.Errorf("answer sizes: direct %d, relayed %d", d, r)
	}
}

// The core, briefly: 2 clients per target, 300ms each, the agent
// answering with completed tasks that the relay records.
func TestRunTasks(t *testing.T) {
	rep, err := Run(t.Context(), Config{Clients: 2, Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond, Rounds: 2})
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, rep)
	if rep.Answer != AnswerTask {
		t.Errorf("answer %q", rep.Answer)
	}
	// Every relayed call's task is in the store: the measured ones, the
	// warm-up's and the one sizing the answer.
	if relayed := rep.Results[1].Calls; rep.RelayedTasksRecorded <= relayed {
		t.Errorf("%d relayed tasks recorded, want more than the %d measured calls", rep.RelayedTasksRecorded, relayed)
	}
	var text bytes.Buffer
	rep.WriteText(&text)
	for _, want := range []string{"relay/direct throughput", "direct ", "relay ", "relayed tasks recorded"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
}

// The command, with the agent answering messages (nothing to record) and
// -json.
func TestCommandMessagesJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"-clients", "2", "-duration", "300ms", "-warmup", "0", "-rounds", "1",
		"-answer", "message", "-json", "-q"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s\nstdout:\n%s", code, stderr.String(), stdout.String())
	}
	var rep Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("decode -json output: %v\n%s", err, stdout.String())
	}
	checkReport(t, &rep)
	if rep.Answer != AnswerMessage || rep.RelayedTasksRecorded != 0 || len(rep.Experiments) != 0 {
		t.Errorf("answer %q, %d tasks recorded, experiments %q", rep.Answer, rep.RelayedTasksRecorded, rep.Experiments)
	}
}

func TestCommandRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-clients", "0"},
		{"-duration", "0"},
		{"-warmup", "-1s"},
		{"-answer", "artifact"},
		{"-relay-idle-per-host", "-1"},
		{"stray"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr %q)", args, code, stderr.String())
		}
	}
}
