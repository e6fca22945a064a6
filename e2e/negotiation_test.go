package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	_ "modernc.org/sqlite" // reads the gateway's SQLite store in crash tests
)

// The negotiation tests run the real gateway and the example agents
// (cmd/parley-agent) as separate processes, register the agents through
// the gateway's CLI and drive everything with an MCP client, as a host
// would.

// refundRule is the escalation rule of the tests: over-limit billing
// refunds are negotiated between billing and escalation.
const refundRule = "refund-over-limit"

// negotiationConfig writes a config file with the refund rule and the
// given engine timings, and returns its path.
func negotiationConfig(t *testing.T, lease, retryBackoff time.Duration) string {
	t.Helper()
	yaml := fmt.Sprintf(`negotiation:
  lease: %s
  retry_backoff: %s
  turn_timeout: 20s
  rules:
    - name: %s
      when: 'ticket.category == "billing" && ticket.refund_amount > 200.0 && !has(ticket.approval)'
      participants: [billing, escalation]
      question: "Approve an exception refund of {{money .ticket.refund_amount}} for ticket {{.ticket.id}}?"
      terms:
        amount: ticket.refund_amount
      fallback: deny
`, lease, retryBackoff, refundRule)
	path := filepath.Join(t.TempDir(), "parley.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startNegotiationGateway starts a gateway on store with the config file
// cfg, loopback agents allowed, and returns it with its address.
func startNegotiationGateway(t *testing.T, storeURL, cfg string, env ...string) (*process, string) {
	t.Helper()
	p := start(t, t.TempDir(), cleanEnv(env...), "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0",
		"--store", storeURL, "--allow-private-agent-urls", "--config", cfg)
	return p, p.addr(t)
}

// --- the example agents as processes ----------------------------------------

var agentBuild struct {
	once sync.Once
	path string
	err  error
}

// agentBinary builds cmd/parley-agent once, beside the gateway binary.
func agentBinary(t *testing.T) string {
	t.Helper()
	agentBuild.once.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			agentBuild.err = err
			return
		}
		agentBuild.path = filepath.Join(filepath.Dir(binary), "parley-agent")
		if runtime.GOOS == "windows" {
			agentBuild.path += ".exe"
		}
		build := exec.Command("go", "build", "-o", agentBuild.path, "./cmd/parley-agent")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			agentBuild.err = fmt.Errorf("building parley-agent: %v\n%s", err, out)
		}
	})
	if agentBuild.err != nil {
		t.Fatal(agentBuild.err)
	}
	return agentBuild.path
}

// agentProc is a running parley-agent.
type agentProc struct {
	*child
	name    string
	url     string
	journal string // the agent's journal file
	logs    *syncBuffer
}

var agentListeningRE = regexp.MustCompile(`^parley-agent (\S+) listening on (\S+)$`)

// startAgent runs parley-agent -role role on a free loopback port with a
// journal, plus flags, and waits for its "listening" line. The test's
// cleanup kills it.
func startAgent(t *testing.T, role string, flags ...string) *agentProc {
	t.Helper()
	a := &agentProc{journal: filepath.Join(t.TempDir(), role+".jsonl"), logs: &syncBuffer{}}
	args := append([]string{"-role", role, "-listen", "127.0.0.1:0", "-journal", a.journal}, flags...)
	cmd := exec.Command(agentBinary(t), args...)
	cmd.Env = cleanEnv()
	var m []string
	a.child, m = startListening(t, "parley-agent "+role, cmd, a.logs, agentListeningRE)
	a.name, a.url = m[1], m[2]
	return a
}

// journalLine is one line of an agent's journal: a turn it acted on.
type journalLine struct {
	Agent         string         `json:"agent"`
	MessageID     string         `json:"message_id"`
	NegotiationID string         `json:"negotiation_id"`
	Round         int            `json:"round"`
	Move          string         `json:"move"`
	Terms         map[string]any `json:"terms"`
}

