package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/bench/internal/child"
	"github.com/parleyhq/parley/bench/internal/cli"
	"github.com/parleyhq/parley/bench/internal/mcpclient"
	"github.com/parleyhq/parley/bench/internal/proc"
	"github.com/parleyhq/parley/config"
)

// Mode is the protocol generation the clients speak.
type Mode = mcpclient.Mode

// Servers.
const (
	serverBare       = "bare"        // the bare go-sdk server, a map lookup
	serverParley     = "parley"      // the gateway, auth off (no issuer)
	serverParleyAuth = "parley-auth" // the gateway, auth on (a local OIDC issuer)
	serverParleyPG   = "parley-pg"   // the gateway on PostgreSQL, auth off (-postgres-url with -store sqlite)
)

// Operations measured.
const (
	toolGet     = "get_ticket"
	toolSave    = "save_ticket"
	openSession = "open_session" // initialize + initialized (+ DELETE at close)
)

// What the gateway is measured against.
const (
	// compareBare: the bare go-sdk server (the default).
	compareBare = "bare"
	// compareAuth: the gateway with auth on against itself with auth off.
	compareAuth = "auth"
)

// Auth settings of the gateway (-auth).
const (
	authOff  = "off"
	authOn   = "on"
	authBoth = "both"
)

// The targets, as ratios of server CPU per call (gateway ÷ bare).
const (
	TargetGet  = 1.25
	TargetOpen = 1.5
	// TargetIdleRSSMiB bounds the gateway's RSS with -idle-sessions open.
	TargetIdleRSSMiB = 500
)

// Config is one run.
type Config struct {
	Clients int
	// Duration measures each scenario for this long, unless Requests > 0.
	Duration time.Duration
	// Requests measures this many calls per scenario instead.
	Requests int
	// Warmup runs each scenario unmeasured for this long first.
	Warmup time.Duration
	// Rounds splits each scenario's measurement into this many turns,
	// taken in rotation with the other scenarios. Default 5.
	Rounds int
	// NoGet skips get_ticket at full speed, NoSave save_ticket and NoOpen
	// opening sessions: for profiling one scenario alone.
	NoGet, NoSave, NoOpen bool
	Modes                 []Mode
	// Rate, if positive, adds get_ticket at this fixed rate (calls a
	// second, spread over the clients) to every mode.
	Rate float64
	// IdleSessions, if positive, opens this many sessions on each server
	// at the end and reports its RSS.
	IdleSessions int
	// BareGCFloor, if positive, has the bare server hold the gateway's GC
	// heap floor (internal/gcfloor) of this many bytes, for a comparison
	// at the same collector pacing; 0 runs it at Go's defaults.
	BareGCFloor int64
	// Store is sqlite or postgres, for the gateways started here.
	Store       string
	PostgresURL string
	// Auth is off, on or both: the gateway with auth off, on, or both.
	Auth string
	// Tickets is how many tickets to seed.
	Tickets int
	// Target is a running gateway's /mcp URL; empty starts one. TargetPID
	// is its process, whose CPU time is read (0: server CPU unknown).
	Target    string
	TargetPID int
	// CallTimeout bounds one tool call.
	CallTimeout time.Duration
	// Compare is bare (the default) or auth.
	Compare string
	// ServerLog, if set, is a directory where each gateway writes its log
	// (NAME.log); otherwise logs go to os.DevNull.
	ServerLog string
	// ServerCPUProfile, if set, makes each server write a CPU profile of
	// its process to ServerCPUProfile.NAME.prof, from the end of the
	// seeding (Run tells each child when) to the end of the run.
	ServerCPUProfile string
	// Progress, if set, receives a line per step; Stderr the servers'
	// own error output (os.Stderr if nil).
	Progress io.Writer
	Stderr   io.Writer
}

