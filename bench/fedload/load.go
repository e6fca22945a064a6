package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/bench/internal/child"
	"github.com/parleyhq/parley/bench/internal/cli"
	"github.com/parleyhq/parley/bench/internal/mcpclient"
	"github.com/parleyhq/parley/bench/internal/proc"
)

// Mode is the protocol generation the hosts (the clients here) speak.
type Mode = mcpclient.Mode

// The two processes.
const (
	serverUpstream = "upstream" // the go-sdk tool server
	serverParley   = "parley"   // the gateway in front of it
)

// toolEcho is the upstream's one tool.
const toolEcho = "echo"

// Paths a call takes.
const (
	pathDirect = "direct" // host → upstream
	pathParley = "parley" // host → Parley → upstream
)

// The targets.
const (
	// TargetCPURatio bounds Parley's CPU per proxied call over the
	// upstream's own CPU per call.
	TargetCPURatio = 1.0
	// TargetP99AddedMs bounds the p99 latency Parley adds (through Parley
	// − directly), at 16 clients.
	TargetP99AddedMs = 2.0
)

// Config is one run.
type Config struct {
	// Clients is how many hosts call at once (a ClientSession and a
	// connection pool each, per generation and server). Default 16.
	Clients int
	// Duration is how long each scenario is measured in all.
	Duration time.Duration
	// Warmup runs each scenario unmeasured for this long first.
	Warmup time.Duration
	// Rounds splits each scenario's measurement into this many turns,
	// taken in rotation with all the other scenarios. Default 5.
	Rounds int
	// Modes are the host generations. Default both.
	Modes []Mode
	// Upstreams are the registrations of the upstream the calls through
	// Parley go through: upstreamStateless (Parley speaks 2026-07-28 to
	// it) and upstreamSessions (2025-11-25). Default both.
	Upstreams []string
	// Auth turns the gateway's auth on: a local OIDC issuer, a policy
	// allowing the upstream's tools, and a token per client.
	Auth bool
	// Rate, if positive, adds every scenario at this fixed rate (calls a
	// second over all clients), beside as fast as the clients go: at a
	// rate the machine sustains, the latency Parley adds is its own, not
	// a queue for the CPU.
	Rate float64
	// TextBytes is the size of the text echoed. Default 64.
	TextBytes int
	// EchoWrite leaves the readOnlyHint annotation off echo, so that
	// Parley audits its calls as writes (each record committed before the
	// call is answered) rather than as reads (queued).
	EchoWrite bool
	// CallTimeout bounds one tool call. Default 10s.
	CallTimeout time.Duration
	// ServerLog, if set, is a directory where the gateway writes its log
	// (parley.log); otherwise it goes to os.DevNull.
	ServerLog string
	// ServerCPUProfile, if set, makes each server write a CPU profile of
	// its process to ServerCPUProfile.NAME.prof, from the end of the
	// set-up to the end of the run (warm-ups included).
	ServerCPUProfile string
	// Progress, if set, receives a line per step; Stderr the servers'
	// own error output (os.Stderr if nil).
	Progress io.Writer
	Stderr   io.Writer
}

func (c *Config) validate() error {
	if c.Clients == 0 {
		c.Clients = 16
	}
	if c.Clients < 1 {
		return fmt.Errorf("-clients %d: want at least 1", c.Clients)
	}
	if c.Duration <= 0 {
		return fmt.Errorf("-duration %s: want a positive duration", c.Duration)
	}
	if c.Warmup < 0 || c.Rate < 0 {
		return errors.New("-warmup and -rate must not be negative")
	}
	if c.Rounds < 0 {
		return fmt.Errorf("-rounds %d: want at least 1", c.Rounds)
	}
	if c.Rounds == 0 {
		c.Rounds = 5
	}
	if len(c.Modes) == 0 {
		c.Modes = []Mode{mcpclient.ModeStateless, mcpclient.ModeSession}
	}
	if len(c.Upstreams) == 0 {
		c.Upstreams = []string{upstreamStateless, upstreamSessions}
	}
	for _, u := range c.Upstreams {
		if u != upstreamStateless && u != upstreamSessions {
			return fmt.Errorf("upstream %q: want %s or %s", u, upstreamStateless, upstreamSessions)
		}
	}
	if c.TextBytes == 0 {
		c.TextBytes = 64
	}
	if c.TextBytes < 16 || c.TextBytes > 1<<20 {
		return fmt.Errorf("-text-bytes %d: want 16 to 1 MiB", c.TextBytes)
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 10 * time.Second
	}
	return nil
}