// journalOf reads the turns of negotiation id the agent acted on.
func (a *agentProc) journalOf(t *testing.T, id string) []journalLine {
	t.Helper()
	data, err := os.ReadFile(a.journal)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []journalLine
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var j journalLine
		if err := json.Unmarshal([]byte(line), &j); err != nil {
			t.Fatalf("journal of %s: line %q: %v", a.name, line, err)
		}
		if j.NegotiationID == id {
			out = append(out, j)
		}
	}
	return out
}

// registerAgents registers the agents with the gateway at addr through
// `gateway agents register`.
func registerAgents(t *testing.T, addr string, agents ...*agentProc) {
	t.Helper()
	for _, a := range agents {
		out, errOut, ok := gatewayCmd(t, "agents", "--api", "http://"+addr, "register", a.url)
		if !ok || !strings.Contains(out, "registered "+a.name) {
			t.Fatalf("agents register %s: ok=%v\n%s%s", a.url, ok, out, errOut)
		}
	}
}

// --- MCP --------------------------------------------------------------------

// watcher is an MCP session that counts notifications/resources/updated.
type watcher struct {
	cs *mcp.ClientSession

	mu      sync.Mutex
	updated map[string]int
	signal  chan struct{}
}

// connectWatcher opens an MCP session to addr and subscribes it to uris.
func connectWatcher(t *testing.T, addr string, uris ...string) *watcher {
	t.Helper()
	w := &watcher{updated: map[string]int{}, signal: make(chan struct{}, 1)}
	w.cs = connectMCP(t, addr, "2025-11-25", &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			w.mu.Lock()
			w.updated[req.Params.URI]++
			w.mu.Unlock()
			select {
			case w.signal <- struct{}{}:
			default:
			}
		},
	})
	for _, uri := range uris {
		if err := w.cs.Subscribe(t.Context(), &mcp.SubscribeParams{URI: uri}); err != nil {
			t.Fatalf("subscribe to %s: %v", uri, err)
		}
	}
	return w
}

func (w *watcher) count(uri string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.updated[uri]
}

// ticketDoc is the part of ticket://{id} the tests read.
type ticketDoc struct {
	ID           string      `json:"id"`
	Status       string      `json:"status"`
	RefundAmount float64     `json:"refund_amount"`
	Version      int64       `json:"version"`
	Approval     *negOutcome `json:"approval"`
}

// negOutcome is an outcome as NEGOTIATION.md fixes it: the head of
// negotiation://{id} and the ticket's approval.
type negOutcome struct {
	NegotiationID string          `json:"negotiation_id"`
	Status        string          `json:"status"`
	Decision      string          `json:"decision"`
	Terms         json.RawMessage `json:"terms"`
	Rounds        int             `json:"rounds"`
	Reason        string          `json:"reason"`
	DecidedBy     string          `json:"decided_by"`
	DecidedAt     *time.Time      `json:"decided_at"`
}

// amount is the outcome's terms.amount (-1 if there is none).
func (o *negOutcome) amount() float64 { return termsAmount(o.Terms) }

func termsAmount(terms json.RawMessage) float64 {
	var v struct {
		Amount *float64 `json:"amount"`
	}
	if json.Unmarshal(terms, &v) != nil || v.Amount == nil {
		return -1
	}
	return *v.Amount
}

// negView is negotiation://{id} (and get_negotiation's answer).
type negView struct {
	Outcome *negOutcome `json:"outcome"`
	ID      string      `json:"negotiation_id"`
	Status  string      `json:"status"`
	Rule    string      `json:"rule"`
	Subject struct {
		Kind string `json:"kind"`
		ID   string `json:"id"`
	} `json:"subject"`
	Question     string     `json:"question"`
	Participants []string   `json:"participants"`
	Rounds       int        `json:"rounds"`
	MaxRounds    int        `json:"max_rounds"`
	History      []negMove  `json:"history"`
	Transcript   []negEntry `json:"transcript"`
}

type negMove struct {
	Round     int             `json:"round"`
	By        string          `json:"by"`
	Move      string          `json:"move"`
	Terms     json.RawMessage `json:"terms"`
	Rationale string          `json:"rationale"`
}