func (c *Config) validate() error {
	if c.Clients < 1 {
		return fmt.Errorf("-clients %d: want at least 1", c.Clients)
	}
	if c.Requests < 0 {
		return fmt.Errorf("-requests %d: want 0 (use -duration) or more", c.Requests)
	}
	if c.Requests == 0 && c.Duration <= 0 {
		return fmt.Errorf("-duration %s: want a positive duration (or -requests)", c.Duration)
	}
	if c.Warmup < 0 || c.Rate < 0 || c.IdleSessions < 0 {
		return errors.New("-warmup, -rate and -idle-sessions must not be negative")
	}
	if c.Tickets < c.Clients {
		return fmt.Errorf("-tickets %d: want at least -clients (%d), so that each client updates a ticket of its own", c.Tickets, c.Clients)
	}
	if c.Tickets > 99999 {
		return fmt.Errorf("-tickets %d: at most 99999", c.Tickets)
	}
	if c.Rounds <= 0 {
		c.Rounds = 5
	}
	if len(c.Modes) == 0 {
		return errors.New("no mode to run")
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 10 * time.Second
	}
	switch c.Compare {
	case "":
		c.Compare = compareBare
	case compareBare, compareAuth:
	default:
		return fmt.Errorf("-compare %q: want bare or auth", c.Compare)
	}
	switch c.Auth {
	case "":
		c.Auth = authBoth
	case authOff, authOn, authBoth:
	default:
		return fmt.Errorf("-auth %q: want off, on or both", c.Auth)
	}
	if c.Compare == compareAuth {
		c.Auth = authBoth
	}
	if c.Target != "" {
		if c.Compare == compareAuth || c.Auth != authOff {
			return errors.New("-target loads one running gateway: use it with -auth off (and not -compare auth)")
		}
		if c.Store != "" && c.Store != "sqlite" || c.PostgresURL != "" {
			return errors.New("-store and -postgres-url configure the gateway started here; with -target the gateway's own settings apply")
		}
		return nil
	}
	if c.TargetPID != 0 {
		return errors.New("-target-pid is for -target")
	}
	switch c.Store {
	case "", "sqlite":
		c.Store = "sqlite"
	case "postgres":
		if c.PostgresURL == "" {
			return errors.New("-store postgres needs -postgres-url")
		}
	default:
		return fmt.Errorf("-store %q: want sqlite or postgres", c.Store)
	}
	return nil
}

// servers are the servers of c, in the order they are measured in each
// round.
func (c *Config) servers() []string {
	var s []string
	if c.Compare == compareBare {
		s = append(s, serverBare)
	}
	if c.Auth != authOn || c.Compare == compareAuth {
		s = append(s, serverParley)
	}
	if c.Auth != authOff {
		s = append(s, serverParleyAuth)
	}
	if c.Compare == compareBare && c.Store == "sqlite" && c.PostgresURL != "" && c.Target == "" {
		s = append(s, serverParleyPG)
	}
	return s
}

// storeURL is the store of the gateway called name: a fresh SQLite file
// in dir, or PostgreSQL.
func (c *Config) storeURL(name, dir string) string {
	if name == serverParleyPG || c.Store == "postgres" {
		return c.PostgresURL
	}
	return "sqlite://" + filepath.Join(dir, name+".db")
}

// childArgs are the log and profile flags of the server called name.
func (c *Config) childArgs(name string) []string {
	var args []string
	if c.ServerLog != "" && name != serverBare {
		args = append(args, "-log", filepath.Join(c.ServerLog, name+".log"))
	}
	if c.ServerCPUProfile != "" {
		args = append(args, "-cpuprofile", c.ServerCPUProfile+"."+name+".prof")
	}
	return args
}

func (c *Config) progress(format string, args ...any) {
	cli.Progressf(c.Progress, "mcpload", format, args...)
}

// Result is one scenario: one server, one operation, one mode.
type Result struct {
	Mode   Mode   `json:"mode"`
	Server string `json:"server"`
	// Tool is get_ticket, save_ticket or open_session.
	Tool string `json:"tool"`
	// Rate is the fixed rate the calls were made at (calls a second); 0:
	// as fast as the clients go, one call at a time each.
	Rate float64 `json:"rate,omitempty"`
	// Protocol is the revision the clients negotiated.
	Protocol string `json:"protocol"`
	// Outcome is the calls, errors, throughput and latencies.
	mcpclient.Outcome
	// ServerCPUPerCallUs is the server process's CPU time (user+system)
	// per call while measured; 0 where unknown.
	ServerCPUPerCallUs float64 `json:"server_cpu_per_call_us"`
	// ServerCores is the server's CPU time over wall time.
	ServerCores float64 `json:"server_cores"`
	// ClientCPUPerCallUs is this process's (the clients') CPU per call.
	ClientCPUPerCallUs float64 `json:"client_cpu_per_call_us"`
}

