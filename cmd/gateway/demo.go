package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/adminapi"
	"github.com/parleyhq/parley/api"
	"github.com/parleyhq/parley/app"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/examples/agents"
	"github.com/parleyhq/parley/negotiation"
	"github.com/parleyhq/parley/workspace"
)

// The demo's escalation rule: a billing refund over 200 that nobody has
// approved yet is negotiated between billing and escalation.
var demoRule = config.Rule{
	Name:         "refund-over-limit",
	Trigger:      config.TriggerTicketSaved,
	When:         `ticket.category == "billing" && ticket.refund_amount > 200.0 && !has(ticket.approval)`,
	Participants: []string{"billing", "escalation"},
	Question:     "Approve an exception refund of {{money .ticket.refund_amount}} for ticket {{.ticket.id}}?",
	Terms:        map[string]string{"amount": "ticket.refund_amount"},
	MaxRounds:    6,
	Fallback:     config.FallbackAskHuman,
}

// demoCustomer and demoText are the ticket the demo files: a customer of
// 6 years and 12k lifetime value asking for a refund of 500 in words.
const (
	demoCustomer = "acme"
	demoText     = "I was charged twice for our annual subscription this month and I'm frustrated. " +
		"Please refund $500 for the duplicate charge."
)

// demoCmd is "gateway demo": the whole support pipeline on this machine,
// with nothing to install and nothing left behind.
//
// It runs the gateway in-process (the same code as "gateway serve") on a
// fresh SQLite file in a temporary directory, listening on a loopback port
// in no-auth mode with the escalation rule refund-over-limit; starts the
// three example A2A agents (triage, billing, escalation) on loopback ports;
// registers them through the admin API; and drives the pipeline with MCP
// clients over HTTP, printing what happens: triage through the agent_triage
// tool, four analyses in parallel, billing claiming the task and setting
// the refund, the negotiation the rule starts (live, from wait_for_ticket's
// progress), its transcript from negotiation://{id}, the resource updates a
// subscriber heard, the resolution and the final ticket.
func demoCmd(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("gateway demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	storeURL := fs.String("store", "", "the store to use: sqlite://PATH or postgres://… (default: a fresh SQLite file in a temporary directory, removed on exit)")
	keep := fs.Bool("keep", false, "keep the temporary store's directory on exit")
	timeout := fs.Duration("timeout", 60*time.Second, "give up if the pipeline takes longer than this")
	think := fs.Duration("think", 150*time.Millisecond, "the agents' think time per message (0 for none)")
	logLevel := fs.String("log-level", "warn", "the gateway's and agents' log level on stderr: debug, info, warn, error")
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		demoUsage(e.stdout, fs)
		return exitOK
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err == nil && (*timeout <= 0 || *think < 0) {
		err = errors.New("--timeout must be positive and --think not negative")
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "gateway demo: %v\n\n", err)
		demoUsage(e.stderr, fs)
		return exitUsage
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.GRPCListen = "" // the demo speaks HTTP only
	cfg.LogLevel = *logLevel
	cfg.AllowPrivateAgentURLs = true // the agents listen on loopback
	// Long enough for the HTTP server to give up on connections a client
	// opened and never used (net/http waits 5s for their first request).
	cfg.ShutdownTimeout = 10 * time.Second
	cfg.Negotiation.Rules = []config.Rule{demoRule}
	tempDir := ""
	if *storeURL != "" {
		cfg.Store = *storeURL
		if !strings.Contains(cfg.Store, "://") {
			cfg.Store = "sqlite://" + cfg.Store // a bare path is a SQLite file
		}
	} else {
		dir, err := os.MkdirTemp("", "parley-demo-")
		if err != nil {
			fmt.Fprintf(e.stderr, "gateway demo: %v\n", err)
			return exitFailure
		}
		tempDir = dir
		cfg.Store = "sqlite://" + filepath.Join(dir, "parley.db")
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(e.stderr, "gateway demo: %v\n", err)
		if tempDir != "" {
			_ = os.RemoveAll(tempDir)
		}
		return exitUsage
	}

	transport := http.DefaultTransport.(*http.Transport).Clone()
	d := &demo{out: &printer{w: e.stdout}, cfg: cfg, think: *think, started: time.Now(),
		transport: transport, http: &http.Client{Transport: transport}, tempStore: tempDir != "" && !*keep}
	d.log = newLogger(cfg, e.stderr)
	code := d.run(ctx, *timeout, e.stderr)
	if tempDir != "" {
		if *keep {
			fmt.Fprintf(e.stdout, "\nThe store is kept in %s (--keep).\n", tempDir)
		} else if err := os.RemoveAll(tempDir); err != nil {
			fmt.Fprintf(e.stderr, "gateway demo: removing %s: %v\n", tempDir, err)
		}
	}
	return code
}

func demoUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "Usage: gateway demo [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Runs the support pipeline end to end on this machine: the gateway (in-process,")
	fmt.Fprintln(w, "SQLite in a temporary directory, loopback, no auth), the triage, billing and")
	fmt.Fprintln(w, "escalation A2A agents, and MCP clients that file a ticket, triage and analyse it,")
	fmt.Fprintln(w, "and let an over-limit refund be negotiated between the agents. PARLEY_* settings")
	fmt.Fprintln(w, "and config files are not read. Exits 0 when the pipeline completes.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Flags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// demo is one run of the demo.
type demo struct {
	out     *printer
	log     *slog.Logger
	cfg     config.Config
	think   time.Duration
	started time.Time
	// transport carries every request the demo's clients make, so that
	// its connections can be closed before the gateway drains.
	transport *http.Transport
	http      *http.Client
	// tempStore: the store is a temporary file, removed on exit.
	tempStore bool

	mcpURL string
}

// fail says which step of the pipeline failed.
func fail(step string, err error) error { return fmt.Errorf("%s: %w", step, err) }

// run starts the gateway and the agents, runs the pipeline within timeout,
// stops everything and returns the exit status.
func (d *demo) run(ctx context.Context, timeout time.Duration, stderr io.Writer) int {
	d.out.title("Parley demo: a support ticket through shared MCP state and an A2A negotiation")
	d.out.plain("(the gateway's and agents' own logs, %s and above, go to stderr)", d.cfg.LogLevel)

	// The gateway, as "gateway serve" runs it.
	gwCtx, stopGateway := context.WithCancel(ctx)
	defer stopGateway()
	ready := make(chan *app.App, 1)
	gwDone := make(chan int, 1)
	go func() { gwDone <- runGateway(gwCtx, d.cfg, d.log, func(a *app.App) { ready <- a }) }()
	var gw *app.App
	select {
	case gw = <-ready:
	case code := <-gwDone:
		fmt.Fprintf(stderr, "gateway demo: FAILED: the gateway did not start (exit status %d; its log is above)\n", code)
		return exitFailure
	case <-time.After(timeout):
		stopGateway()
		<-gwDone
		fmt.Fprintf(stderr, "gateway demo: FAILED: the gateway did not start within %s\n", timeout)
		return exitFailure
	}
	d.mcpURL = gw.URL + "/mcp"

	pctx, cancel := context.WithTimeout(ctx, timeout)
	err := d.pipeline(pctx, gw)
	cancel()
	// The clients are done: close their idle connections, so that the
	// gateway's drain does not wait for them.
	d.transport.CloseIdleConnections()
	if err != nil && pctx.Err() != nil && ctx.Err() == nil {
		err = fmt.Errorf("%w (the demo gives up after %s; --timeout changes that)", err, timeout)
	}

	stopGateway()
	gwCode := exitFailure
	select {
	case gwCode = <-gwDone:
	case <-time.After(d.cfg.ShutdownTimeout + 10*time.Second):
		err = errors.Join(err, errors.New("the gateway did not shut down"))
	}
	if err == nil && gwCode != exitOK {
		err = fmt.Errorf("the gateway stopped with exit status %d (its log is above)", gwCode)
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted: %w", err)
		}
		fmt.Fprintf(stderr, "gateway demo: FAILED: %v\n", err)
		return exitFailure
	}
	d.out.blank()
	d.out.plain("Demo complete in %s: triaged, analysed, negotiated over A2A, written back, resolved.", time.Since(d.started).Round(10*time.Millisecond))
	return exitOK
}