type negEntry struct {
	At          time.Time       `json:"at"`
	Kind        string          `json:"kind"`
	Round       int             `json:"round"`
	Participant string          `json:"participant"`
	MessageID   string          `json:"message_id"`
	Text        string          `json:"text"`
	Data        json.RawMessage `json:"data"`
	Error       string          `json:"error"`
}

// moves says the history as "1 billing propose 500" lines, for comparing
// runs and for messages.
func (v negView) moves() []string {
	var out []string
	for _, m := range v.History {
		s := fmt.Sprintf("%d %s %s", m.Round, m.By, m.Move)
		if a := termsAmount(m.Terms); a >= 0 {
			s += " " + strconv.FormatFloat(a, 'f', -1, 64)
		}
		out = append(out, s)
	}
	return out
}

// readJSONResource reads uri and decodes its JSON text into v.
func readJSONResource(t *testing.T, cs *mcp.ClientSession, uri string, v any) {
	t.Helper()
	res, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: uri})
	if err != nil {
		t.Fatalf("read %s: %v", uri, err)
	}
	if len(res.Contents) != 1 {
		t.Fatalf("read %s: %d contents", uri, len(res.Contents))
	}
	if err := json.Unmarshal([]byte(res.Contents[0].Text), v); err != nil {
		t.Fatalf("read %s: %v\n%s", uri, err, res.Contents[0].Text)
	}
}

func readTicket(t *testing.T, cs *mcp.ClientSession, id string) ticketDoc {
	t.Helper()
	var doc struct {
		Ticket ticketDoc `json:"ticket"`
	}
	readJSONResource(t, cs, "ticket://"+id, &doc)
	return doc.Ticket
}

func getNegotiation(t *testing.T, cs *mcp.ClientSession, id string) negView {
	t.Helper()
	var v negView
	out := callTool(t, cs, "get_negotiation", map[string]any{"negotiation_id": id})
	data, _ := json.Marshal(out)
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("get_negotiation: %v\n%s", err, data)
	}
	return v
}

// openTicket creates a billing ticket of customer acme with no refund
// yet: nothing to negotiate, but something to subscribe to.
func openTicket(t *testing.T, cs *mcp.ClientSession, ticketID string) (version int64) {
	t.Helper()
	out := callTool(t, cs, "save_ticket", map[string]any{"ticket_id": ticketID, "customer": "acme", "category": "billing",
		"summary": "Charged twice for the annual plan"})
	if ns, _ := out["negotiations"].([]any); len(ns) != 0 {
		t.Fatalf("a ticket without a refund started negotiations: %v", out)
	}
	v, _ := out["ticket"].(map[string]any)["version"].(float64)
	return int64(v)
}

// saveOverLimitRefund saves a billing ticket of customer acme asking for
// a 500 refund through save_ticket, checks that the refund rule started a
// negotiation and that the call says so at once (structured output and a
// resource link), and returns the negotiation's ID.
func saveOverLimitRefund(t *testing.T, cs *mcp.ClientSession, ticketID string) string {
	t.Helper()
	began := time.Now()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "save_ticket", Arguments: map[string]any{
		"ticket_id": ticketID, "customer": "acme", "category": "billing", "refund_amount": 500.0,
		"summary": "Charged twice for the annual plan; asks for a 500.00 refund",
	}})
	if err != nil {
		t.Fatalf("save_ticket: %v", err)
	}
	took := time.Since(began)
	if res.IsError {
		t.Fatalf("save_ticket: tool error: %v", res.Content)
	}
	var out struct {
		Ticket struct {
			ID       string          `json:"id"`
			Approval json.RawMessage `json:"approval"`
		} `json:"ticket"`
		Negotiations []struct {
			NegotiationID string `json:"negotiation_id"`
			Rule          string `json:"rule"`
		} `json:"negotiations"`
	}
	data, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("save_ticket: %v\n%s", err, data)
	}
	if out.Ticket.ID != ticketID || len(out.Negotiations) != 1 || out.Negotiations[0].Rule != refundRule ||
		!strings.HasPrefix(out.Negotiations[0].NegotiationID, "neg-") {
		t.Fatalf("save_ticket did not report the negotiation rule %s started:\n%s", refundRule, data)
	}
	if len(out.Ticket.Approval) > 0 && string(out.Ticket.Approval) != "null" {
		t.Errorf("save_ticket returned a ticket already approved: %s", out.Ticket.Approval)
	}
	// It returns at once: the negotiation runs in the background.
	if took > 5*time.Second {
		t.Errorf("save_ticket took %s; it must not wait for the negotiation", took)
	}
	id := out.Negotiations[0].NegotiationID
	var links []string
	for _, c := range res.Content {
		if l, ok := c.(*mcp.ResourceLink); ok {
			links = append(links, l.URI)
		}
	}
	if !slices.Contains(links, "negotiation://"+id) {
		t.Errorf("save_ticket's content links %v, want negotiation://%s", links, id)
	}
	return id
}