// Ratio compares one scenario of a server with the same scenario of its
// baseline (the bare server, or the gateway with auth off).
type Ratio struct {
	Mode     Mode    `json:"mode"`
	Tool     string  `json:"tool"`
	Rate     float64 `json:"rate,omitempty"`
	Server   string  `json:"server"`
	Baseline string  `json:"baseline"`
	// CPU is the server's CPU per call over the baseline's.
	CPU float64 `json:"cpu"`
	// Target is the bound for CPU (0: none); Met whether CPU is
	// within it.
	Target float64 `json:"target,omitempty"`
	Met    bool    `json:"met,omitempty"`
	// RPS is the server's throughput over the baseline's.
	RPS                          float64 `json:"rps"`
	P50Ms, P99Ms                 float64
	BaselineP50Ms, BaselineP99Ms float64
}

// Idle is a server's memory with many idle sessions open.
type Idle struct {
	Server        string  `json:"server"`
	Sessions      int     `json:"sessions"`
	Errors        int64   `json:"errors"`
	FirstError    string  `json:"first_error,omitempty"`
	Seconds       float64 `json:"seconds"`
	RSSBeforeMiB  float64 `json:"rss_before_mib"`
	RSSAfterMiB   float64 `json:"rss_after_mib"`
	KiBPerSession float64 `json:"kib_per_session"`
}

// Report is a run's outcome.
type Report struct {
	Clients     int      `json:"clients"`
	Duration    string   `json:"duration,omitempty"`
	Requests    int      `json:"requests,omitempty"`
	Warmup      string   `json:"warmup"`
	Rounds      int      `json:"rounds"`
	Store       string   `json:"store,omitempty"`
	BareGCFloor int64    `json:"bare_gc_floor_bytes,omitempty"`
	Target      string   `json:"target,omitempty"`
	Compare     string   `json:"compare"`
	Auth        string   `json:"auth"`
	Tickets     int      `json:"tickets"`
	Servers     []string `json:"servers"`
	cli.Machine
	// LoadAvg is the machine's load average before and after the run.
	LoadAvg []string `json:"load_avg,omitempty"`
	// ResponseBytes is the size of one get_ticket result (the same
	// ticket) from each server, to show the comparison is like for like.
	ResponseBytes map[string]int `json:"response_bytes"`
	Results       []Result       `json:"results"`
	Ratios        []Ratio        `json:"ratios,omitempty"`
	Idle          []Idle         `json:"idle,omitempty"`
}

// Errors counts failed calls over all scenarios.
func (r *Report) Errors() int64 {
	var n int64
	for _, res := range r.Results {
		n += res.Errors
	}
	for _, i := range r.Idle {
		n += i.Errors
	}
	return n
}