// childArgs are the log and profile flags of the server called name.
func (c *Config) childArgs(name string) []string {
	var args []string
	if c.ServerLog != "" && name == serverParley {
		args = append(args, "-log", filepath.Join(c.ServerLog, name+".log"))
	}
	if c.ServerCPUProfile != "" {
		args = append(args, "-cpuprofile", c.ServerCPUProfile+"."+name+".prof")
	}
	if c.EchoWrite && name == serverUpstream {
		args = append(args, "-echo-write")
	}
	return args
}

func (c *Config) progress(format string, args ...any) {
	cli.Progressf(c.Progress, "fedload", format, args...)
}

// Result is one scenario: one host generation, one path.
type Result struct {
	// Mode is the hosts' generation; Protocol the revision they
	// negotiated.
	Mode     Mode   `json:"mode"`
	Protocol string `json:"protocol"`
	// Path is direct (host → upstream) or parley (host → Parley →
	// upstream).
	Path string `json:"path"`
	// Tool is the name the hosts call.
	Tool string `json:"tool"`
	// Rate is the fixed rate the calls were made at (calls a second); 0:
	// as fast as the clients go, one call at a time each.
	Rate float64 `json:"rate,omitempty"`
	// Upstream is the registration the call goes through (parley only).
	Upstream string `json:"upstream,omitempty"`
	// UpstreamProtocol is the revision the upstream is spoken to in: the
	// hosts' directly, Parley's through it.
	UpstreamProtocol string `json:"upstream_protocol"`
	// Outcome is the calls, errors, throughput and latencies.
	mcpclient.Outcome
	// CPURead says the processes' CPU times were read (from /proc).
	CPURead bool `json:"cpu_read"`
	// UpstreamCPUPerCallUs is the upstream process's CPU time
	// (user+system) per call while measured; UpstreamCores its CPU time
	// over wall time.
	UpstreamCPUPerCallUs float64 `json:"upstream_cpu_per_call_us"`
	UpstreamCores        float64 `json:"upstream_cores"`
	// ParleyCPUPerCallUs is the gateway process's per call (parley
	// only); ParleyCores its CPU time over wall time (in a direct
	// scenario: what it does while idle).
	ParleyCPUPerCallUs float64 `json:"parley_cpu_per_call_us,omitempty"`
	ParleyCores        float64 `json:"parley_cores"`
	// ClientCPUPerCallUs is this process's (the clients') per call.
	ClientCPUPerCallUs float64 `json:"client_cpu_per_call_us"`
}

// Comparison sets a scenario through Parley beside the direct one of the
// same host generation.
type Comparison struct {
	Mode             Mode    `json:"mode"`
	Rate             float64 `json:"rate,omitempty"`
	Upstream         string  `json:"upstream"`
	UpstreamProtocol string  `json:"upstream_protocol"`
	// CPURatio is Parley's CPU per proxied call over the upstream's CPU
	// per call in the same turns (the calls Parley made to it); the
	// issue's target is TargetCPURatio.
	CPURatio           float64 `json:"cpu_ratio"`
	CPUMet             bool    `json:"cpu_met"`
	ParleyCPUPerCallUs float64 `json:"parley_cpu_per_call_us"`
	// UpstreamCPUPerCallUs is the upstream's in the turns through Parley,
	// DirectUpstreamCPUPerCallUs in the direct ones.
	UpstreamCPUPerCallUs       float64 `json:"upstream_cpu_per_call_us"`
	DirectUpstreamCPUPerCallUs float64 `json:"direct_upstream_cpu_per_call_us"`
	// P50AddedMs and P99AddedMs are the latency through Parley less the
	// latency directly; the target for p99 is TargetP99AddedMs.
	P50AddedMs  float64 `json:"p50_added_ms"`
	P99AddedMs  float64 `json:"p99_added_ms"`
	P99Met      bool    `json:"p99_met"`
	P99Ms       float64 `json:"p99_ms"`
	DirectP99Ms float64 `json:"direct_p99_ms"`
	// RPS is the throughput through Parley over the direct one.
	RPS float64 `json:"rps"`
}