// pipeline is the demo proper, against a running gateway.
func (d *demo) pipeline(ctx context.Context, gw *app.App) (err error) {
	d.out.section("Gateway")
	d.out.kv("listening", gw.URL+"  (MCP at /mcp, admin API at /api/v1; no-auth mode, loopback only)")
	if kind, target := d.cfg.StoreBackend(); kind == config.BackendSQLite {
		note := ""
		if d.tempStore {
			note = "  (temporary: removed on exit; --keep keeps it)"
		}
		d.out.kv("store", "SQLite "+target+note)
	} else {
		d.out.kv("store", redactStore(d.cfg.Store))
	}
	d.out.kv("rule", demoRule.Name+": on "+demoRule.Trigger+" when "+demoRule.When)
	d.out.kv("", fmt.Sprintf("%s negotiate, at most %d rounds, fallback %s", strings.Join(demoRule.Participants, " and "), demoRule.MaxRounds, demoRule.Fallback))

	// --- The agents: real A2A servers on loopback, registered over the admin API.
	d.out.section("Agents (A2A servers on loopback, registered through POST /api/v1/agents)")
	agentLog := d.log.With("component", "demo-agents")
	admin, err := adminapi.NewClient(gw.URL, adminapi.ClientOptions{HTTPClient: &http.Client{Transport: d.transport, Timeout: time.Minute}})
	if err != nil {
		return fail("admin API client", err)
	}
	for _, role := range agents.Roles {
		agentURL, stop, err := agents.Start(context.WithoutCancel(ctx), "127.0.0.1:0", role, agents.Options{Delay: d.think, Logger: agentLog})
		if err != nil {
			return fail("start the "+string(role)+" agent", err)
		}
		defer stop()
		a, err := registerAgent(ctx, d.http, admin, agentURL)
		if err != nil {
			return fail("register the "+string(role)+" agent", err)
		}
		var skills []string
		for _, s := range a.Skills {
			skills = append(skills, s.Name)
		}
		desc := agentURL + "  " + a.Health.Status + "; skill: " + strings.Join(skills, ", ")
		if speaksNegotiation(a.Card) {
			desc += "; speaks " + agents.ExtensionURI
		}
		d.out.kv(a.Name, desc)
	}

	// --- The MCP hosts: one client per role, so the ticket's history says who did what.
	desk, err := d.connect(ctx, "support-desk", true)
	if err != nil {
		return fail("connect the support desk's MCP client", err)
	}
	defer desk.close()
	triage, err := d.connect(ctx, "triage", false)
	if err != nil {
		return fail("connect the triage MCP client", err)
	}
	defer triage.close()
	billing, err := d.connect(ctx, "billing", false)
	if err != nil {
		return fail("connect the billing MCP client", err)
	}
	defer billing.close()
	tools, err := waitForTools(ctx, triage, "agent_triage", "agent_billing", "agent_escalation")
	if err != nil {
		return fail("agent tools", err)
	}
	d.out.kv("MCP tools", strings.Join(tools, ", ")+" (each agent as a tool)")
	d.out.kv("MCP clients", fmt.Sprintf("support-desk, triage, 4 analysts, billing over Streamable HTTP (protocol %s)", desk.cs.InitializeResult().ProtocolVersion))

	// --- 1. The ticket arrives.
	d.out.section("1. A customer writes in")
	var created struct {
		Ticket workspace.Ticket `json:"ticket"`
	}
	if _, err := desk.call(ctx, "save_ticket", map[string]any{"customer": demoCustomer, "summary": demoText}, &created); err != nil {
		return fail("create the ticket (save_ticket)", err)
	}
	t := created.Ticket
	d.out.kv("save_ticket", fmt.Sprintf("%s created for %s, status %s (v%d)", t.ID, t.Customer, t.Status, t.Version))
	d.out.kv("text", strconv.Quote(t.Summary))

	// --- 2. Triage by the triage agent, through its MCP tool.
	d.out.section("2. Triage (the triage agent over A2A, through the agent_triage tool)")
	var triaged struct {
		Agent string        `json:"agent"`
		State string        `json:"state"`
		Data  agents.Triage `json:"data"`
	}
	if _, err := triage.call(ctx, "agent_triage", map[string]any{
		"message": t.Summary,
		"data":    map[string]any{"ticket": map[string]any{"id": t.ID, "customer": t.Customer, "summary": t.Summary}},
	}, &triaged); err != nil {
		return fail("triage (agent_triage)", err)
	}
	tr := triaged.Data
	if tr.Category == "" || tr.Priority == "" {
		return fail("triage (agent_triage)", fmt.Errorf("the agent's answer has no category or priority (state %q)", triaged.State))
	}
	d.out.kv("agent_triage", fmt.Sprintf("%s, %s priority, %s sentiment; asks for a refund of %.2f (task %s)", tr.Category, tr.Priority, tr.Sentiment, tr.RefundAmount, triaged.State))
	for _, r := range splitReasons(tr.Rationale) {
		d.out.kv("", r)
	}
	var saved struct {
		Ticket workspace.Ticket `json:"ticket"`
	}
	if _, err := triage.call(ctx, "save_ticket", map[string]any{"ticket_id": t.ID, "category": tr.Category, "priority": tr.Priority,
		"status": string(workspace.StatusTriaged), "expected_version": t.Version}, &saved); err != nil {
		return fail("save the triage (save_ticket)", err)
	}
	t = saved.Ticket
	d.out.kv("save_ticket", fmt.Sprintf("%s: category %s, priority %s, status %s (v%d)", t.ID, t.Category, t.Priority, t.Status, t.Version))

	// --- 3. Four analyses in parallel, each in its own namespace.
	d.out.section("3. Four analyses in parallel, each agent in its own namespace")
	if err := d.analyse(ctx, t, tr); err != nil {
		return err
	}
	var all struct {
		Analyses []struct {
			Namespace string `json:"namespace"`
			Author    string `json:"author"`
			Findings  any    `json:"findings"`
		} `json:"analyses"`
	}
	if _, err := desk.call(ctx, "get_all_analysis", map[string]any{"ticket_id": t.ID}, &all); err != nil {
		return fail("aggregate the analyses (get_all_analysis)", err)
	}
	d.out.kv("get_all_analysis", fmt.Sprintf("%d namespaces, one read:", len(all.Analyses)))
	for _, a := range all.Analyses {
		d.out.kv("  "+a.Namespace, fmt.Sprintf("%-22s %s", "by "+a.Author, describeFindings(a.Findings)))
	}
	if len(all.Analyses) != 4 {
		return fail("aggregate the analyses (get_all_analysis)", fmt.Errorf("%d namespaces, want 4", len(all.Analyses)))
	}

	// --- 4. Billing takes it and sets the refund: the rule fires.
	d.out.section("4. Billing takes the ticket; the refund is over the limit")
	var task struct {
		Task workspace.Task `json:"task"`
	}
	if _, err := triage.call(ctx, "create_task", map[string]any{"type": "billing",
		"payload": map[string]any{"ticket_id": t.ID, "refund_requested": tr.RefundAmount}}, &task); err != nil {
		return fail("queue the billing task (create_task)", err)
	}
	taskID := task.Task.ID
	d.out.kv("create_task", fmt.Sprintf("%s queued (type billing) by triage", taskID))
	if _, err := billing.call(ctx, "claim_task", map[string]any{"types": []string{"billing"}, "claimant": "billing"}, &task); err != nil {
		return fail("claim the billing task (claim_task)", err)
	}
	if task.Task.ID != taskID {
		return fail("claim the billing task (claim_task)", fmt.Errorf("claimed %s, not the demo's %s: the store has other billing tasks queued (run the demo without --store)", task.Task.ID, taskID))
	}
	lease := task.Task.LeaseToken
	until := ""
	if task.Task.LeaseUntil != nil {
		until = ", lease until " + task.Task.LeaseUntil.Local().Format("15:04:05")
	}
	d.out.kv("claim_task", fmt.Sprintf("%s claimed by %s%s", taskID, task.Task.Claimant, until))

	// The desk follows the ticket from here: a subscriber hears of every
	// change, whoever makes it.
	uri := "ticket://" + t.ID
	if err := desk.cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri}); err != nil {
		return fail("subscribe to "+uri, err)
	}
	subscribedAt := t.Version
	d.out.kv("subscribe", uri+" (the support desk)")
	if tr.RefundAmount <= 0 {
		return fail("set the refund", errors.New("triage found no refund amount in the ticket"))
	}
	var refund struct {
		Ticket       workspace.Ticket `json:"ticket"`
		Negotiations []struct {
			NegotiationID string `json:"negotiation_id"`
			Rule          string `json:"rule"`
		} `json:"negotiations"`
	}
	desk.progressFrom(time.Now()) // progress is timed from the save that fires the rule
	res, err := billing.call(ctx, "save_ticket", map[string]any{"ticket_id": t.ID, "refund_amount": tr.RefundAmount, "expected_version": t.Version}, &refund)
	if err != nil {
		return fail("set the refund (save_ticket)", err)
	}
	t = refund.Ticket
	d.out.kv("save_ticket", fmt.Sprintf("%s: refund_amount %.2f by billing (v%d)", t.ID, t.RefundAmount, t.Version))
	if len(refund.Negotiations) != 1 {
		return fail("set the refund (save_ticket)", fmt.Errorf("the rule %s did not fire: the result names %d negotiations", demoRule.Name, len(refund.Negotiations)))
	}
	negID := refund.Negotiations[0].NegotiationID
	negURI := "negotiation://" + negID
	if !slices.Contains(resourceLinks(res), negURI) {
		return fail("set the refund (save_ticket)", fmt.Errorf("the result does not link %s (links: %v)", negURI, resourceLinks(res)))
	}
	d.out.kv("", fmt.Sprintf("rule %s fired: the result links %s", refund.Negotiations[0].Rule, negURI))

	// --- 5. The negotiation, as the support desk sees it live.
	d.out.section("5. The negotiation, live (wait_for_ticket's progress notifications)")
	prior := t.Status
	refundVersion := t.Version
	// The engine takes the negotiation up in the background and marks the
	// ticket negotiating; wait for that (or for the outcome, if it was
	// quicker), so that waiting for the prior status waits for the outcome.
	if err := waitUntil(ctx, func() (bool, error) {
		var cur workspace.Ticket
		if _, err := desk.call(ctx, "get_ticket", map[string]any{"ticket_id": t.ID}, &cur); err != nil {
			return false, err
		}
		return cur.Status == workspace.StatusNegotiating || cur.Approval != nil && cur.Approval.NegotiationID == negID, nil
	}); err != nil {
		return fail("wait for the negotiation to start", err)
	}
	var waited struct {
		Ticket            workspace.Ticket `json:"ticket"`
		Reached           bool             `json:"reached"`
		TimedOut          bool             `json:"timed_out"`
		Changes           int              `json:"changes"`
		NegotiationEvents int              `json:"negotiation_events"`
	}
	waitSecs := 60
	if dl, ok := ctx.Deadline(); ok {
		waitSecs = max(1, int(time.Until(dl).Seconds()))
	}
	if _, err := desk.callProgress(ctx, "wait_for_ticket", map[string]any{"ticket_id": t.ID, "statuses": []string{string(prior)},
		"since_version": refundVersion, "timeout_seconds": min(waitSecs, 600)}, &waited); err != nil {
		return fail("wait for the outcome (wait_for_ticket)", err)
	}
	// Progress notifications travel apart from the result: let the last
	// ones land before going on.
	desk.awaitProgress(ctx, waited.Changes+waited.NegotiationEvents)
	t = waited.Ticket
	if !waited.Reached || t.Approval == nil || t.Approval.NegotiationID != negID {
		return fail("wait for the outcome (wait_for_ticket)", fmt.Errorf("the ticket is %s with no outcome of %s (timed out: %v)", t.Status, negID, waited.TimedOut))
	}
	d.out.kv("wait_for_ticket", fmt.Sprintf("returned: status %s again, approval %s (%d changes, %d negotiation events)", t.Status, t.Approval.Decision, waited.Changes, waited.NegotiationEvents))

	// --- 6. The transcript.
	rr, err := desk.cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: negURI})
	if err != nil {
		return fail("read "+negURI, err)
	}
	if len(rr.Contents) == 0 {
		return fail("read "+negURI, errors.New("no contents"))
	}
	var v negotiation.View
	if err := json.Unmarshal([]byte(rr.Contents[0].Text), &v); err != nil {
		return fail("read "+negURI, err)
	}
	if v.Outcome == nil {
		return fail("read "+negURI, errors.New("no outcome"))
	}
	d.out.section("6. The transcript (resources/read " + negURI + ")")
	d.printTranscript(v)

	// The subscriber heard of the changes: one resources/updated per change.
	want := int(t.Version - subscribedAt)
	n := desk.awaitUpdates(ctx, uri, want)
	d.out.blank()
	d.out.kv("resources/updated", fmt.Sprintf("%s ×%d since the desk subscribed, one per change:", uri, n))
	var doc struct {
		Ticket  workspace.Ticket `json:"ticket"`
		History []struct {
			Version int64           `json:"version"`
			Actor   string          `json:"actor"`
			Action  string          `json:"action"`
			Detail  json.RawMessage `json:"detail"`
		} `json:"history"`
	}
	if err := readJSONResource(ctx, desk, uri, &doc); err != nil {
		return fail("read "+uri, err)
	}
	for _, h := range doc.History {
		if h.Version > subscribedAt && h.Version <= t.Version {
			d.out.kv("", fmt.Sprintf("v%d  %-9s by %-18s  %s", h.Version, h.Action, h.Actor, describeDetail(h.Detail)))
		}
	}
	if n < want {
		return fail("resources/updated", fmt.Errorf("the subscriber heard of %d changes to %s, want %d", n, uri, want))
	}

	o := v.Outcome
	if o.Decision != negotiation.DecisionApproved {
		return fail("the negotiation", fmt.Errorf("ended %s, %s: %s (the demo expects the agents to agree)", o.Status, o.Decision, o.Reason))
	}
	approved := amountOf(o.Terms)

	// --- 7. Resolution.
	d.out.section("7. Billing resolves the ticket with the approved amount")
	if _, err := billing.call(ctx, "complete_task", map[string]any{"task_id": taskID, "lease_token": lease,
		"result": map[string]any{"ticket_id": t.ID, "negotiation_id": negID, "approved_amount": approved}}, &task); err != nil {
		return fail("complete the billing task (complete_task)", err)
	}
	d.out.kv("complete_task", fmt.Sprintf("%s %s", task.Task.ID, task.Task.Status))
	resolution := fmt.Sprintf("Refund of %.2f approved as an exception (asked: %.2f; negotiation %s: %s after %d rounds). Duplicate charge refunded.",
		approved, t.RefundAmount, negID, o.Status, o.Rounds)
	var resolved struct {
		Ticket  workspace.Ticket `json:"ticket"`
		Saved   bool             `json:"saved"`
		Outcome string           `json:"outcome"`
	}
	if _, err := billing.call(ctx, "save_resolution", map[string]any{"ticket_id": t.ID, "resolution": resolution}, &resolved); err != nil {
		return fail("resolve the ticket (save_resolution)", err)
	}
	if !resolved.Saved || resolved.Ticket.Status != workspace.StatusResolved {
		return fail("resolve the ticket (save_resolution)", fmt.Errorf("not saved (%s), status %s", resolved.Outcome, resolved.Ticket.Status))
	}
	d.out.kv("save_resolution", fmt.Sprintf("%s resolved (v%d)", resolved.Ticket.ID, resolved.Ticket.Version))

	// --- The final ticket, as any host reads it.
	d.out.section("Final ticket (" + uri + ")")
	if err := readJSONResource(ctx, desk, uri, &doc); err != nil {
		return fail("read "+uri, err)
	}
	d.printTicket(doc.Ticket)
	if doc.Ticket.Status != workspace.StatusResolved || doc.Ticket.Approval == nil || doc.Ticket.Approval.Decision != negotiation.DecisionApproved {
		return fail("the final ticket", fmt.Errorf("status %s, approval %+v", doc.Ticket.Status, doc.Ticket.Approval))
	}
	return nil
}