// WriteText prints the report as tables.
func (r *Report) WriteText(w io.Writer) {
	measure := r.Duration + " per scenario"
	if r.Requests > 0 {
		measure = fmt.Sprintf("%d calls per scenario", r.Requests)
	}
	where := "gateways as shipped (app.Build, config.Default), each in its own process, store " + r.Store
	if r.Target != "" {
		where = "gateway at " + r.Target
	}
	if r.Target == "" {
		where += fmt.Sprintf("; gateways' GC heap floor %d MiB", config.DefaultGCHeapFloorBytes>>20)
		if r.BareGCFloor > 0 {
			where += fmt.Sprintf(", bare server's %d MiB", r.BareGCFloor>>20)
		} else {
			where += ", bare server at Go's default GC pacing"
		}
	}
	fmt.Fprintf(w, "mcpload: %d clients, %s in %d rounds (warm-up %s), %d tickets, %s\n", r.Clients, measure, r.Rounds, r.Warmup, r.Tickets, where)
	fmt.Fprintf(w, "%s %s, %d CPUs, GOMAXPROCS %d, %s; get_ticket result bytes %v\n",
		r.GoVersion, r.Platform, r.NumCPU, r.GOMAXPROCS, r.SDK, r.ResponseBytes)
	if len(r.LoadAvg) == 2 {
		fmt.Fprintf(w, "load average before %s, after %s\n", r.LoadAvg[0], r.LoadAvg[1])
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-9s  %-11s  %-12s  %6s  %8s  %8s  %7s  %7s  %7s  %6s  %11s  %5s  %11s\n",
		"mode", "server", "operation", "rate", "calls", "req/s", "p50 ms", "p90 ms", "p99 ms", "errors", "server µs/op", "cores", "client µs/op")
	for _, res := range r.Results {
		rate := "max"
		if res.Rate > 0 {
			rate = fmt.Sprintf("%.0f/s", res.Rate)
		}
		cpu, cores := "n/a", "n/a"
		if res.ServerCPUPerCallUs > 0 {
			cpu, cores = fmt.Sprintf("%.0f", res.ServerCPUPerCallUs), fmt.Sprintf("%.2f", res.ServerCores)
		}
		fmt.Fprintf(w, "%-9s  %-11s  %-12s  %6s  %8d  %8.0f  %7.2f  %7.2f  %7.2f  %6d  %11s  %5s  %11.0f\n",
			res.Mode, res.Server, res.Tool, rate, res.Calls, res.RPS, res.P50Ms, res.P90Ms, res.P99Ms, res.Errors, cpu, cores, res.ClientCPUPerCallUs)
	}
	if len(r.Ratios) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "server CPU per call, server ÷ baseline:")
	}
	for _, ra := range r.Ratios {
		rate := ""
		if ra.Rate > 0 {
			rate = fmt.Sprintf(" at %.0f/s", ra.Rate)
		}
		verdict := ""
		if ra.Target > 0 {
			verdict = fmt.Sprintf(" (target ≤ %.2f: met)", ra.Target)
			if !ra.Met {
				verdict = fmt.Sprintf(" (target ≤ %.2f: NOT met)", ra.Target)
			}
		}
		fmt.Fprintf(w, "%s %s%s: %s ÷ %s = %.2f%s; req/s %.2f×; p50 %.2f vs %.2f ms, p99 %.2f vs %.2f ms\n",
			ra.Mode, ra.Tool, rate, ra.Server, ra.Baseline, ra.CPU, verdict, ra.RPS, ra.P50Ms, ra.BaselineP50Ms, ra.P99Ms, ra.BaselineP99Ms)
	}
	if len(r.Idle) > 0 {
		fmt.Fprintln(w)
	}
	for _, i := range r.Idle {
		verdict := ""
		if i.Server != serverBare {
			verdict = fmt.Sprintf(" (target < %d MiB: met)", TargetIdleRSSMiB)
			if i.RSSAfterMiB >= TargetIdleRSSMiB {
				verdict = fmt.Sprintf(" (target < %d MiB: NOT met)", TargetIdleRSSMiB)
			}
		}
		fmt.Fprintf(w, "%s: %d idle sessions opened in %.1fs: RSS %.0f → %.0f MiB%s, %.1f KiB per session, %d errors\n",
			i.Server, i.Sessions, i.Seconds, i.RSSBeforeMiB, i.RSSAfterMiB, verdict, i.KiBPerSession, i.Errors)
	}
	for _, res := range r.Results {
		if res.FirstError != "" {
			fmt.Fprintf(w, "%s %s %s: %d errors, first: %s\n", res.Mode, res.Server, res.Tool, res.Errors, res.FirstError)
		}
	}
	for _, i := range r.Idle {
		if i.FirstError != "" {
			fmt.Fprintf(w, "%s idle sessions: %d errors, first: %s\n", i.Server, i.Errors, i.FirstError)
		}
	}
}

