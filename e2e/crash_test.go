package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/store/postgres/pgtest"
)

// The crash tests kill -9 the gateway (or the replica holding the lease)
// in the middle of a six-move negotiation and check that it is resumed
// from its last persisted turn and ends exactly as an uninterrupted run
// of the same scenario: no round lost, none sent twice, no turn acted on
// twice by an agent.

// Under the six-move policies (examples/agents.SixMoveOptions), acme's 500
// refund goes 500 → 120 → 310 → 240 → 275 → accepted at 275.
var sixMoves = []string{"1 billing propose 500", "2 escalation counter 120", "3 billing counter 310",
	"4 escalation counter 240", "5 billing counter 275"}

const (
	// agentDelay is each agent's think time per move: long enough to kill
	// the gateway while a turn is in flight.
	agentDelay = "400ms"
	// crashLease is the negotiation lease: short, so that a restarted
	// gateway or the other replica takes over quickly.
	crashLease = 2 * time.Second
)

// sixMoveAgents starts billing and escalation with the six-move policies
// and a think time.
func sixMoveAgents(t *testing.T) (billing, escalation *agentProc) {
	t.Helper()
	billing = startAgent(t, "billing", "-accept-ratio", "0.9", "-delay", agentDelay)
	escalation = startAgent(t, "escalation", "-concession-step", "120", "-delay", agentDelay)
	return billing, escalation
}

// checkSixMoves checks a finished six-move negotiation: the moves, the
// outcome in the negotiation and in the ticket, each round sent and
// answered once, each turn acted on once. It returns the number of
// resends in the transcript.
func checkSixMoves(t *testing.T, v negView, tk ticketDoc, agents ...*agentProc) int {
	t.Helper()
	moves := v.moves()
	if len(moves) != 6 || !slices.Equal(moves[:5], sixMoves) || !strings.HasPrefix(moves[5], "6 escalation accept") {
		t.Errorf("moves = %q, want %q then escalation accepting", moves, sixMoves)
	}
	checkOutcome(t, "negotiation outcome", v.Outcome, v.ID, "agreed", "approved", 275, 6)
	checkOutcome(t, "ticket approval", tk.Approval, v.ID, "agreed", "approved", 275, 6)
	resends := checkTurns(t, v, []string{"billing", "escalation"})
	checkJournals(t, v, agents...)
	return resends
}

// sameOutcome checks that a run interrupted by a crash ended as the
// uninterrupted one: outcome status, decision, terms and rounds, and the
// moves that led there.
func sameOutcome(t *testing.T, crashed, baseline negView) {
	t.Helper()
	c, b := crashed.Outcome, baseline.Outcome
	if c == nil || b == nil {
		t.Fatalf("outcomes: crashed %v, uninterrupted %v", c, b)
	}
	if c.Status != b.Status || c.Decision != b.Decision || c.Rounds != b.Rounds || c.amount() != b.amount() || c.DecidedBy != b.DecidedBy {
		t.Errorf("after the crash the outcome is %+v (terms %s); uninterrupted it was %+v (terms %s)", *c, c.Terms, *b, b.Terms)
	}
	if !slices.Equal(crashed.moves(), baseline.moves()) {
		t.Errorf("after the crash the moves are %q; uninterrupted they were %q", crashed.moves(), baseline.moves())
	}
}

// uninterrupted runs the scenario on ticketID to its end through cs and
// checks it, as the reference for the crashed run.
func uninterrupted(t *testing.T, cs *mcp.ClientSession, addr, ticketID string, diag func() string, agents ...*agentProc) negView {
	t.Helper()
	began := time.Now()
	since := openTicket(t, cs, ticketID)
	sub := connectWatcher(t, addr, "ticket://"+ticketID)
	negID := saveOverLimitRefund(t, cs, ticketID)
	tk := waitForApproval(t, cs, sub, since, ticketID, negID, 30*time.Second, diag)
	v := getNegotiation(t, cs, negID)
	if resends := checkSixMoves(t, v, tk, agents...); resends != 0 {
		t.Errorf("%d resends in the uninterrupted run", resends)
	}
	t.Logf("uninterrupted: %s after %d rounds in %s", tk.Approval.Status, tk.Approval.Rounds, time.Since(began).Round(time.Millisecond))
	return v
}

// waitMidway waits until at least two moves of negotiation id are
// persisted, and checks that it has not ended.
func waitMidway(t *testing.T, cs *mcp.ClientSession, id string, diag func() string) negView {
	t.Helper()
	v := waitNegotiation(t, cs, id, 20*time.Second, "second move", func(v negView) bool { return len(v.History) >= 2 }, diag)
	if v.Outcome != nil || len(v.History) >= 6 {
		t.Fatalf("negotiation %s already ended (%q) before the crash: make the agents slower", id, v.moves())
	}
	return v
}