// Report is a run's outcome.
type Report struct {
	Clients   int    `json:"clients"`
	Duration  string `json:"duration"`
	Warmup    string `json:"warmup"`
	Rounds    int    `json:"rounds"`
	Auth      bool   `json:"auth"`
	TextBytes int    `json:"text_bytes"`
	// EchoWrite: echo was not annotated readOnlyHint (audited as a write).
	EchoWrite bool `json:"echo_write,omitempty"`
	// Generations are the revisions Parley negotiated with the upstream,
	// by registration.
	Generations map[string]string `json:"generations"`
	cli.Machine
	// LoadAvg is the machine's load average before and after the run.
	LoadAvg     []string     `json:"load_avg,omitempty"`
	Results     []Result     `json:"results"`
	Comparisons []Comparison `json:"comparisons"`
}

// Errors counts failed calls over all scenarios.
func (r *Report) Errors() int64 {
	var n int64
	for _, res := range r.Results {
		n += res.Errors
	}
	return n
}

// WriteText prints the report as tables.
func (r *Report) WriteText(w io.Writer) {
	authText := "auth off"
	if r.Auth {
		authText = "auth on (a token per client)"
	}
	hint := "readOnlyHint: audited as a read"
	if r.EchoWrite {
		hint = "no readOnlyHint: audited as a write"
	}
	fmt.Fprintf(w, "fedload: %d clients, %s per scenario in %d rounds (warm-up %s), echo of %d bytes (%s); Parley as shipped (app.Build, config.Default, SQLite, audit on, %s), each server in its own process\n",
		r.Clients, r.Duration, r.Rounds, r.Warmup, r.TextBytes, hint, authText)
	fmt.Fprintf(w, "%s %s, %d CPUs, GOMAXPROCS %d, %s\n", r.GoVersion, r.Platform, r.NumCPU, r.GOMAXPROCS, r.SDK)
	if len(r.LoadAvg) == 2 {
		fmt.Fprintf(w, "load average before %s, after %s\n", r.LoadAvg[0], r.LoadAvg[1])
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-9s  %-6s  %-13s  %-10s  %6s  %7s  %7s  %7s  %7s  %7s  %6s  %12s  %10s  %12s\n",
		"host", "path", "tool", "upstream", "rate", "calls", "req/s", "p50 ms", "p90 ms", "p99 ms", "errors", "upstream µs", "parley µs", "client µs")
	na := func(known bool, v float64) string {
		if !known {
			return "n/a"
		}
		return fmt.Sprintf("%.0f", v)
	}
	for _, res := range r.Results {
		fmt.Fprintf(w, "%-9s  %-6s  %-13s  %-10s  %6s  %7d  %7.0f  %7.2f  %7.2f  %7.2f  %6d  %12s  %10s  %12.0f\n",
			res.Mode, res.Path, res.Tool, res.UpstreamProtocol, rateText(res.Rate), res.Calls, res.RPS, res.P50Ms, res.P90Ms, res.P99Ms, res.Errors,
			na(res.CPURead, res.UpstreamCPUPerCallUs), na(res.CPURead && res.Path == pathParley, res.ParleyCPUPerCallUs), res.ClientCPUPerCallUs)
	}
	fmt.Fprintln(w, "(µs: CPU time per call, user+system, of the upstream process, the Parley process and this one)")
	if len(r.Comparisons) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "through Parley against directly:")
	}
	for _, c := range r.Comparisons {
		cpu := "CPU n/a"
		if c.UpstreamCPUPerCallUs > 0 {
			cpu = fmt.Sprintf("Parley ÷ upstream CPU per call = %.2f (%.0f ÷ %.0f µs; upstream directly %.0f µs) (target ≤ %.0f: %s)",
				c.CPURatio, c.ParleyCPUPerCallUs, c.UpstreamCPUPerCallUs, c.DirectUpstreamCPUPerCallUs, TargetCPURatio, met(c.CPUMet))
		}
		fmt.Fprintf(w, "%s host, %s, upstream spoken to in %s: %s; p99 added %.2f ms (%.2f vs %.2f) (target < %.0f ms: %s); p50 added %.2f ms; req/s %.2f×\n",
			c.Mode, rateText(c.Rate), c.UpstreamProtocol, cpu, c.P99AddedMs, c.P99Ms, c.DirectP99Ms, TargetP99AddedMs, met(c.P99Met), c.P50AddedMs, c.RPS)
	}
	for _, res := range r.Results {
		if res.FirstError != "" {
			fmt.Fprintf(w, "%s %s %s %s: %d errors, first: %s\n", res.Mode, res.Path, res.Tool, rateText(res.Rate), res.Errors, res.FirstError)
		}
	}
}