// Run starts the servers (or reaches the target), seeds them and measures
// every scenario of every mode, then the idle sessions.
func Run(ctx context.Context, cfg Config) (_ *Report, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	env, err := setup(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := env.close(); cerr != nil && err == nil {
			err = fmt.Errorf("stopping the servers: %w", cerr)
		}
	}()

	if cfg.ServerCPUProfile != "" {
		for _, s := range env.servers {
			if s.proc != nil {
				if err := s.proc.Send(child.MsgStartProfile); err != nil {
					return nil, fmt.Errorf("%s: start its CPU profile: %w", s.name, err)
				}
			}
		}
	}
	load0 := proc.LoadAvg()
	rep := &Report{
		Clients: cfg.Clients, Requests: cfg.Requests, Warmup: cfg.Warmup.String(), Rounds: cfg.Rounds,
		Store: cfg.Store, BareGCFloor: cfg.BareGCFloor, Target: cfg.Target, Compare: cfg.Compare, Auth: cfg.Auth, Tickets: cfg.Tickets,
		Machine:       cli.ThisMachine(mcpclient.SDKVersion()),
		ResponseBytes: env.responseBytes,
	}
	for _, s := range env.servers {
		rep.Servers = append(rep.Servers, s.name)
	}
	if cfg.Requests == 0 {
		rep.Duration = cfg.Duration.String()
	}
	if cfg.Target != "" {
		rep.Store = ""
	}
	for _, mode := range cfg.Modes {
		results, err := runMode(ctx, &cfg, env, mode)
		if err != nil {
			return nil, err
		}
		rep.Results = append(rep.Results, results...)
	}
	rep.Ratios = ratios(rep.Results)
	if cfg.IdleSessions > 0 {
		for _, s := range env.servers {
			cfg.progress("%s: opening %d idle sessions", s.name, cfg.IdleSessions)
			i, err := idleSessions(ctx, &cfg, env, s)
			if err != nil {
				return nil, err
			}
			rep.Idle = append(rep.Idle, i)
		}
	}
	if load0 != "" {
		rep.LoadAvg = []string{load0, proc.LoadAvg()}
	}
	return rep, nil
}

// ratios compares every scenario of the gateway with the same scenario of
// the bare server, and with auth on with the same of auth off.
func ratios(results []Result) []Ratio {
	find := func(mode Mode, tool string, rate float64, server string) *Result {
		for i := range results {
			r := &results[i]
			if r.Mode == mode && r.Tool == tool && r.Rate == rate && r.Server == server {
				return r
			}
		}
		return nil
	}
	var out []Ratio
	for _, r := range results {
		for _, base := range []string{serverBare, serverParley} {
			if r.Server == base || r.Server == serverBare || base == serverParley && r.Server != serverParleyAuth {
				continue
			}
			b := find(r.Mode, r.Tool, r.Rate, base)
			if b == nil || b.ServerCPUPerCallUs <= 0 || r.ServerCPUPerCallUs <= 0 || b.RPS <= 0 {
				continue
			}
			ra := Ratio{Mode: r.Mode, Tool: r.Tool, Rate: r.Rate, Server: r.Server, Baseline: base,
				CPU: r.ServerCPUPerCallUs / b.ServerCPUPerCallUs, RPS: r.RPS / b.RPS,
				P50Ms: r.P50Ms, P99Ms: r.P99Ms, BaselineP50Ms: b.P50Ms, BaselineP99Ms: b.P99Ms}
			if base == serverBare && r.Rate == 0 {
				switch r.Tool {
				case toolGet:
					ra.Target = TargetGet
				case openSession:
					ra.Target = TargetOpen
				}
				ra.Met = ra.Target > 0 && ra.CPU <= ra.Target
			}
			out = append(out, ra)
		}
	}
	return out
}

// scenario is one measured loop: which server, which operation, how one
// call goes, and at what rate.
type scenario struct {
	server *server
	tool   string
	rate   float64
	call   mcpclient.Call
}