// waitForApproval waits until the ticket carries the outcome of
// negotiation negID, reading it through cs. With a watcher w subscribed to
// ticket://{id} since version since, it also waits until w has heard of
// every change after since: one notifications/resources/updated per
// version, the outcome's write-back (the last change) included.
func waitForApproval(t *testing.T, cs *mcp.ClientSession, w *watcher, since int64, ticketID, negID string, within time.Duration, diag func() string) ticketDoc {
	t.Helper()
	uri := "ticket://" + ticketID
	deadline := time.After(within)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var tk ticketDoc
	for {
		tk = readTicket(t, cs, ticketID)
		if tk.Approval != nil && tk.Approval.NegotiationID == negID {
			if w == nil || int64(w.count(uri)) >= tk.Version-since {
				return tk
			}
		}
		var signal <-chan struct{}
		if w != nil {
			signal = w.signal
		}
		select {
		case <-signal:
		case <-tick.C:
		case <-deadline:
			if tk.Approval != nil {
				t.Fatalf("ticket %s has the outcome at version %d, but its subscriber (since version %d) heard only %d updates\n%s",
					ticketID, tk.Version, since, w.count(uri), diag())
			}
			t.Fatalf("ticket %s has no outcome of %s after %s (notifications: %v)\n%s", ticketID, negID, within, w.snapshot(), diag())
		}
	}
}

func (w *watcher) snapshot() map[string]int {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.updated)
}