// kill kills the gateway with SIGKILL and waits for it to be gone.
func (p *process) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill -9 %d: %v", p.cmd.Process.Pid, err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("gateway %d still running after SIGKILL", p.cmd.Process.Pid)
	}
}

// checkCrashedMidway reads the negotiation from the store after the kill:
// it must be in flight (held by the dead process, some moves made, no
// outcome), so that the run that follows is a resumption.
func checkCrashedMidway(t *testing.T, storeURL, id string, dead *process) storedNegotiation {
	t.Helper()
	n := negotiationRow(t, storeURL, id)
	if n.State != "running" || n.Data.Outcome != nil || len(n.Data.History) < 2 || len(n.Data.History) >= 6 {
		t.Fatalf("after the kill the stored negotiation is %s with moves %q and outcome %+v; want it running midway",
			n.State, n.Data.moves(), n.Data.Outcome)
	}
	if pid := leasePID(n.LeaseOwner); pid != dead.cmd.Process.Pid {
		t.Errorf("after the kill the lease is held by %q, want the killed gateway (pid %d)", n.LeaseOwner, dead.cmd.Process.Pid)
	}
	return n
}

// checkDoneAndReleased checks that the store holds the negotiation as
// done, with nobody holding its lease.
func checkDoneAndReleased(t *testing.T, storeURL, id string) {
	t.Helper()
	n := negotiationRow(t, storeURL, id)
	if n.State != "done" || n.LeaseOwner != "" {
		t.Errorf("stored negotiation: state %q, lease %q; want done and released", n.State, n.LeaseOwner)
	}
}

// kill -9 of the only gateway in the middle of a negotiation: restarted on
// the same SQLite file, it resumes the negotiation once the dead
// process's lease lapses and ends it as an uninterrupted run does.
func TestCrashResumeSQLite(t *testing.T) {
	began := time.Now()
	storeURL := "sqlite://" + filepath.Join(t.TempDir(), "parley.db")
	cfg := negotiationConfig(t, crashLease, 100*time.Millisecond)
	billing, escalation := sixMoveAgents(t)
	agents := []*agentProc{billing, escalation}
	gw1, addr1 := startNegotiationGateway(t, storeURL, cfg)
	gateways := []*process{gw1}
	diag := func() string { return diagnostics(gateways, agents)() }
	registerAgents(t, addr1, agents...)
	host1 := connectMCP(t, addr1, "2025-11-25", nil)

	baseline := uninterrupted(t, host1, addr1, "T-100", diag, agents...)

	const ticketID = "T-200"
	openTicket(t, host1, ticketID)
	negID := saveOverLimitRefund(t, host1, ticketID)
	mid := waitMidway(t, host1, negID, diag)
	gw1.kill(t)
	killedAt := time.Now()
	stored := checkCrashedMidway(t, storeURL, negID, gw1)
	t.Logf("killed gateway %d with %d moves read and %d persisted", gw1.cmd.Process.Pid, len(mid.History), len(stored.Data.History))

	gw2, addr2 := startNegotiationGateway(t, storeURL, cfg)
	gateways = append(gateways, gw2)
	host2 := connectMCP(t, addr2, "2025-11-25", nil)
	sub := connectWatcher(t, addr2, "ticket://"+ticketID)
	since := readTicket(t, host2, ticketID).Version
	tk := waitForApproval(t, host2, sub, since, ticketID, negID, 40*time.Second, diag)
	t.Logf("the restarted gateway finished the negotiation %s after the kill", time.Since(killedAt).Round(time.Millisecond))

	v := getNegotiation(t, host2, negID)
	resends := checkSixMoves(t, v, tk, agents...)
	sameOutcome(t, v, baseline)
	checkDoneAndReleased(t, storeURL, negID)
	checkResumedBy(t, v, stored, resends)
	t.Logf("%d resends after the restart (%d answered from an agent's cache); test took %s", resends, cachedAnswers(agents), time.Since(began).Round(time.Millisecond))
}