// runMode connects the clients of one protocol generation to every server
// (before any timing), warms every scenario up, then measures them in
// rounds, each round running every scenario for its share of the
// duration. Taking turns spreads whatever else the machine does over all
// scenarios alike.
func runMode(ctx context.Context, cfg *Config, env *env, mode Mode) ([]Result, error) {
	ids := env.ids
	var scenarios []scenario
	if !cfg.NoGet {
		for _, s := range env.servers {
			scenarios = append(scenarios, scenario{server: s, tool: toolGet, call: getTicket(ids)})
		}
	}
	if !cfg.NoSave {
		for _, s := range env.servers {
			if s.name != serverBare {
				scenarios = append(scenarios, scenario{server: s, tool: toolSave, call: saveTicket(ids)})
			}
		}
	}
	if mode == mcpclient.ModeSession && !cfg.NoOpen {
		for _, s := range env.servers {
			scenarios = append(scenarios, scenario{server: s, tool: openSession, call: openAndClose(cfg, env, s)})
		}
	}
	if cfg.Rate > 0 {
		for _, s := range env.servers {
			scenarios = append(scenarios, scenario{server: s, tool: toolGet, rate: cfg.Rate, call: getTicket(ids)})
		}
	}
	sessions := map[string][]*mcp.ClientSession{}
	defer func() {
		for _, css := range sessions {
			mcpclient.CloseAll(css)
		}
	}()
	for _, s := range env.servers {
		css, err := connectClients(ctx, cfg, env, mode, s)
		if err != nil {
			return nil, fmt.Errorf("%s: connect %d %s clients: %w", mode, cfg.Clients, s.name, err)
		}
		sessions[s.name] = css
	}
	if cfg.Warmup > 0 {
		for _, sc := range scenarios {
			cfg.progress("%s: %s %s: warm-up %s", mode, sc.server.name, sc.tool, cfg.Warmup)
			if _, err := loop(ctx, cfg, sessions[sc.server.name], sc, cfg.Warmup, 0); err != nil {
				return nil, err
			}
		}
	}
	accs := make([]measured, len(scenarios))
	for r := range cfg.Rounds {
		for i, sc := range scenarios {
			var total int64
			if cfg.Requests > 0 {
				n := int64(cfg.Requests)
				total = n*int64(r+1)/int64(cfg.Rounds) - n*int64(r)/int64(cfg.Rounds)
				if total == 0 {
					continue
				}
			}
			if err := accs[i].add(ctx, cfg, sessions[sc.server.name], sc, cfg.Duration/time.Duration(cfg.Rounds), total); err != nil {
				return nil, err
			}
		}
		cfg.progress("%s: round %d of %d done", mode, r+1, cfg.Rounds)
	}
	results := make([]Result, len(scenarios))
	for i, sc := range scenarios {
		res := accs[i].result()
		res.Mode, res.Server, res.Tool, res.Rate = mode, sc.server.name, sc.tool, sc.rate
		res.Protocol = sessions[sc.server.name][0].InitializeResult().ProtocolVersion
		cfg.progress("%s: %s %s: %d calls, %.0f req/s, p50 %.2f ms, p99 %.2f ms, server %.0f µs/call, %d errors",
			mode, sc.server.name, sc.tool, res.Calls, res.RPS, res.P50Ms, res.P99Ms, res.ServerCPUPerCallUs, res.Errors)
		results[i] = res
	}
	return results, nil
}

// connectClients opens one ClientSession per client, before any timing,
// and checks that they speak mode's generation.
func connectClients(ctx context.Context, cfg *Config, env *env, mode Mode, s *server) ([]*mcp.ClientSession, error) {
	return mcpclient.ConnectClients(ctx, mcpclient.Target{
		Name:       s.name,
		URL:        s.url,
		HTTPClient: func(i int) (*http.Client, error) { return env.httpClient(s, i), nil },
		ClientName: func(i int) string { return fmt.Sprintf("mcpload-%d", i) },
	}, mode, cfg.Clients, cfg.CallTimeout)
}

// measured accumulates a scenario's rounds.
type measured struct {
	mcpclient.Phase
	serverCPU time.Duration
	clientCPU time.Duration
	cpuKnown  bool
}

// add measures one round of sc: for d, or total calls if total > 0. The
// server's CPU time is read from its process before and after.
func (m *measured) add(ctx context.Context, cfg *Config, css []*mcp.ClientSession, sc scenario, d time.Duration, total int64) error {
	pid := sc.server.pid
	var s0 time.Duration
	var serr error
	if pid != 0 {
		s0, serr = proc.CPU(pid)
	}
	c0 := proc.Self()
	p, err := loop(ctx, cfg, css, sc, d, total)
	if err != nil {
		return err
	}
	m.clientCPU += proc.Self() - c0
	if pid != 0 && serr == nil {
		if s1, err := proc.CPU(pid); err == nil {
			m.serverCPU += s1 - s0
			m.cpuKnown = true
		}
	}
	m.Add(p)
	return nil
}

