package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/store/postgres/pgtest"
)

// checkStats fails unless s describes n clean 6-round negotiations whose
// breakdown adds up to their mean end-to-end time.
func checkStats(t *testing.T, phase string, s Stats, n int64) {
	t.Helper()
	if s.Negotiations < n || s.Rounds != 6 || s.Anomalies != 0 {
		t.Errorf("%s: %d negotiations (want at least %d), %.1f rounds, %d anomalies", phase, s.Negotiations, n, s.Rounds, s.Anomalies)
	}
	if s.MinMs <= 0 || s.P50Ms < s.MinMs || s.P99Ms < s.P50Ms || s.MaxMs < s.P99Ms || s.MeanMs <= 0 || s.PerTurnMs <= 0 {
		t.Errorf("%s: min %.2f p50 %.2f p99 %.2f max %.2f mean %.2f per turn %.2f ms", phase, s.MinMs, s.P50Ms, s.P99Ms, s.MaxMs, s.MeanMs, s.PerTurnMs)
	}
	// 15 writes of the record: created, ticket marked, a turn and a reply
	// per round, written back.
	if s.WritesPerNegotiation != 15 || s.ReadsPerNegotiation < 1 || s.RecordBytes < 1000 {
		t.Errorf("%s: %.1f writes, %.1f reads, %.0f bytes per negotiation", phase, s.WritesPerNegotiation, s.ReadsPerNegotiation, s.RecordBytes)
	}
	b := s.Breakdown
	sum := b.StartMs + b.FirstTurnMs + s.Rounds*b.SendPerTurnMs + (s.Rounds-1)*b.BetweenTurnsMs + b.WriteBackMs + b.ObserveMs
	if b.SendPerTurnMs <= 0 || b.BetweenTurnsMs <= 0 || b.WriteBackMs <= 0 || math.Abs(sum-s.MeanMs) > 0.05*s.MeanMs+0.1 {
		t.Errorf("%s: breakdown %+v adds up to %.2f ms, mean %.2f ms", phase, b, sum, s.MeanMs)
	}
}

// The tool, briefly, as `go test` runs it: 2 negotiations one after the
// other, then 2 in flight for 1s, on SQLite, JSON out.
func TestCommandSmoke(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"-n", "2", "-inflight", "2", "-duration", "1s", "-warmup", "0", "-json", "-q"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s\nstdout:\n%s", code, stderr.String(), stdout.String())
	}
	var rep Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("decode -json output: %v\n%s", err, stdout.String())
	}
	if rep.Store != StoreSQLite || !rep.Audit || rep.RoundsCheck != 6 || rep.Errors() != 0 || rep.Warnings != 0 {
		t.Errorf("store %s, audit %v, rounds check %d, %d errors, %d warnings (%s)", rep.Store, rep.Audit, rep.RoundsCheck, rep.Errors(), rep.Warnings, rep.FirstWarning)
	}
	if l := rep.Latency; l == nil {
		t.Error("no latency phase")
	} else {
		checkStats(t, "latency", l.Stats, 2)
		if l.Negotiations != 2 || l.Errors != 0 {
			t.Errorf("latency: %d negotiations, %d errors (%s)", l.Negotiations, l.Errors, l.FirstError)
		}
	}
	if tp := rep.Throughput; tp == nil {
		t.Error("no throughput phase")
	} else {
		if tp.Errors != 0 || tp.Started < 2 || tp.Started < tp.Completed || tp.Inflight != 2 || tp.Completed != tp.Latency.Negotiations {
			t.Errorf("throughput: %+v", tp)
		}
		// On a slow machine (-race, busy CI) none may end inside the
		// window; those that ran were checked all the same.
		if tp.Completed > 0 {
			checkStats(t, "throughput", tp.Latency, 1)
			if tp.PerSecond <= 0 || math.Abs(tp.TurnsPerSecond-6*tp.PerSecond) > 1e-6*tp.TurnsPerSecond {
				t.Errorf("throughput: %.2f negotiations/s, %.2f turns/s", tp.PerSecond, tp.TurnsPerSecond)
			}
		}
	}
}

// Text output, one phase at a time.
func TestRunText(t *testing.T) {
	rep, err := Run(t.Context(), Config{N: 2, Warmup: 0, RoundsCheck: 6})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Throughput != nil || rep.Latency == nil || rep.Errors() != 0 {
		t.Fatalf("report %+v", rep)
	}
	var text bytes.Buffer
	rep.WriteText(&text)
	for _, want := range []string{"latency (sequential)", "where a negotiation's time goes"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
}

// A negotiation that does not end as expected is an error: here the
// warm-up's, which stops the run (the setup is wrong); in the measured
// phases they are counted.
func TestRoundsMismatchIsAnError(t *testing.T) {
	_, err := Run(t.Context(), Config{N: 1, RoundsCheck: 5})
	if err == nil || !strings.Contains(err.Error(), "agreed after 6 rounds (6 moves in its history), want 5") {
		t.Errorf("run: %v", err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"-n", "1", "-duration", "0", "-rounds-check", "4", "-q"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "want 4") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}

func TestCommandRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-n", "-1"},
		{"-n", "0", "-duration", "0"},
		{"-inflight", "0"},
		{"-duration", "-1s"},
		{"-store", "mysql"},
		{"-store", "postgres"},
		{"-postgres-url", "postgres://x/y"},
		{"-rounds-check", "-1"},
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
	rep, err := Run(t.Context(), Config{N: 2, Inflight: 2, Duration: time.Second, RoundsCheck: 6,
		Store: StorePostgres, PostgresURL: url})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Errors() != 0 || rep.Store != StorePostgres {
		t.Fatalf("store %s, %d errors: %s %s", rep.Store, rep.Errors(), rep.Latency.FirstError, rep.Throughput.FirstError)
	}
	checkStats(t, "latency", rep.Latency.Stats, 2)
	if rep.Throughput.Completed > 0 {
		checkStats(t, "throughput", rep.Throughput.Latency, 1)
	}
}

// BenchmarkNegotiation is the latency phase as a Go benchmark: one
// 6-round negotiation per op, end to end (the ticket made outside the
// timer).
//
//	go test -run '^$' -bench Negotiation -benchtime 200x ./bench/negotiation
func BenchmarkNegotiation(b *testing.B) {
	cfg := Config{N: 1, RoundsCheck: 6}
	if err := cfg.validate(); err != nil {
		b.Fatal(err)
	}
	e, err := setup(b.Context(), &cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer e.close()
	// Warm up (connections, the store's caches): b.Loop starts the timer
	// afresh.
	for range 5 {
		id, err := e.newTicket(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		if o := e.negotiate(b.Context(), id); o.err != nil {
			b.Fatal(o.err)
		}
	}
	var turns int
	for b.Loop() {
		b.StopTimer()
		id, err := e.newTicket(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		o := e.negotiate(b.Context(), id)
		if o.err != nil {
			b.Fatal(o.err)
		}
		turns += o.rounds
	}
	if turns > 0 {
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(turns), "ms/turn")
	}
}
