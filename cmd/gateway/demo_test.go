package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runDemo runs "gateway demo" in-process, as main does, and returns its
// exit status and output.
func runDemo(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(t.Context(), append([]string{"demo"}, args...), strings.NewReader(""), &out, &errOut, getenvFrom(nil))
	}()
	select {
	case code = <-done:
	case <-time.After(3 * time.Minute):
		t.Fatalf("the demo did not finish\nstdout:\n%s\nstderr:\n%s", &out, &errOut)
	}
	return code, out.String(), errOut.String()
}

// inOrder checks that each pattern matches stdout after the previous one.
func inOrder(t *testing.T, stdout string, patterns ...string) {
	t.Helper()
	rest := stdout
	for _, p := range patterns {
		loc := regexp.MustCompile(p).FindStringIndex(rest)
		if loc == nil {
			t.Errorf("output lacks %q (after the lines before it)", p)
			return
		}
		rest = rest[loc[1]:]
	}
}

var demoStoreRE = regexp.MustCompile(`store\s+SQLite (\S+)`)

// The demo runs the whole pipeline and its output says so: the rounds as
// they happen, the transcript, the outcome written back, the subscriber's
// notifications and the resolved ticket. The temporary store is removed.
func TestDemo(t *testing.T) {
	code, stdout, stderr := runDemo(t)
	if code != exitOK {
		t.Fatalf("exit status %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	inOrder(t, stdout,
		// The agents are registered and are MCP tools.
		`(?m)^\s+triage\s+http://127\.0\.0\.1:\d+/\s+healthy`,
		`(?m)^\s+billing\s+http://127\.0\.0\.1:\d+/\s+healthy.*speaks urn:parley:a2a:negotiation:v1`,
		`(?m)^\s+escalation\s+http://127\.0\.0\.1:\d+/\s+healthy.*speaks urn:parley:a2a:negotiation:v1`,
		`MCP tools\s+agent_billing, agent_escalation, agent_triage`,
		// The pipeline.
		`save_ticket\s+T-\S+ created for acme, status new`,
		`agent_triage\s+billing, high priority, negative sentiment; asks for a refund of 500\.00`,
		`save_ticket\s+T-\S+: category billing, priority high, status triaged`,
		`get_all_analysis\s+4 namespaces`,
		`(?m)^\s+category\s+by category-analyst`,
		`(?m)^\s+history\s+by history-analyst\s+customer: acme; lifetime_value: 12000; tenure_years: 6; tier: high-value`,
		`(?m)^\s+priority\s+by priority-analyst`,
		`(?m)^\s+sentiment\s+by sentiment-analyst`,
		`claim_task\s+task-\S+ claimed by billing`,
		`subscribe\s+ticket://T-`,
		`save_ticket\s+T-\S+: refund_amount 500\.00 by billing`,
		`rule refund-over-limit fired: the result links negotiation://neg-`,
		// Live progress, in order.
		`negotiation neg-\S+ started between billing, escalation: Approve an exception refund of 500\.00 for ticket T-`,
		`round 1/6: billing proposed 500\.00`,
		`round 2/6: escalation countered 350\.00`,
		`round 3/6: billing accepted`,
		`negotiation neg-\S+: agreed, approved 350\.00`,
		`wait_for_ticket\s+returned: status triaged again, approval approved`,
		// The transcript.
		`outcome\s+agreed, approved 350\.00 after 3 rounds, decided by agents`,
		`(?m)^\s+\+\d+\.\d+s\s+1\s+parley → billing\s+turn`,
		`(?m)^\s+\+\d+\.\d+s\s+1\s+billing\s+propose\s+500\.00\s+6-year customer, 12k lifetime value`,
		`(?m)^\s+\+\d+\.\d+s\s+2\s+parley → escalation\s+turn`,
		`(?m)^\s+\+\d+\.\d+s\s+2\s+escalation\s+counter\s+350\.00\s+policy cap`,
		`(?m)^\s+\+\d+\.\d+s\s+3\s+parley → billing\s+turn`,
		`(?m)^\s+\+\d+\.\d+s\s+3\s+billing\s+accept\s+350\.00`,
		`(?m)^\s+\+\d+\.\d+s\s+parley\s+outcome\s+350\.00\s+agreed, approved`,
		// The subscriber heard of the refund, the negotiation and its outcome.
		`resources/updated\s+ticket://T-\S+ ×\d+ since the desk subscribed`,
		`negotiate\s+by parley:negotiation\s+status → negotiating`,
		`approval\s+by parley:negotiation\s+status → triaged; decision approved`,
		// Resolution and the final ticket.
		`complete_task\s+task-\S+ done`,
		`save_resolution\s+T-\S+ resolved`,
		`(?m)^\s+status\s+resolved$`,
		`(?m)^\s+approval\s+approved 350\.00 \(agreed in 3 rounds, decided by agents\)`,
		`Demo complete`,
	)
	// At least the refund, the negotiating mark and the outcome (a change
	// made just before subscribing may be delivered after it).
	if m := regexp.MustCompile(`ticket://T-\S+ ×(\d+) since`).FindStringSubmatch(stdout); m != nil {
		if n, _ := strconv.Atoi(m[1]); n < 3 {
			t.Errorf("the subscriber heard of %d changes, want at least 3", n)
		}
	}
	if strings.Contains(stdout, "round 4/") {
		t.Errorf("more than 3 rounds:\n%s", stdout)
	}
	m := demoStoreRE.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("the output does not name the store:\n%s", stdout)
	}
	if _, err := os.Stat(filepath.Dir(m[1])); !os.IsNotExist(err) {
		t.Errorf("the temporary store's directory %s is still there (stat: %v)", filepath.Dir(m[1]), err)
	}
	if t.Failed() {
		t.Logf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
}

// With --store the demo uses that file and leaves it; a second run on the
// same store (agents already registered, an earlier ticket in it) works
// too.
func TestDemoOnAGivenStoreTwice(t *testing.T) {
	db := filepath.Join(t.TempDir(), "demo.db")
	for i := range 2 {
		code, stdout, stderr := runDemo(t, "--store", "sqlite://"+db, "--think", "0")
		if code != exitOK {
			t.Fatalf("run %d: exit status %d\nstdout:\n%s\nstderr:\n%s", i+1, code, stdout, stderr)
		}
		if !regexp.MustCompile(`outcome\s+agreed, approved 350\.00 after 3 rounds`).MatchString(stdout) {
			t.Errorf("run %d: no agreement on 350.00:\n%s", i+1, stdout)
		}
		if _, err := os.Stat(db); err != nil {
			t.Errorf("run %d: the given store: %v", i+1, err)
		}
	}
}

func TestDemoFailures(t *testing.T) {
	t.Run("bad flag", func(t *testing.T) {
		code, _, stderr := runDemo(t, "--frobnicate")
		if code != exitUsage || !strings.Contains(stderr, "Usage: gateway demo") {
			t.Errorf("exit status %d, stderr:\n%s", code, stderr)
		}
	})
	t.Run("help", func(t *testing.T) {
		code, stdout, _ := runDemo(t, "-h")
		if code != exitOK || !strings.Contains(stdout, "-keep") || !strings.Contains(stdout, "-store") {
			t.Errorf("exit status %d, stdout:\n%s", code, stdout)
		}
	})
	t.Run("store cannot be opened", func(t *testing.T) {
		code, _, stderr := runDemo(t, "--store", "sqlite://"+filepath.Join(t.TempDir(), "no", "such", "dir", "p.db"))
		if code != exitFailure || !strings.Contains(stderr, "gateway demo: FAILED: the gateway did not start") ||
			!strings.Contains(stderr, "cannot open the store") {
			t.Errorf("exit status %d, stderr:\n%s", code, stderr)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		// The agents think for longer than the demo may take.
		code, _, stderr := runDemo(t, "--timeout", "2s", "--think", "5s")
		if code != exitFailure || !strings.Contains(stderr, "gateway demo: FAILED: ") || !strings.Contains(stderr, "--timeout") {
			t.Errorf("exit status %d, stderr:\n%s", code, stderr)
		}
	})
}
