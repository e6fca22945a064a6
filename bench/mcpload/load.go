package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Mode is the protocol generation the clients speak.
type Mode string

// Modes.
const (
	// ModeStateless is 2026-07-28: no session, every request stands alone
	// (the go-sdk client's default).
	ModeStateless Mode = "stateless"
	// ModeSession is 2025-11-25: initialize, Mcp-Session-Id, a standalone
	// GET stream per client.
	ModeSession Mode = "session"
)

const (
	sessionVersion   = "2025-11-25"
	statelessVersion = "2026-07-28"
)

// protocolVersion is what the clients of m pin; "" takes the client's
// default (the newest, stateless).
func (m Mode) protocolVersion() string {
	if m == ModeSession {
		return sessionVersion
	}
	return ""
}

// Servers and tools of the scenarios.
const (
	serverParley  = "parley"
	serverBare    = "bare"
	serverAuthOff = "auth-off" // Parley, auth in no-auth mode (no issuer)
	serverAuthOn  = "auth-on"  // Parley, auth on (a local OIDC issuer)
	toolGet       = "get_ticket"
	toolSave      = "save_ticket"
)

// Where the in-process gateway keeps session streams.
const (
	eventsDurable = "durable"
	eventsMemory  = "memory"
)

// What Parley's get_ticket is compared with.
const (
	// compareBare: a bare go-sdk server (TargetRatio).
	compareBare = "bare"
	// compareAuth: itself with auth off (AuthTargetRatio).
	compareAuth = "auth"
)

// TargetRatio is the goal for get_ticket: Parley at least this
// fraction of the bare server's throughput.
const TargetRatio = 0.8

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
	// NoSave skips save_ticket.
	NoSave bool
	Modes  []Mode
	// Store is sqlite or postgres, for the in-process gateway.
	Store       string
	PostgresURL string
	// SQLiteReaders sizes the SQLite store's read pool; 0 keeps its
	// default.
	SQLiteReaders int
	// Events is where the in-process gateway keeps session streams:
	// durable (the store, as cmd/gateway does; the default) or memory
	// (mcpbridge's default when no EventStore is given).
	Events string
	// Tickets is how many tickets to seed.
	Tickets int
	// Target is a running gateway's /mcp URL; empty starts one in process.
	Target string
	// CallTimeout bounds one tool call.
	CallTimeout time.Duration
	// Compare is what Parley's get_ticket is measured against: bare (the
	// default: a bare go-sdk server, and save_ticket too) or auth (Parley
	// itself with auth off; get_ticket only).
	Compare string
	// NoTokenCache turns the verifier's token cache off with -compare
	// auth, so that every request verifies its token's signature.
	NoTokenCache bool
	// Audit adds, with -compare auth, serve.go's audit middleware (a
	// record of every tool call in the store's audit log) on both sides.
	Audit bool
	// Progress, if set, receives a line per step.
	Progress io.Writer
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
	if c.Warmup < 0 {
		return fmt.Errorf("-warmup %s: want 0 or more", c.Warmup)
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
	if c.Compare == compareAuth && c.Target != "" {
		return errors.New("-compare auth starts Parley in process twice (auth off and on): it cannot load a -target")
	}
	if (c.NoTokenCache || c.Audit) && c.Compare != compareAuth {
		return errors.New("-no-token-cache and -audit are for -compare auth")
	}
	if c.Target != "" {
		if c.Store != "" && c.Store != "sqlite" || c.PostgresURL != "" || c.Events != "" && c.Events != eventsDurable || c.SQLiteReaders != 0 {
			return errors.New("-store, -postgres-url, -events and -sqlite-readers configure the in-process gateway; with -target the gateway's own settings apply")
		}
		return nil
	}
	switch c.Events {
	case "":
		c.Events = eventsDurable
	case eventsDurable, eventsMemory:
	default:
		return fmt.Errorf("-events %q: want durable or memory", c.Events)
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

// servers are the servers of c's scenarios, in the order they are
// measured in each round.
func (c *Config) servers() []string {
	if c.Compare == compareAuth {
		return []string{serverAuthOff, serverAuthOn}
	}
	return []string{serverBare, serverParley}
}

func (c *Config) progress(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, "mcpload: "+format+"\n", args...)
	}
}