// waitNegotiation polls get_negotiation until cond holds.
func waitNegotiation(t *testing.T, cs *mcp.ClientSession, id string, within time.Duration, what string, cond func(negView) bool, diag func() string) negView {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		v := getNegotiation(t, cs, id)
		if cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("negotiation %s: no %s after %s; moves %q\n%s", id, what, within, v.moves(), diag())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkTurns checks a finished negotiation's history and transcript: the
// participants moved in turn, rounds 1..n each once; every round was sent
// once as a turn with the message ID NEGOTIATION.md fixes and answered
// once; any resend repeats a turn's message ID; the outcome is recorded
// once, last. It returns how many resends there were.
func checkTurns(t *testing.T, v negView, participants []string) (resends int) {
	t.Helper()
	for i, m := range v.History {
		if want := participants[i%len(participants)]; m.Round != i+1 || m.By != want {
			t.Errorf("history[%d] = round %d by %s, want round %d by %s (moves %q)", i, m.Round, m.By, i+1, want, v.moves())
		}
	}
	turns, replies := map[string]int{}, map[string]int{}
	outcomes := 0
	for i, e := range v.Transcript {
		switch e.Kind {
		case "turn":
			turns[e.MessageID]++
			if e.Text == "" || len(e.Data) == 0 {
				t.Errorf("transcript[%d]: a turn without its text or data: %+v", i, e)
			}
		case "reply":
			replies[e.MessageID]++
			if len(e.Data) == 0 {
				t.Errorf("transcript[%d]: a reply without the move received: %+v", i, e)
			}
		case "resend":
			resends++
		case "outcome":
			outcomes++
			if i != len(v.Transcript)-1 {
				t.Errorf("transcript[%d]: the outcome is not the last entry", i)
			}
		case "start", "retry":
		default:
			t.Errorf("transcript[%d]: unexpected %s entry: %+v", i, e.Kind, e)
		}
		if e.At.IsZero() {
			t.Errorf("transcript[%d] (%s) has no time", i, e.Kind)
		}
	}
	if outcomes != 1 {
		t.Errorf("%d outcome entries in the transcript, want 1", outcomes)
	}
	for _, m := range v.History {
		id := fmt.Sprintf("%s/r%d/%s", v.ID, m.Round, m.By)
		if turns[id] != 1 || replies[id] != 1 {
			t.Errorf("round %d: %d turns and %d replies with message ID %s, want one of each", m.Round, turns[id], replies[id], id)
		}
		delete(turns, id)
		delete(replies, id)
	}
	for id, n := range replies {
		t.Errorf("%d replies to %s, which is no move in the history", n, id)
	}
	for i, e := range v.Transcript {
		if e.Kind != "resend" {
			continue
		}
		if !slices.ContainsFunc(v.Transcript[:i], func(p negEntry) bool { return p.Kind == "turn" && p.MessageID == e.MessageID }) {
			t.Errorf("transcript[%d]: resend of %s, which was never sent", i, e.MessageID)
		}
	}
	return resends
}

// checkJournals checks that the agents acted on each move of the
// negotiation exactly once: every round of the history is journaled once,
// by its participant, with the same move and terms, and nothing else is.
// (A resend answered from an agent's cache is not journaled.)
func checkJournals(t *testing.T, v negView, agents ...*agentProc) {
	t.Helper()
	acted := map[string][]journalLine{}
	for _, a := range agents {
		for _, j := range a.journalOf(t, v.ID) {
			if j.Agent != a.name {
				t.Errorf("%s's journal names agent %q", a.name, j.Agent)
			}
			acted[j.MessageID] = append(acted[j.MessageID], j)
		}
	}
	for _, m := range v.History {
		id := fmt.Sprintf("%s/r%d/%s", v.ID, m.Round, m.By)
		js := acted[id]
		delete(acted, id)
		if len(js) != 1 {
			t.Errorf("message %s acted on %d times, want once: %+v", id, len(js), js)
			continue
		}
		j := js[0]
		gotTerms, _ := json.Marshal(j.Terms)
		if j.Agent != m.By || j.Round != m.Round || j.Move != m.Move || (len(m.Terms) > 0 && termsAmount(gotTerms) != termsAmount(m.Terms)) {
			t.Errorf("journal of %s = %+v, history says %+v", id, j, m)
		}
	}
	for id, js := range acted {
		t.Errorf("message %s acted on (%d times) but is no move in the history: %+v", id, len(js), js)
	}
}

// checkOutcome compares an outcome with what is wanted.
func checkOutcome(t *testing.T, where string, got *negOutcome, negID, status, decision string, amount float64, rounds int) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: no outcome", where)
		return
	}
	if got.NegotiationID != negID || got.Status != status || got.Decision != decision || got.amount() != amount ||
		got.Rounds != rounds || got.DecidedBy != "agents" || got.DecidedAt == nil || got.Reason == "" {
		t.Errorf("%s = %+v (terms %s), want %s %s amount %v after %d rounds, decided by agents, with a time and a reason",
			where, *got, got.Terms, status, decision, amount, rounds)
	}
}

// diagnostics dumps the processes' logs, for failure messages.
func diagnostics(gateways []*process, agents []*agentProc) func() string {
	return func() string {
		var b strings.Builder
		for i, g := range gateways {
			fmt.Fprintf(&b, "--- gateway %d log:\n%s\n", i+1, tail(g.logs.String(), 60))
		}
		for _, a := range agents {
			fmt.Fprintf(&b, "--- agent %s log:\n%s\n", a.name, tail(a.logs.String(), 20))
		}
		return b.String()
	}
}