// rateText is "max" (as fast as the clients go) or the fixed rate.
func rateText(rate float64) string {
	if rate > 0 {
		return fmt.Sprintf("%.0f/s", rate)
	}
	return "max"
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// scenario is one measured loop.
type scenario struct {
	mode     Mode
	path     string
	upstream string // the registration, through Parley
	target   *server
	tool     string
	rate     float64
}

// Run starts the upstream and the gateway, connects the clients, warms
// every scenario up, then measures them in rounds: each round runs every
// scenario, of both generations and both paths, for its share of the
// duration, so that whatever else the machine does weighs on all alike.
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

	rates := []float64{0}
	if cfg.Rate > 0 {
		rates = append(rates, cfg.Rate)
	}
	var scenarios []scenario
	for _, rate := range rates {
		for _, mode := range cfg.Modes {
			scenarios = append(scenarios, scenario{mode: mode, path: pathDirect, target: env.upstream, tool: toolEcho, rate: rate})
			for _, u := range cfg.Upstreams {
				scenarios = append(scenarios, scenario{mode: mode, path: pathParley, upstream: u, target: env.parley, tool: exposedTool(u), rate: rate})
			}
		}
	}
	// One set of clients per generation and server, connected before any
	// timing; the scenarios through Parley share theirs.
	type key struct {
		mode   Mode
		target string
	}
	sessions := map[key][]*mcp.ClientSession{}
	defer func() {
		for _, css := range sessions {
			mcpclient.CloseAll(css)
		}
	}()
	for _, sc := range scenarios {
		k := key{sc.mode, sc.target.name}
		if sessions[k] != nil {
			continue
		}
		css, err := connectClients(ctx, &cfg, env, sc.mode, sc.target)
		if err != nil {
			return nil, fmt.Errorf("%s: connect %d clients to %s: %w", sc.mode, cfg.Clients, sc.target.name, err)
		}
		sessions[k] = css
	}

	if cfg.ServerCPUProfile != "" {
		for _, s := range []*server{env.upstream, env.parley} {
			if err := s.proc.Send(child.MsgStartProfile); err != nil {
				return nil, fmt.Errorf("%s: start its CPU profile: %w", s.name, err)
			}
		}
	}
	load0 := proc.LoadAvg()
	if cfg.Warmup > 0 {
		for _, sc := range scenarios {
			cfg.progress("%s %s %s %s: warm-up %s", sc.mode, sc.path, sc.tool, rateText(sc.rate), cfg.Warmup)
			if _, err := loop(ctx, &cfg, sessions[key{sc.mode, sc.target.name}], sc, cfg.Warmup); err != nil {
				return nil, err
			}
		}
	}
	accs := make([]measured, len(scenarios))
	for r := range cfg.Rounds {
		for i, sc := range scenarios {
			if err := accs[i].add(ctx, &cfg, env, sessions[key{sc.mode, sc.target.name}], sc, cfg.Duration/time.Duration(cfg.Rounds)); err != nil {
				return nil, err
			}
		}
		cfg.progress("round %d of %d done", r+1, cfg.Rounds)
	}

	rep := &Report{
		Clients: cfg.Clients, Duration: cfg.Duration.String(), Warmup: cfg.Warmup.String(), Rounds: cfg.Rounds,
		Auth: cfg.Auth, TextBytes: cfg.TextBytes, EchoWrite: cfg.EchoWrite, Generations: env.generations,
		Machine: cli.ThisMachine(mcpclient.SDKVersion()),
	}
	for i, sc := range scenarios {
		res := accs[i].result(sc.path == pathParley)
		res.Mode, res.Path, res.Tool, res.Upstream, res.Rate = sc.mode, sc.path, sc.tool, sc.upstream, sc.rate
		res.Protocol = sessions[key{sc.mode, sc.target.name}][0].InitializeResult().ProtocolVersion
		res.UpstreamProtocol = res.Protocol
		if sc.path == pathParley {
			res.UpstreamProtocol = env.generations[sc.upstream]
		}
		cfg.progress("%s %s %s %s: %d calls, %.0f req/s, p50 %.2f ms, p99 %.2f ms, upstream %.0f µs/call, parley %.0f µs/call, %d errors",
			sc.mode, sc.path, sc.tool, rateText(sc.rate), res.Calls, res.RPS, res.P50Ms, res.P99Ms, res.UpstreamCPUPerCallUs, res.ParleyCPUPerCallUs, res.Errors)
		rep.Results = append(rep.Results, res)
	}
	rep.Comparisons = compare(rep.Results)
	if load0 != "" {
		rep.LoadAvg = []string{load0, proc.LoadAvg()}
	}
	return rep, nil
}