// Result is one scenario: one server, one tool, one mode.
type Result struct {
	Mode   Mode   `json:"mode"`
	Server string `json:"server"`
	Tool   string `json:"tool"`
	// Protocol is the revision the clients negotiated.
	Protocol   string  `json:"protocol"`
	Calls      int64   `json:"calls"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	Seconds    float64 `json:"seconds"`
	// RPS counts successful calls per second of wall time.
	RPS   float64 `json:"rps"`
	P50Ms float64 `json:"p50_ms"`
	P90Ms float64 `json:"p90_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
	// CPUPerCallUs is this process's CPU time (user+system) per call while
	// the scenario was measured: the clients' share plus, for in-process
	// servers, the server's. 0 where the platform does not say.
	CPUPerCallUs float64 `json:"cpu_per_call_us"`
	// CPUCores is this process's CPU time over wall time while measured:
	// how many of the machine's cores it kept busy.
	CPUCores float64 `json:"cpu_cores"`
	// AllocsPerCall is this process's heap allocations per call, likewise.
	AllocsPerCall float64 `json:"allocs_per_call"`
}

// Ratio is Parley's get_ticket throughput over the bare server's.
type Ratio struct {
	Mode      Mode    `json:"mode"`
	Tool      string  `json:"tool"`
	ParleyRPS float64 `json:"parley_rps"`
	BareRPS   float64 `json:"bare_rps"`
	Ratio     float64 `json:"ratio"`
	Target    float64 `json:"target"`
	Met       bool    `json:"met"`
	// CPURatio is the bare server's CPU time per call over Parley's (this
	// process: clients and servers): the throughput ratio to expect when
	// both saturate the same cores. Less sensitive than Ratio to other work
	// on the machine. 0 where CPU time is not measured.
	CPURatio float64 `json:"cpu_ratio,omitempty"`
}

// AuthRatio is Parley's get_ticket with auth on against auth off.
type AuthRatio struct {
	Mode     Mode    `json:"mode"`
	Tool     string  `json:"tool"`
	OnRPS    float64 `json:"on_rps"`
	OffRPS   float64 `json:"off_rps"`
	OnP50Ms  float64 `json:"on_p50_ms"`
	OffP50Ms float64 `json:"off_p50_ms"`
	OnP99Ms  float64 `json:"on_p99_ms"`
	OffP99Ms float64 `json:"off_p99_ms"`
	// Ratio is OnRPS / OffRPS.
	Ratio  float64 `json:"ratio"`
	Target float64 `json:"target"`
	Met    bool    `json:"met"`
	// CPURatio is the CPU time per call with auth off over with auth on
	// (this process: clients and servers), as Ratio.CPURatio.
	CPURatio float64 `json:"cpu_ratio,omitempty"`
	// ExtraCPUPerCallUs is how much more CPU time per call auth on took.
	ExtraCPUPerCallUs float64 `json:"extra_cpu_per_call_us,omitempty"`
}