func (m *measured) result() Result {
	res := Result{Outcome: m.Outcome()}
	if res.Calls == 0 || m.Elapsed <= 0 {
		return res
	}
	if m.cpuKnown {
		res.ServerCPUPerCallUs = float64(m.serverCPU.Microseconds()) / float64(res.Calls)
		res.ServerCores = m.serverCPU.Seconds() / m.Elapsed.Seconds()
	}
	res.ClientCPUPerCallUs = float64(m.clientCPU.Microseconds()) / float64(res.Calls)
	return res
}

// loop runs sc's calls on every client until d has passed or, if total >
// 0, until total calls have been made between them: back to back, or at
// sc.rate calls a second in all (mcpclient.Loop).
func loop(ctx context.Context, cfg *Config, css []*mcp.ClientSession, sc scenario, d time.Duration, total int64) (mcpclient.Phase, error) {
	l := mcpclient.Loop{
		Name:        sc.server.name + " " + sc.tool,
		Target:      sc.server.name,
		Sessions:    css,
		Call:        sc.call,
		CallTimeout: cfg.CallTimeout,
		Rate:        sc.rate,
		Duration:    d,
		Total:       total,
	}
	return l.Run(ctx)
}

// ticketArgs is get_ticket's input.
type ticketArgs struct {
	TicketID string `json:"ticket_id"`
}

// saveArgs is save_ticket's input: an update of one field, with no
// expected_version (each client updates its own ticket, so nobody races it).
type saveArgs struct {
	TicketID string `json:"ticket_id"`
	Summary  string `json:"summary"`
}

// getTicket reads a random seeded ticket and checks that it got that one.
func getTicket(ids []string) mcpclient.Call {
	return func(ctx context.Context, cs *mcp.ClientSession, _, _ int, rng *rand.Rand) error {
		id := ids[rng.IntN(len(ids))]
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: toolGet, Arguments: ticketArgs{TicketID: id}})
		if err != nil {
			return err
		}
		return checkTicket(res, id, func(m map[string]any) any { return m["id"] })
	}
}

// saveTicket updates the client's own ticket's summary; every call
// changes it, so every call writes a new version.
func saveTicket(ids []string) mcpclient.Call {
	return func(ctx context.Context, cs *mcp.ClientSession, client, seq int, _ *rand.Rand) error {
		id := ids[client%len(ids)]
		summary := fmt.Sprintf("Customer reports being charged twice for the March invoice (load update %d from client %d).", seq, client)
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: toolSave, Arguments: saveArgs{TicketID: id, Summary: summary}})
		if err != nil {
			return err
		}
		return checkTicket(res, id, func(m map[string]any) any {
			t, _ := m["ticket"].(map[string]any)
			return t["id"]
		})
	}
}

// openAndClose opens a 2025-11-25 session on s with the go-sdk client
// (initialize, then the initialized notification; the client also opens
// its standalone GET stream) and closes it (DELETE), on the client's own
// HTTP client.
func openAndClose(cfg *Config, env *env, s *server) func(ctx context.Context, cs *mcp.ClientSession, client, seq int, rng *rand.Rand) error {
	clients := make([]*http.Client, cfg.Clients)
	for i := range clients {
		clients[i] = env.httpClient(s, i)
	}
	return func(ctx context.Context, _ *mcp.ClientSession, client, _ int, _ *rand.Rand) error {
		cs, err := mcpclient.Connect(ctx, s.url, clients[client], mcpclient.ModeSession, fmt.Sprintf("mcpload-open-%d", client))
		if err != nil {
			return err
		}
		return cs.Close()
	}
}

// checkTicket fails a tool error or a result about another ticket.
func checkTicket(res *mcp.CallToolResult, id string, idOf func(map[string]any) any) error {
	if res.IsError {
		return fmt.Errorf("tool error: %s", mcpclient.ResultText(res))
	}
	m, ok := res.StructuredContent.(map[string]any)
	if !ok {
		return fmt.Errorf("no structured content in the result for %s", id)
	}
	if got := idOf(m); got != id {
		return fmt.Errorf("asked for ticket %s, got %v", id, got)
	}
	return nil
}