// --- the store, read directly ------------------------------------------------

// storedNegotiation is a negotiation's row as the store holds it.
type storedNegotiation struct {
	State      string  // running, pending_human or done
	LeaseOwner string  // "" when nobody holds it
	Data       negView // the stored state: history, outcome, transcript
}

// negotiationRow reads a negotiation straight from the store the gateways
// use (sqlite://PATH or a postgres:// URL), whatever they say.
func negotiationRow(t *testing.T, storeURL, id string) storedNegotiation {
	t.Helper()
	ctx := t.Context()
	const q = `SELECT state, lease_owner, data FROM negotiations WHERE id = `
	var n storedNegotiation
	var data string
	if path, ok := strings.CutPrefix(storeURL, "sqlite://"); ok {
		db, err := sql.Open("sqlite", path+"?_pragma=query_only(1)&_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.QueryRowContext(ctx, q+"?", id).Scan(&n.State, &n.LeaseOwner, &data); err != nil {
			t.Fatalf("read negotiation %s from %s: %v", id, path, err)
		}
	} else {
		conn, err := pgx.Connect(ctx, storeURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.WithoutCancel(ctx))
		if err := conn.QueryRow(ctx, q+"$1", id).Scan(&n.State, &n.LeaseOwner, &data); err != nil {
			t.Fatalf("read negotiation %s: %v", id, err)
		}
	}
	if err := json.Unmarshal([]byte(data), &n.Data); err != nil {
		t.Fatalf("negotiation %s: stored data: %v\n%s", id, err, data)
	}
	return n
}

var leasePIDRE = regexp.MustCompile(`/pid-(\d+)/`)