// Report is a run's outcome.
type Report struct {
	Clients  int    `json:"clients"`
	Duration string `json:"duration,omitempty"`
	Requests int    `json:"requests,omitempty"`
	Warmup   string `json:"warmup"`
	Rounds   int    `json:"rounds"`
	Store    string `json:"store,omitempty"`
	Events   string `json:"events,omitempty"`
	Target   string `json:"target,omitempty"`
	Compare  string `json:"compare"`
	// TokenCache says whether the verifier cached verified tokens
	// (-compare auth).
	TokenCache *bool `json:"token_cache,omitempty"`
	// Audit says whether every tool call was audited (-compare auth
	// -audit).
	Audit      bool   `json:"audit,omitempty"`
	Tickets    int    `json:"tickets"`
	GoVersion  string `json:"go_version"`
	Platform   string `json:"platform"`
	NumCPU     int    `json:"num_cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	SDK        string `json:"sdk"`
	// LoadAvg is the machine's load average (/proc/loadavg) before and
	// after the run: other work on the machine competes for the cores.
	LoadAvg []string `json:"load_avg,omitempty"`
	// ResponseBytes is the size of one get_ticket result (the same ticket)
	// from each server, to show the comparison is like for like.
	ResponseBytes map[string]int `json:"response_bytes"`
	Results       []Result       `json:"results"`
	// Ratios are parley/bare (-compare bare); AuthRatios on/off (-compare
	// auth).
	Ratios     []Ratio     `json:"ratios,omitempty"`
	AuthRatios []AuthRatio `json:"auth_ratios,omitempty"`
}

// Errors counts failed calls over all scenarios.
func (r *Report) Errors() int64 {
	var n int64
	for _, res := range r.Results {
		n += res.Errors
	}
	return n
}

// WriteText prints the report as a table.
func (r *Report) WriteText(w io.Writer) {
	measure := r.Duration + " per scenario"
	if r.Requests > 0 {
		measure = fmt.Sprintf("%d calls per scenario", r.Requests)
	}
	where := "in-process gateway, store " + r.Store + ", " + r.Events + " event store"
	if r.Target != "" {
		where = "gateway at " + r.Target
	}
	sizes := fmt.Sprintf("%d bytes (parley) / %d bytes (bare)", r.ResponseBytes[serverParley], r.ResponseBytes[serverBare])
	if r.Compare == compareAuth {
		cache := "on"
		if r.TokenCache != nil && !*r.TokenCache {
			cache = "off"
		}
		audited := ""
		if r.Audit {
			audited = ", every tool call audited"
		}
		where += fmt.Sprintf(", auth off vs on (local OIDC issuer, RS256 tokens, token cache %s%s)", cache, audited)
		sizes = fmt.Sprintf("%d bytes (auth off) / %d bytes (auth on)", r.ResponseBytes[serverAuthOff], r.ResponseBytes[serverAuthOn])
	}
	fmt.Fprintf(w, "mcpload: %d clients, %s in %d rounds (warm-up %s), %d tickets, %s\n", r.Clients, measure, r.Rounds, r.Warmup, r.Tickets, where)
	fmt.Fprintf(w, "%s %s, %d CPUs, GOMAXPROCS %d, %s; get_ticket result %s\n",
		r.GoVersion, r.Platform, r.NumCPU, r.GOMAXPROCS, r.SDK, sizes)
	if len(r.LoadAvg) == 2 {
		fmt.Fprintf(w, "load average before %s, after %s\n", r.LoadAvg[0], r.LoadAvg[1])
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-9s  %-8s  %-11s  %-10s  %8s  %8s  %7s  %7s  %7s  %6s  %9s  %5s  %7s\n",
		"mode", "server", "tool", "protocol", "calls", "req/s", "p50 ms", "p90 ms", "p99 ms", "errors", "cpu µs/op", "cores", "allocs")
	for _, res := range r.Results {
		cpu, cores := "n/a", "n/a"
		if res.CPUPerCallUs > 0 {
			cpu, cores = fmt.Sprintf("%.0f", res.CPUPerCallUs), fmt.Sprintf("%.2f", res.CPUCores)
		}
		fmt.Fprintf(w, "%-9s  %-8s  %-11s  %-10s  %8d  %8.0f  %7.2f  %7.2f  %7.2f  %6d  %9s  %5s  %7.0f\n",
			res.Mode, res.Server, res.Tool, res.Protocol, res.Calls, res.RPS, res.P50Ms, res.P90Ms, res.P99Ms, res.Errors, cpu, cores, res.AllocsPerCall)
	}
	fmt.Fprintln(w)
	for _, ra := range r.Ratios {
		verdict := "met"
		if !ra.Met {
			verdict = "NOT met"
		}
		cpu := ""
		if ra.CPURatio > 0 {
			cpu = fmt.Sprintf("; CPU per call bare/parley %.2f", ra.CPURatio)
		}
		fmt.Fprintf(w, "%s %s: parley/bare = %.0f/%.0f req/s = %.2f (target %.1f: %s)%s\n",
			ra.Mode, ra.Tool, ra.ParleyRPS, ra.BareRPS, ra.Ratio, ra.Target, verdict, cpu)
	}
	for _, ra := range r.AuthRatios {
		verdict := "met"
		if !ra.Met {
			verdict = "NOT met"
		}
		cpu := ""
		if ra.CPURatio > 0 {
			cpu = fmt.Sprintf("; CPU per call off/on %.2f (%+.0f µs)", ra.CPURatio, ra.ExtraCPUPerCallUs)
		}
		fmt.Fprintf(w, "%s %s: auth on/off = %.0f/%.0f req/s = %.2f (target %.1f: %s); p50 %.2f/%.2f ms, p99 %.2f/%.2f ms%s\n",
			ra.Mode, ra.Tool, ra.OnRPS, ra.OffRPS, ra.Ratio, ra.Target, verdict, ra.OnP50Ms, ra.OffP50Ms, ra.OnP99Ms, ra.OffP99Ms, cpu)
	}
	// The bare server and its clients run entirely in this process and
	// never wait on anything but the CPU, so if they did not keep most
	// cores busy, something else on the machine did. (Parley may wait on
	// its store, or run in another process with -target or PostgreSQL.)
	for _, res := range r.Results {
		if res.Server == serverBare && res.CPUCores > 0 && res.CPUCores < 0.6*float64(r.GOMAXPROCS) {
			fmt.Fprintf(w, "warning: %s: the bare server and its clients kept only %.2f of %d cores busy: other work on the machine "+
				"took the rest; the numbers of this run are not reliable\n", res.Mode, res.CPUCores, r.GOMAXPROCS)
		}
		// Likewise Parley with auth off over SQLite, where it waits on
		// nothing but the CPU: stateless (no event store), or sessions
		// with the memory event store (the durable one queues on SQLite's
		// writer).
		if res.Server == serverAuthOff && r.Store == "sqlite" && (res.Mode == ModeStateless || r.Events == eventsMemory) &&
			res.CPUCores > 0 && res.CPUCores < 0.6*float64(r.GOMAXPROCS) {
			fmt.Fprintf(w, "warning: %s: Parley with auth off and its clients kept only %.2f of %d cores busy: other work on the machine "+
				"took the rest; the numbers of this run are not reliable\n", res.Mode, res.CPUCores, r.GOMAXPROCS)
		}
	}
	for _, res := range r.Results {
		if res.FirstError != "" {
			fmt.Fprintf(w, "%s %s %s: %d errors, first: %s\n", res.Mode, res.Server, res.Tool, res.Errors, res.FirstError)
		}
	}
}

// Run starts the servers (or connects to the target), seeds them and
// measures every scenario of every mode, one after another.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	env, err := setup(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	defer env.close()

	load0 := loadAvg()
	rep := &Report{
		Clients: cfg.Clients, Requests: cfg.Requests, Warmup: cfg.Warmup.String(), Rounds: cfg.Rounds,
		Store: cfg.Store, Events: cfg.Events, Target: cfg.Target, Compare: cfg.Compare, Tickets: cfg.Tickets,
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
		NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), SDK: sdkVersion(),
		ResponseBytes: env.responseBytes,
	}
	if cfg.Requests == 0 {
		rep.Duration = cfg.Duration.String()
	}
	if cfg.Compare == compareAuth {
		cache := !cfg.NoTokenCache
		rep.TokenCache = &cache
		rep.Audit = cfg.Audit
	}
	if cfg.Target != "" {
		rep.Store, rep.Events = "", "" // whatever the gateway at Target uses
	}
	for _, mode := range cfg.Modes {
		results, err := runMode(ctx, &cfg, env, mode)
		if err != nil {
			return nil, err
		}
		rep.Results = append(rep.Results, results...)
		find := func(server string) *Result {
			for i := range results {
				if results[i].Server == server && results[i].Tool == toolGet {
					return &results[i]
				}
			}
			return nil
		}
		if on, off := find(serverAuthOn), find(serverAuthOff); on != nil && off != nil && off.RPS > 0 {
			r := on.RPS / off.RPS
			ra := AuthRatio{Mode: mode, Tool: toolGet, OnRPS: on.RPS, OffRPS: off.RPS,
				OnP50Ms: on.P50Ms, OffP50Ms: off.P50Ms, OnP99Ms: on.P99Ms, OffP99Ms: off.P99Ms,
				Ratio: r, Target: AuthTargetRatio, Met: r >= AuthTargetRatio}
			if on.CPUPerCallUs > 0 && off.CPUPerCallUs > 0 {
				ra.CPURatio = off.CPUPerCallUs / on.CPUPerCallUs
				ra.ExtraCPUPerCallUs = on.CPUPerCallUs - off.CPUPerCallUs
			}
			rep.AuthRatios = append(rep.AuthRatios, ra)
		}
		p, b := find(serverParley), find(serverBare)
		if p != nil && b != nil && b.RPS > 0 {
			r := p.RPS / b.RPS
			ra := Ratio{Mode: mode, Tool: toolGet, ParleyRPS: p.RPS, BareRPS: b.RPS,
				Ratio: r, Target: TargetRatio, Met: r >= TargetRatio}
			if p.CPUPerCallUs > 0 {
				ra.CPURatio = b.CPUPerCallUs / p.CPUPerCallUs
			}
			rep.Ratios = append(rep.Ratios, ra)
		}
	}
	if load0 != "" {
		rep.LoadAvg = []string{load0, loadAvg()}
	}
	return rep, nil
}

// loadAvg is the first three fields of /proc/loadavg, or "".
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// scenario is one measured loop: which server, which tool, how one call
// goes.
type scenario struct {
	server, tool string
	call         func(ctx context.Context, cs *mcp.ClientSession, client, seq int, rng *rand.Rand) error
}

// runMode connects the clients of one protocol generation to both servers
// (before any timing), warms every scenario up, then measures them in
// rounds: each round runs get_ticket on the bare server, get_ticket on
// Parley and save_ticket on Parley for its share of the duration. Taking
// turns spreads whatever else the machine does over all scenarios alike,
// so the ratio holds up on a busy machine. Parley's reads come before its
// writes in every round; the writes only change summaries, so the reads
// see the same tickets throughout.
func runMode(ctx context.Context, cfg *Config, env *env, mode Mode) ([]Result, error) {
	ids := env.ids
	var scenarios []scenario
	for _, server := range cfg.servers() {
		scenarios = append(scenarios, scenario{server, toolGet, getTicket(ids)})
	}
	if !cfg.NoSave && cfg.Compare == compareBare {
		scenarios = append(scenarios, scenario{serverParley, toolSave, saveTicket(ids)})
	}
	sessions := map[string][]*mcp.ClientSession{}
	defer func() {
		for _, css := range sessions {
			closeAll(css)
		}
	}()
	for _, sc := range scenarios {
		if sessions[sc.server] != nil {
			continue
		}
		css, err := connectClients(ctx, cfg, env, mode, sc.server)
		if err != nil {
			return nil, fmt.Errorf("%s: connect %d %s clients: %w", mode, cfg.Clients, sc.server, err)
		}
		sessions[sc.server] = css
	}
	if cfg.Warmup > 0 {
		for _, sc := range scenarios {
			cfg.progress("%s: %s %s: warm-up %s", mode, sc.server, sc.tool, cfg.Warmup)
			if _, err := loop(ctx, cfg, sessions[sc.server], sc, cfg.Warmup, 0); err != nil {
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
			if err := accs[i].add(ctx, cfg, sessions[sc.server], sc, cfg.Duration/time.Duration(cfg.Rounds), total); err != nil {
				return nil, err
			}
		}
		cfg.progress("%s: round %d of %d done", mode, r+1, cfg.Rounds)
	}
	results := make([]Result, len(scenarios))
	for i, sc := range scenarios {
		res := accs[i].result()
		res.Mode, res.Server, res.Tool = mode, sc.server, sc.tool
		res.Protocol = sessions[sc.server][0].InitializeResult().ProtocolVersion
		cfg.progress("%s: %s %s: %d calls, %.0f req/s, p50 %.2f ms, p99 %.2f ms, %d errors",
			mode, sc.server, sc.tool, res.Calls, res.RPS, res.P50Ms, res.P99Ms, res.Errors)
		results[i] = res
	}
	return results, nil
}

// connectClients opens one ClientSession per client, before any timing,
// and checks that they speak mode's generation.
func connectClients(ctx context.Context, cfg *Config, env *env, mode Mode, server string) ([]*mcp.ClientSession, error) {
	css := make([]*mcp.ClientSession, cfg.Clients)
	errs := make([]error, cfg.Clients)
	var wg sync.WaitGroup
	for i := range css {
		hc := env.httpClient(server, i)
		wg.Go(func() {
			// Labelled so that a CPU profile separates the clients'
			// goroutines (also those the transport starts) from the servers'.
			pprof.Do(ctx, pprof.Labels("role", "client", "target", server), func(ctx context.Context) {
				cctx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
				defer cancel()
				css[i], errs[i] = connect(cctx, env.endpoint(server), hc, mode, fmt.Sprintf("mcpload-%d", i))
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		closeAll(css)
		return nil, err
	}
	return css, nil
}

func connect(ctx context.Context, endpoint string, hc *http.Client, mode Mode, name string) (*mcp.ClientSession, error) {
	c := mcp.NewClient(&mcp.Implementation{Name: name, Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc, MaxRetries: -1},
		&mcp.ClientSessionOptions{ProtocolVersion: mode.protocolVersion()})
	if err != nil {
		return nil, err
	}
	got := cs.InitializeResult().ProtocolVersion
	switch {
	case mode == ModeStateless && got < statelessVersion:
		cs.Close()
		return nil, fmt.Errorf("stateless mode: the server negotiated %s, not %s or later", got, statelessVersion)
	case mode == ModeSession && cs.ID() == "":
		cs.Close()
		return nil, fmt.Errorf("session mode: the server negotiated %s without a session ID", got)
	}
	return cs, nil
}

func closeAll(css []*mcp.ClientSession) {
	for _, cs := range css {
		if cs != nil {
			_ = cs.Close()
		}
	}
}

// measured accumulates a scenario's rounds.
type measured struct {
	latencies  []time.Duration
	errors     int64
	firstError string
	elapsed    time.Duration
	cpu        time.Duration
	mallocs    uint64
}

// add measures one round of sc: for d, or total calls if total > 0.
func (m *measured) add(ctx context.Context, cfg *Config, css []*mcp.ClientSession, sc scenario, d time.Duration, total int64) error {
	var before, after runtime.MemStats
	runtime.GC() // start with a clean heap, not the last scenario's garbage
	runtime.ReadMemStats(&before)
	cpu0 := cpuTime()
	p, err := loop(ctx, cfg, css, sc, d, total)
	if err != nil {
		return err
	}
	m.cpu += cpuTime() - cpu0
	runtime.ReadMemStats(&after)
	m.mallocs += after.Mallocs - before.Mallocs
	m.latencies = append(m.latencies, p.latencies...)
	m.errors += p.errors
	m.elapsed += p.elapsed
	if m.firstError == "" {
		m.firstError = p.firstError
	}
	return nil
}

func (m *measured) result() Result {
	res := Result{Calls: int64(len(m.latencies)), Errors: m.errors, FirstError: m.firstError, Seconds: m.elapsed.Seconds()}
	if res.Calls == 0 || m.elapsed <= 0 {
		return res
	}
	res.RPS = float64(res.Calls-res.Errors) / m.elapsed.Seconds()
	lat := m.latencies
	slices.Sort(lat)
	res.P50Ms, res.P90Ms, res.P99Ms = ms(percentile(lat, 50)), ms(percentile(lat, 90)), ms(percentile(lat, 99))
	res.MaxMs = ms(lat[len(lat)-1])
	if m.cpu > 0 {
		res.CPUPerCallUs = float64(m.cpu.Microseconds()) / float64(res.Calls)
		res.CPUCores = m.cpu.Seconds() / m.elapsed.Seconds()
	}
	res.AllocsPerCall = float64(m.mallocs) / float64(res.Calls)
	return res
}

// phase is what one loop saw.
type phase struct {
	latencies  []time.Duration
	errors     int64
	firstError string
	elapsed    time.Duration
}

// loop runs every client's calls back to back until d has passed or, if
// total > 0, until total calls have been made between them.
func loop(ctx context.Context, cfg *Config, css []*mcp.ClientSession, sc scenario, d time.Duration, total int64) (phase, error) {
	var (
		wg       sync.WaitGroup
		issued   atomic.Int64
		mu       sync.Mutex
		firstErr string
		lats     = make([][]time.Duration, len(css))
		errs     = make([]int64, len(css))
	)
	capHint := 1024
	if total > 0 {
		capHint = int(total)/len(css) + 1
	}
	start := time.Now()
	deadline := start.Add(d)
	for i, cs := range css {
		wg.Go(func() {
			pprof.Do(ctx, pprof.Labels("role", "client", "target", sc.server), func(ctx context.Context) {
				rng := rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))
				lat := make([]time.Duration, 0, capHint)
				for seq := 0; ctx.Err() == nil; seq++ {
					if total > 0 {
						if issued.Add(1) > total {
							break
						}
					} else if !time.Now().Before(deadline) {
						break
					}
					cctx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
					t0 := time.Now()
					err := sc.call(cctx, cs, i, seq, rng)
					lat = append(lat, time.Since(t0))
					cancel()
					if err != nil {
						errs[i]++
						mu.Lock()
						if firstErr == "" {
							firstErr = err.Error()
						}
						mu.Unlock()
					}
				}
				lats[i] = lat
			})
		})
	}
	wg.Wait()
	p := phase{elapsed: time.Since(start), firstError: firstErr}
	if err := ctx.Err(); err != nil {
		return p, fmt.Errorf("%s %s: interrupted: %w", sc.server, sc.tool, err)
	}
	n := 0
	for i := range lats {
		n += len(lats[i])
		p.errors += errs[i]
	}
	p.latencies = make([]time.Duration, 0, n)
	for _, l := range lats {
		p.latencies = append(p.latencies, l...)
	}
	return p, nil
}

// percentile is the nearest-rank percentile of sorted.
func percentile(sorted []time.Duration, pct float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(pct/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ticketArgs is get_ticket's input.
type ticketArgs struct {
	TicketID string `json:"ticket_id"`
}

// saveArgs is save_ticket's input: an update of one field, with no
// expected_version (each client updates its own ticket, so nobody races it;
// the workspace re-reads and re-applies if someone did).
type saveArgs struct {
	TicketID string `json:"ticket_id"`
	Summary  string `json:"summary"`
}

// getTicket reads a random seeded ticket and checks that it got that one.
func getTicket(ids []string) func(ctx context.Context, cs *mcp.ClientSession, client, seq int, rng *rand.Rand) error {
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
func saveTicket(ids []string) func(ctx context.Context, cs *mcp.ClientSession, client, seq int, rng *rand.Rand) error {
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

// checkTicket fails a tool error or a result about another ticket.
func checkTicket(res *mcp.CallToolResult, id string, idOf func(map[string]any) any) error {
	if res.IsError {
		return fmt.Errorf("tool error: %s", resultText(res))
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

func resultText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	s := b.String()
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// sdkVersion is the go-sdk module version this binary was built with.
func sdkVersion() string {
	return cmp.Or(moduleVersion("github.com/modelcontextprotocol/go-sdk"), "go-sdk (version unknown)")
}