// compare sets every scenario through Parley beside the direct one of
// its host generation.
func compare(results []Result) []Comparison {
	var out []Comparison
	for _, r := range results {
		if r.Path != pathParley {
			continue
		}
		for _, d := range results {
			if d.Path != pathDirect || d.Mode != r.Mode || d.Rate != r.Rate {
				continue
			}
			c := Comparison{Mode: r.Mode, Rate: r.Rate, Upstream: r.Upstream, UpstreamProtocol: r.UpstreamProtocol,
				ParleyCPUPerCallUs: r.ParleyCPUPerCallUs, UpstreamCPUPerCallUs: r.UpstreamCPUPerCallUs,
				DirectUpstreamCPUPerCallUs: d.UpstreamCPUPerCallUs,
				P50AddedMs:                 r.P50Ms - d.P50Ms, P99AddedMs: r.P99Ms - d.P99Ms, P99Ms: r.P99Ms, DirectP99Ms: d.P99Ms}
			if r.UpstreamCPUPerCallUs > 0 {
				c.CPURatio = r.ParleyCPUPerCallUs / r.UpstreamCPUPerCallUs
				c.CPUMet = c.CPURatio <= TargetCPURatio
			}
			c.P99Met = c.P99AddedMs < TargetP99AddedMs
			if d.RPS > 0 {
				c.RPS = r.RPS / d.RPS
			}
			out = append(out, c)
		}
	}
	return out
}