// leasePID is the process ID in a lease owner ("host/pid-PID/xxxx"), or 0.
func leasePID(owner string) int {
	m := leasePIDRE.FindStringSubmatch(owner)
	if m == nil {
		return 0
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

// --- the tests ---------------------------------------------------------------

// An over-limit refund saved through MCP starts a negotiation between the
// billing and escalation agents (separate processes, reached over A2A);
// save_ticket links to it at once, the agents settle on 350 in three
// moves, and the outcome lands in ticket://{id}, whose subscriber hears of
// it. negotiation://{id} holds every turn and reply, and each agent acted
// on each of its turns once.
func TestNegotiationOverLimitRefund(t *testing.T) {
	began := time.Now()
	dir := t.TempDir()
	triage := startAgent(t, "triage")
	billing := startAgent(t, "billing", "-delay", "100ms")
	escalation := startAgent(t, "escalation", "-delay", "100ms")
	agents := []*agentProc{triage, billing, escalation}
	gw, addr := startNegotiationGateway(t, "sqlite://"+filepath.Join(dir, "parley.db"), negotiationConfig(t, 15*time.Second, 100*time.Millisecond))
	diag := diagnostics([]*process{gw}, agents)
	registerAgents(t, addr, agents...)

	const ticketID = "T-42"
	host := connectMCP(t, addr, "2025-11-25", nil)
	since := openTicket(t, host, ticketID)
	sub := connectWatcher(t, addr, "ticket://"+ticketID)
	negID := saveOverLimitRefund(t, host, ticketID)
	// Right after save_ticket, the negotiation is readable and under way.
	var early negView
	readJSONResource(t, host, "negotiation://"+negID, &early)
	if early.ID != negID || early.Rule != refundRule || early.Subject.ID != ticketID || early.Outcome != nil ||
		!slices.Equal(early.Participants, []string{"billing", "escalation"}) || early.Question != "Approve an exception refund of 500.00 for ticket T-42?" {
		t.Errorf("negotiation://%s right after save_ticket = %+v", negID, early)
	}

	tk := waitForApproval(t, sub.cs, sub, since, ticketID, negID, 30*time.Second, diag)
	checkOutcome(t, "ticket approval", tk.Approval, negID, "agreed", "approved", 350, 3)
	if tk.Status == "negotiating" {
		t.Errorf("ticket status is still %q after the outcome", tk.Status)
	}

	var v negView
	readJSONResource(t, host, "negotiation://"+negID, &v)
	checkOutcome(t, "negotiation outcome", v.Outcome, negID, "agreed", "approved", 350, 3)
	// An accept may repeat the standing terms or leave them out.
	if m := v.moves(); len(m) != 3 || m[0] != "1 billing propose 500" || m[1] != "2 escalation counter 350" || !strings.HasPrefix(m[2], "3 billing accept") {
		t.Errorf("moves = %q, want billing proposing 500, escalation countering 350, billing accepting", m)
	}
	if v.Status != "agreed" || v.Rounds != 3 {
		t.Errorf("negotiation status %q after %d rounds, want agreed after 3", v.Status, v.Rounds)
	}
	if resends := checkTurns(t, v, []string{"billing", "escalation"}); resends != 0 {
		t.Errorf("%d resends in an uninterrupted negotiation", resends)
	}
	checkJournals(t, v, billing, escalation)
	if js := triage.journalOf(t, negID); len(js) != 0 {
		t.Errorf("triage, no participant, acted on %+v", js)
	}
	t.Logf("agreed on %v in %d rounds; the subscriber heard %d updates of versions %d to %d; test took %s", tk.Approval.amount(), tk.Approval.Rounds,
		sub.count("ticket://"+ticketID), since+1, tk.Version, time.Since(began).Round(time.Millisecond))
}

// A participant that cannot be reached when its turn comes (its process
// was killed) is retried with backoff, then the negotiation fails naming
// it, and the ticket says so.
func TestNegotiationUnreachableAgent(t *testing.T) {
	dir := t.TempDir()
	billing := startAgent(t, "billing", "-delay", "300ms")
	escalation := startAgent(t, "escalation")
	gw, addr := startNegotiationGateway(t, "sqlite://"+filepath.Join(dir, "parley.db"), negotiationConfig(t, 15*time.Second, 50*time.Millisecond))
	diag := diagnostics([]*process{gw}, []*agentProc{billing, escalation})
	registerAgents(t, addr, billing, escalation)

	const ticketID = "T-43"
	host := connectMCP(t, addr, "2025-11-25", nil)
	since := openTicket(t, host, ticketID)
	sub := connectWatcher(t, addr, "ticket://"+ticketID)
	negID := saveOverLimitRefund(t, host, ticketID)
	// Billing is thinking about round 1; escalation, whose turn is next,
	// dies meanwhile.
	escalation.kill()

	tk := waitForApproval(t, sub.cs, sub, since, ticketID, negID, 30*time.Second, diag)
	a := tk.Approval
	if a.Status != "failed" || a.Decision != "denied" || a.Rounds != 1 || a.DecidedBy != "agents" ||
		!strings.Contains(a.Reason, "escalation") || !strings.Contains(a.Reason, "unreachable") {
		t.Errorf("approval = %+v, want failed, denied after 1 round, the reason naming escalation as unreachable", *a)
	}
	v := getNegotiation(t, host, negID)
	if v.Outcome == nil || v.Outcome.Status != "failed" || v.Outcome.Reason != a.Reason {
		t.Errorf("negotiation outcome = %+v, want the ticket's %+v", v.Outcome, *a)
	}
	if want := []string{"1 billing propose 500"}; !slices.Equal(v.moves(), want) {
		t.Errorf("moves = %q, want %q", v.moves(), want)
	}
	if resends := checkTurns(t, v, []string{"billing", "escalation"}); resends != 0 {
		t.Errorf("%d resends", resends)
	}
	retries := 0
	for _, e := range v.Transcript {
		if e.Kind == "retry" {
			retries++
			if e.Participant != "escalation" || e.Round != 2 || e.MessageID != negID+"/r2/escalation" || e.Error == "" {
				t.Errorf("retry entry = %+v, want escalation's round 2 with the error", e)
			}
		}
	}
	if retries != 3 {
		t.Errorf("%d retry entries, want 3 (one per attempt)", retries)
	}
	checkJournals(t, v, billing, escalation)
}