// analyse runs the four analysts at once, each its own MCP client writing
// its own namespace, and prints what each saved in a fixed order.
func (d *demo) analyse(ctx context.Context, t workspace.Ticket, tr agents.Triage) error {
	basis := func(prefix string) string {
		for _, r := range splitReasons(tr.Rationale) {
			if strings.HasPrefix(r, prefix+" ") {
				return r
			}
		}
		return ""
	}
	c := agents.LookupCustomer(t.Customer)
	work := []struct {
		ns       string
		findings map[string]any
	}{
		{"sentiment", map[string]any{"sentiment": tr.Sentiment, "why": basis("sentiment")}},
		{"category", map[string]any{"category": tr.Category, "why": basis("category")}},
		{"priority", map[string]any{"priority": tr.Priority, "why": basis("priority")}},
		{"history", map[string]any{"customer": c.Name, "tenure_years": c.TenureYears, "lifetime_value": c.LifetimeValue, "tier": c.Tier()}},
	}
	type result struct {
		version int64
		author  string
		took    time.Duration
		err     error
	}
	results := make([]result, len(work))
	began := time.Now()
	var wg sync.WaitGroup
	for i, w := range work {
		wg.Go(func() {
			start := time.Now()
			cl, err := d.connect(ctx, w.ns+"-analyst", false)
			if err != nil {
				results[i].err = err
				return
			}
			defer cl.close()
			var out struct {
				Author  string `json:"author"`
				Version int64  `json:"version"`
			}
			_, err = cl.call(ctx, "save_analysis", map[string]any{"ticket_id": t.ID, "namespace": w.ns, "findings": w.findings}, &out)
			results[i] = result{out.Version, out.Author, time.Since(start), err}
		})
	}
	wg.Wait()
	took := time.Since(began)
	for i, w := range work {
		if r := results[i]; r.err != nil {
			return fail("the "+w.ns+" analysis (save_analysis)", r.err)
		}
		d.out.kv("save_analysis", fmt.Sprintf("%-10s by %-20s v%d, %s", w.ns, results[i].author, results[i].version, results[i].took.Round(time.Millisecond)))
	}
	d.out.kv("", fmt.Sprintf("four clients at once: %s in all", took.Round(time.Millisecond)))
	return nil
}