// connectClients opens one ClientSession per client, before any timing,
// and checks that they speak mode's generation.
func connectClients(ctx context.Context, cfg *Config, env *env, mode Mode, s *server) ([]*mcp.ClientSession, error) {
	return mcpclient.ConnectClients(ctx, mcpclient.Target{
		Name:       s.name,
		URL:        s.url,
		HTTPClient: func(i int) (*http.Client, error) { return env.httpClient(s, i) },
		ClientName: func(i int) string { return fmt.Sprintf("fedload-%d", i) },
	}, mode, cfg.Clients, cfg.CallTimeout)
}

// measured accumulates a scenario's rounds.
type measured struct {
	mcpclient.Phase
	upstreamCPU time.Duration
	parleyCPU   time.Duration
	clientCPU   time.Duration
	cpuRead     bool
}

// add measures one round of sc for d. Both servers' CPU times are read
// from their processes before and after.
func (m *measured) add(ctx context.Context, cfg *Config, env *env, css []*mcp.ClientSession, sc scenario, d time.Duration) error {
	u0, uerr := proc.CPU(env.upstream.proc.Pid)
	p0, perr := proc.CPU(env.parley.proc.Pid)
	c0 := proc.Self()
	p, err := loop(ctx, cfg, css, sc, d)
	if err != nil {
		return err
	}
	m.clientCPU += proc.Self() - c0
	u1, uerr1 := proc.CPU(env.upstream.proc.Pid)
	p1, perr1 := proc.CPU(env.parley.proc.Pid)
	if errors.Join(uerr, perr, uerr1, perr1) == nil {
		m.upstreamCPU += u1 - u0
		m.parleyCPU += p1 - p0
		m.cpuRead = true
	}
	m.Add(p)
	return nil
}

// result summarises the rounds; proxied says Parley's CPU is per call
// (the calls went through it).
func (m *measured) result(proxied bool) Result {
	res := Result{Outcome: m.Outcome()}
	if res.Calls == 0 || m.Elapsed <= 0 {
		return res
	}
	perCall := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(res.Calls) }
	if m.cpuRead {
		res.CPURead = true
		res.UpstreamCPUPerCallUs = perCall(m.upstreamCPU)
		res.UpstreamCores = m.upstreamCPU.Seconds() / m.Elapsed.Seconds()
		res.ParleyCores = m.parleyCPU.Seconds() / m.Elapsed.Seconds()
		if proxied {
			res.ParleyCPUPerCallUs = perCall(m.parleyCPU)
		}
	}
	res.ClientCPUPerCallUs = perCall(m.clientCPU)
	return res
}

// loop runs every client's echo calls until d has passed: back to back,
// or at sc.rate calls a second in all (mcpclient.Loop).
func loop(ctx context.Context, cfg *Config, css []*mcp.ClientSession, sc scenario, d time.Duration) (mcpclient.Phase, error) {
	l := mcpclient.Loop{
		Name:     fmt.Sprintf("%s %s %s", sc.mode, sc.path, sc.tool),
		Target:   sc.target.name,
		Sessions: css,
		Call: func(ctx context.Context, cs *mcp.ClientSession, client, seq int, _ *rand.Rand) error {
			return echo(ctx, cs, sc.tool, echoText(cfg.TextBytes, client, seq))
		},
		CallTimeout: cfg.CallTimeout,
		Rate:        sc.rate,
		Duration:    d,
	}
	return l.Run(ctx)
}

// echoText is the text of a client's call: distinct per call, n bytes.
func echoText(n, client, seq int) string {
	s := fmt.Sprintf("fedload client %d call %d ", client, seq)
	if len(s) >= n {
		return s[:n]
	}
	return s + strings.Repeat("x", n-len(s))
}

// echo calls tool with text and checks that the upstream's answer came
// back: the same text, not an error.
func echo(ctx context.Context, cs *mcp.ClientSession, tool, text string) error {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: echoIn{Text: text}})
	if err != nil {
		return err
	}
	got := mcpclient.ResultText(res)
	if res.IsError {
		return fmt.Errorf("tool error: %s", got)
	}
	if got != text {
		return fmt.Errorf("sent %q, got %q back", text, got)
	}
	return nil
}