// kill -9 of the replica holding a negotiation's lease, with two replicas
// on one PostgreSQL database: the other replica takes the negotiation
// over once the lease lapses and ends it as an uninterrupted run does;
// its MCP subscribers hear of the outcome.
func TestCrashTakeoverPostgres(t *testing.T) {
	began := time.Now()
	dbURL := pgtest.NewSchema(t)
	cfg := negotiationConfig(t, crashLease, 100*time.Millisecond)
	billing, escalation := sixMoveAgents(t)
	agents := []*agentProc{billing, escalation}
	var replicas []*process
	var addrs []string
	for range 2 {
		p, addr := startNegotiationGateway(t, dbURL, cfg, "PARLEY_MCP_STATE_KEY=shared-secret-for-replicas")
		replicas, addrs = append(replicas, p), append(addrs, addr)
	}
	diag := diagnostics(replicas, agents)
	registerAgents(t, addrs[0], agents...)
	hosts := []*mcp.ClientSession{connectMCP(t, addrs[0], "2025-11-25", nil), connectMCP(t, addrs[1], "2025-11-25", nil)}

	baseline := uninterrupted(t, hosts[0], addrs[0], "T-100", diag, agents...)

	// Both replicas' subscribers follow the ticket from before the
	// negotiation; the one on the surviving replica must hear the outcome.
	const ticketID = "T-200"
	since := openTicket(t, hosts[0], ticketID)
	subs := []*watcher{connectWatcher(t, addrs[0], "ticket://"+ticketID), connectWatcher(t, addrs[1], "ticket://"+ticketID)}
	negID := saveOverLimitRefund(t, hosts[0], ticketID)
	waitMidway(t, hosts[0], negID, diag)

	holder := -1
	owner := negotiationRow(t, dbURL, negID).LeaseOwner
	for i, p := range replicas {
		if leasePID(owner) == p.cmd.Process.Pid {
			holder = i
		}
	}
	if holder < 0 {
		t.Fatalf("the lease owner %q is neither replica (pids %d, %d)", owner, replicas[0].cmd.Process.Pid, replicas[1].cmd.Process.Pid)
	}
	survivor := 1 - holder
	replicas[holder].kill(t)
	killedAt := time.Now()
	stored := checkCrashedMidway(t, dbURL, negID, replicas[holder])
	t.Logf("killed replica %d (pid %d, holding the lease) with %d moves persisted", holder+1, replicas[holder].cmd.Process.Pid, len(stored.Data.History))

	tk := waitForApproval(t, hosts[survivor], subs[survivor], since, ticketID, negID, 40*time.Second, diag)
	t.Logf("replica %d finished the negotiation %s after the kill", survivor+1, time.Since(killedAt).Round(time.Millisecond))

	v := getNegotiation(t, hosts[survivor], negID)
	resends := checkSixMoves(t, v, tk, agents...)
	sameOutcome(t, v, baseline)
	checkDoneAndReleased(t, dbURL, negID)
	checkResumedBy(t, v, stored, resends)
	t.Logf("%d resends after the takeover (%d answered from an agent's cache); test took %s", resends, cachedAnswers(agents), time.Since(began).Round(time.Millisecond))
}

// checkResumedBy checks that the finished negotiation v continues the one
// stored at the crash: the moves made before it are kept as they were
// (resumed, not restarted), and a turn pending at the crash was resent
// with its message ID rather than sent afresh.
func checkResumedBy(t *testing.T, v negView, atCrash storedNegotiation, resends int) {
	t.Helper()
	before := atCrash.Data.moves()
	if len(v.History) < len(before) || !slices.Equal(v.moves()[:len(before)], before) {
		t.Errorf("moves after the crash %q do not continue those persisted before it %q", v.moves(), before)
	}
	if len(v.Transcript) < len(atCrash.Data.Transcript) {
		t.Fatalf("transcript shrank from %d to %d entries", len(atCrash.Data.Transcript), len(v.Transcript))
	}
	for i, e := range atCrash.Data.Transcript {
		if got := v.Transcript[i]; got.Kind != e.Kind || got.MessageID != e.MessageID || !got.At.Equal(e.At) {
			t.Errorf("transcript[%d] was %s %s at %s before the crash, is %s %s at %s after", i, e.Kind, e.MessageID, e.At, got.Kind, got.MessageID, got.At)
		}
	}
	// A turn persisted as sent and not answered at the crash is resent.
	pending := ""
	for _, e := range atCrash.Data.Transcript {
		switch e.Kind {
		case "turn":
			pending = e.MessageID
		case "reply":
			pending = ""
		}
	}
	if pending != "" {
		next := v.Transcript[len(atCrash.Data.Transcript):]
		if len(next) == 0 || next[0].Kind != "resend" || next[0].MessageID != pending {
			t.Errorf("turn %s was pending at the crash; after it the transcript goes on with %s", pending, describeEntries(next, 2))
		}
	}
	if (pending != "") != (resends > 0) {
		t.Errorf("pending turn at the crash %q, yet %d resends", pending, resends)
	}
}

// cachedAnswers counts the turns the agents answered from their cache of
// answered message IDs (a resend of a turn they had decided), from their
// logs.
func cachedAnswers(agents []*agentProc) int {
	n := 0
	for _, a := range agents {
		n += strings.Count(a.logs.String(), "resend=true")
	}
	return n
}

func describeEntries(es []negEntry, n int) string {
	var out []string
	for i, e := range es {
		if i == n {
			break
		}
		out = append(out, fmt.Sprintf("%s %s", e.Kind, e.MessageID))
	}
	if len(out) == 0 {
		return "nothing"
	}
	return strings.Join(out, ", ")
}