// printTranscript prints a negotiation's head and every transcript entry,
// one line each: when, round, who, what (move, amount) and why.
func (d *demo) printTranscript(v negotiation.View) {
	o := v.Outcome
	d.out.kv("question", v.Question)
	d.out.kv("between", fmt.Sprintf("%s (rule %s, at most %d rounds, fallback %s)", strings.Join(v.Participants, ", "), v.Rule, v.MaxRounds, v.Fallback))
	outcome := fmt.Sprintf("%s, %s", o.Status, o.Decision)
	if len(o.Terms) > 0 {
		outcome += " " + negotiation.FormatTerms(o.Terms)
	}
	outcome += fmt.Sprintf(" after %d rounds", o.Rounds)
	if o.DecidedBy != "" {
		outcome += ", decided by " + o.DecidedBy
	}
	d.out.kv("outcome", outcome)
	d.out.kv("reason", o.Reason)
	d.out.blank()

	tw := tabwriter.NewWriter(d.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  at\tround\twho\tmove\tamount\trationale / detail")
	start := v.StartedAt
	if len(v.Transcript) > 0 {
		start = v.Transcript[0].At
	}
	for _, e := range v.Transcript {
		at := fmt.Sprintf("+%.3fs", e.At.Sub(start).Seconds())
		round := ""
		if e.Round > 0 {
			round = strconv.Itoa(e.Round)
		}
		switch e.Kind {
		case negotiation.EntryStart:
			fmt.Fprintf(tw, "  %s\t\tparley\tstart\t\t%s\n", at, e.Text)
		case negotiation.EntryTurn, negotiation.EntryResend:
			var turn struct {
				AllowedMoves []string `json:"allowed_moves"`
				Standing     *struct {
					By    string          `json:"by"`
					Terms json.RawMessage `json:"terms"`
				} `json:"standing"`
			}
			_ = json.Unmarshal(e.Data, &turn)
			what := "your move: " + strings.Join(turn.AllowedMoves, ", ")
			if turn.Standing != nil {
				what += fmt.Sprintf(" (standing: %s by %s)", negotiation.FormatTerms(turn.Standing.Terms), turn.Standing.By)
			}
			if e.Kind == negotiation.EntryResend {
				what = "resent: " + e.Text
			}
			fmt.Fprintf(tw, "  %s\t%s\tparley → %s\tturn\t\t%s\n", at, round, e.Participant, what)
		case negotiation.EntryReply:
			var m negotiation.Move
			_ = json.Unmarshal(e.Data, &m)
			amount := ""
			if len(m.Terms) > 0 {
				amount = negotiation.FormatTerms(m.Terms)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", at, round, e.Participant, m.Move, amount, m.Rationale)
		case negotiation.EntryOutcome, negotiation.EntryDecided:
			var oc negotiation.Outcome
			_ = json.Unmarshal(e.Data, &oc)
			amount := ""
			if len(oc.Terms) > 0 {
				amount = negotiation.FormatTerms(oc.Terms)
			}
			fmt.Fprintf(tw, "  %s\t\tparley\t%s\t%s\t%s, %s: %s\n", at, e.Kind, amount, oc.Status, oc.Decision, oc.Reason)
		default: // retry, invalid
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t\t%s\n", at, round, e.Participant, e.Kind, firstNonEmptyString(e.Error, e.Text))
		}
	}
	tw.Flush()
}

// printTicket prints the ticket's fields, aligned.
func (d *demo) printTicket(t workspace.Ticket) {
	d.out.kv("id", t.ID)
	d.out.kv("customer", t.Customer)
	d.out.kv("category", t.Category)
	d.out.kv("priority", t.Priority)
	d.out.kv("status", string(t.Status))
	d.out.kv("refund asked", fmt.Sprintf("%.2f", t.RefundAmount))
	if a := t.Approval; a != nil {
		d.out.kv("approval", fmt.Sprintf("%s %s (%s in %d rounds, decided by %s)", a.Decision, negotiation.FormatTerms(a.Terms), a.Status, a.Rounds, a.DecidedBy))
		d.out.kv("", "negotiation "+a.NegotiationID+": "+a.Reason)
	}
	d.out.kv("resolution", t.Resolution)
	d.out.kv("version", strconv.FormatInt(t.Version, 10))
	compact, _ := json.Marshal(t)
	d.out.blank()
	d.out.plain("  %s", compact)
}

// registerAgent registers the agent at url through the admin API; an agent
// of the same name left in a kept store is pointed at url instead.
func registerAgent(ctx context.Context, hc *http.Client, admin *adminapi.Client, agentURL string) (api.Agent, error) {
	a, err := admin.Register(ctx, api.RegisterAgentRequest{URL: agentURL})
	if adminapi.IsStatus(err, http.StatusConflict) {
		// Left by an earlier run on a kept store: the name comes from
		// the card, so read it to know which agent to point at url.
		var card struct {
			Name string `json:"name"`
		}
		if cerr := getJSON(ctx, hc, agentURL+".well-known/agent-card.json", &card); cerr != nil {
			return api.Agent{}, errors.Join(err, cerr)
		}
		return admin.Replace(ctx, card.Name, api.ReplaceAgentRequest{URL: agentURL})
	}
	return a, err
}

func getJSON(ctx context.Context, hc *http.Client, target string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", target, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// speaksNegotiation reports whether a card declares the negotiation
// extension.
func speaksNegotiation(card json.RawMessage) bool {
	var c struct {
		Capabilities struct {
			Extensions []struct {
				URI string `json:"uri"`
			} `json:"extensions"`
		} `json:"capabilities"`
	}
	_ = json.Unmarshal(card, &c)
	return slices.ContainsFunc(c.Capabilities.Extensions, func(x struct {
		URI string `json:"uri"`
	}) bool {
		return x.URI == agents.ExtensionURI
	})
}

// waitForTools waits until the tools are listed (agent tools appear once
// the gateway has followed the registrations from its change feed).
func waitForTools(ctx context.Context, c *demoClient, want ...string) ([]string, error) {
	var names []string
	err := waitUntil(ctx, func() (bool, error) {
		res, err := c.cs.ListTools(ctx, nil)
		if err != nil {
			return false, err
		}
		names = names[:0]
		for _, t := range res.Tools {
			if slices.Contains(want, t.Name) {
				names = append(names, t.Name)
			}
		}
		return len(names) == len(want), nil
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for the tools %s: %w", strings.Join(want, ", "), err)
	}
	sort.Strings(names)
	return names, nil
}

// waitUntil polls done every 20ms until it holds, fails, or ctx ends.
func waitUntil(ctx context.Context, done func() (bool, error)) error {
	for {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func readJSONResource(ctx context.Context, c *demoClient, uri string, v any) error {
	rr, err := c.cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
	if err != nil {
		return err
	}
	if len(rr.Contents) == 0 {
		return errors.New("no contents")
	}
	return json.Unmarshal([]byte(rr.Contents[0].Text), v)
}

// resourceLinks lists the URIs a tool result links to.
func resourceLinks(res *mcp.CallToolResult) []string {
	var out []string
	for _, c := range res.Content {
		if l, ok := c.(*mcp.ResourceLink); ok {
			out = append(out, l.URI)
		}
	}
	return out
}

// describeFindings writes an analysis's findings on one line: key: value,
// in key order.
func describeFindings(f any) string {
	m, ok := f.(map[string]any)
	if !ok {
		b, _ := json.Marshal(f)
		return string(b)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := m[k]
		switch x := v.(type) {
		case string:
			parts = append(parts, k+": "+x)
		case float64:
			parts = append(parts, k+": "+strconv.FormatFloat(x, 'f', -1, 64))
		default:
			b, _ := json.Marshal(x)
			parts = append(parts, k+": "+string(b))
		}
	}
	return strings.Join(parts, "; ")
}

// describeDetail says what a ticket history entry changed.
func describeDetail(detail json.RawMessage) string {
	var d map[string]any
	if json.Unmarshal(detail, &d) != nil || len(d) == 0 {
		return ""
	}
	var parts []string
	if to, ok := d["to"].(string); ok {
		parts = append(parts, "status → "+to)
	}
	if ch, ok := d["changed"].([]any); ok && len(ch) > 0 {
		var names []string
		for _, c := range ch {
			names = append(names, fmt.Sprint(c))
		}
		parts = append(parts, "changed "+strings.Join(names, ", "))
	}
	if dec, ok := d["decision"].(string); ok {
		parts = append(parts, "decision "+dec)
	}
	if id, ok := d["negotiation_id"].(string); ok {
		parts = append(parts, "negotiation "+id)
	}
	return strings.Join(parts, "; ")
}

func amountOf(terms json.RawMessage) float64 {
	var m struct {
		Amount float64 `json:"amount"`
	}
	_ = json.Unmarshal(terms, &m)
	return m.Amount
}

// splitReasons splits triage's rationale into its parts, at "; " outside
// parentheses: "category billing (refund); priority high (a; b)".
func splitReasons(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth = max(0, depth-1)
		case ';':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	if rest := strings.TrimSpace(s[start:]); rest != "" {
		out = append(out, rest)
	}
	return out
}

func firstNonEmptyString(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// redactStore hides a store URL's password.
func redactStore(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "(unparsable store URL)"
}

// demoClient is one MCP host: a go-sdk client session over Streamable
// HTTP, with what its notifications brought.
type demoClient struct {
	cs  *mcp.ClientSession
	out *printer

	mu       sync.Mutex
	since    time.Time // progress times are printed relative to it
	progress int
	updates  map[string]int
	changed  chan struct{} // a notification arrived
}

// connect opens an MCP session named name. A watcher prints progress
// notifications as they arrive and counts resource updates.
func (d *demo) connect(ctx context.Context, name string, watcher bool) (*demoClient, error) {
	c := &demoClient{out: d.out, updates: map[string]int{}, changed: make(chan struct{}, 1), since: time.Now()}
	opts := &mcp.ClientOptions{}
	if watcher {
		opts.ProgressNotificationHandler = c.onProgress
		opts.ResourceUpdatedHandler = c.onUpdated
	}
	client := mcp.NewClient(&mcp.Implementation{Name: name, Version: resolveVersion()}, opts)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: d.mcpURL, HTTPClient: d.http}, nil)
	if err != nil {
		return nil, err
	}
	c.cs = cs
	return c, nil
}

func (c *demoClient) close() { _ = c.cs.Close() }

func (c *demoClient) signal() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

func (c *demoClient) onProgress(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
	c.mu.Lock()
	c.progress++
	at := time.Since(c.since)
	c.mu.Unlock()
	c.out.kv(fmt.Sprintf("+%.2fs", at.Seconds()), req.Params.Message)
	c.signal()
}

func (c *demoClient) onUpdated(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
	c.mu.Lock()
	c.updates[req.Params.URI]++
	c.mu.Unlock()
	c.signal()
}

// progressFrom resets the progress count and clock.
func (c *demoClient) progressFrom(t time.Time) {
	c.mu.Lock()
	c.since, c.progress = t, 0
	c.mu.Unlock()
}

// awaitProgress waits (up to 5s) for n progress notifications since
// progressFrom.
func (c *demoClient) awaitProgress(ctx context.Context, n int) int {
	return c.await(ctx, func() int { return c.progress }, n)
}

// awaitUpdates waits (up to 5s) for n resources/updated notifications
// about uri, and returns how many arrived.
func (c *demoClient) awaitUpdates(ctx context.Context, uri string, n int) int {
	return c.await(ctx, func() int { return c.updates[uri] }, n)
}

func (c *demoClient) await(ctx context.Context, count func() int, n int) int {
	deadline := time.After(5 * time.Second)
	for {
		c.mu.Lock()
		got := count()
		c.mu.Unlock()
		if got >= n {
			return got
		}
		select {
		case <-c.changed:
		case <-deadline:
			return got
		case <-ctx.Done():
			return got
		}
	}
}

// call calls a tool and decodes its structured result into out. A tool
// error becomes an error with the tool's message.
func (c *demoClient) call(ctx context.Context, name string, args map[string]any, out any) (*mcp.CallToolResult, error) {
	return c.callTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args}, out)
}

// callProgress is call with a progress token: the server's progress
// notifications for the call are printed as they arrive.
func (c *demoClient) callProgress(ctx context.Context, name string, args map[string]any, out any) (*mcp.CallToolResult, error) {
	p := &mcp.CallToolParams{Name: name, Arguments: args}
	p.SetProgressToken(name)
	return c.callTool(ctx, p, out)
}

func (c *demoClient) callTool(ctx context.Context, p *mcp.CallToolParams, out any) (*mcp.CallToolResult, error) {
	res, err := c.cs.CallTool(ctx, p)
	if err != nil {
		return nil, err
	}
	if res.IsError {
		var msgs []string
		for _, ct := range res.Content {
			if t, ok := ct.(*mcp.TextContent); ok {
				msgs = append(msgs, t.Text)
			}
		}
		return res, fmt.Errorf("tool error: %s", strings.Join(msgs, " "))
	}
	if out != nil {
		data, err := json.Marshal(res.StructuredContent)
		if err != nil {
			return res, err
		}
		if err := json.Unmarshal(data, out); err != nil {
			return res, fmt.Errorf("reading the result of %s: %w", p.Name, err)
		}
	}
	return res, nil
}

// printer writes the demo's output: sections and aligned label/value
// lines, whole lines at a time (notifications print from other
// goroutines).
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *printer) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.w.Write(b)
}

func (p *printer) title(s string) {
	fmt.Fprintf(p, "%s\n%s\n", s, strings.Repeat("=", len([]rune(s))))
}

func (p *printer) section(s string) { fmt.Fprintf(p, "\n== %s\n", s) }

func (p *printer) plain(format string, args ...any) { fmt.Fprintf(p, format+"\n", args...) }

func (p *printer) blank() { fmt.Fprintln(p) }

// kv prints an aligned "label  value" line.
func (p *printer) kv(label, value string) { fmt.Fprintf(p, "  %-18s %s\n", label, value) }
