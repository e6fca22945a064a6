package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	a2ago "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2aclient"
	"github.com/a2aproject/a2a-go/a2aclient/agentcard"

	"github.com/parleyhq/parley/bench/internal/cli"
	"github.com/parleyhq/parley/bench/internal/proc"
	"github.com/parleyhq/parley/bench/internal/stats"
)

// Targets: where the clients send their messages.
const (
	TargetDirect = "direct" // straight to the agent
	TargetRelay  = "relay"  // through Parley's relay, /a2a/agents/bench-agent
)

// TargetRatio is the goal: relayed throughput at least this
// fraction of direct throughput.
const TargetRatio = 0.8

// Config is one run.
type Config struct {
	// Clients is how many a2a-go clients send at once, per target.
	Clients int
	// Duration is how long each target is measured in all, split into
	// Rounds turns.
	Duration time.Duration
	// Warmup runs each target unmeasured for this long first.
	Warmup time.Duration
	// Rounds splits each target's measurement into this many turns, taken
	// in rotation with the other target. Default 5.
	Rounds int
	// Answer is what the agent answers: AnswerTask (default) or
	// AnswerMessage.
	Answer string
	// CallTimeout bounds one message/send. Default 10s.
	CallTimeout time.Duration
	// Labels labels goroutines for CPU profiles (role, target, via).
	Labels bool

	// What-if experiments, all off by default (production as it is), to
	// measure what a change to Parley would buy:
	//
	// RelayIdlePerHost sets the relay's outbound transport's (the
	// registry guard's) MaxIdleConnsPerHost; 0 keeps its own (8).
	RelayIdlePerHost int
	// Progress, if set, receives a line per step.
	Progress io.Writer
}

func (c *Config) validate() error {
	if c.Clients < 1 {
		return fmt.Errorf("-clients %d: want at least 1", c.Clients)
	}
	if c.Clients > 1024 {
		return fmt.Errorf("-clients %d: at most 1024", c.Clients)
	}
	if c.Duration <= 0 {
		return fmt.Errorf("-duration %s: want a positive duration", c.Duration)
	}
	if c.Duration > time.Hour {
		return fmt.Errorf("-duration %s: at most 1h", c.Duration)
	}
	if c.Warmup < 0 || c.Warmup > time.Minute {
		return fmt.Errorf("-warmup %s: want 0 to 1m", c.Warmup)
	}
	if c.Rounds <= 0 {
		c.Rounds = 5
	}
	if c.Rounds > 100 {
		return fmt.Errorf("-rounds %d: at most 100", c.Rounds)
	}
	switch c.Answer {
	case "":
		c.Answer = AnswerTask
	case AnswerTask, AnswerMessage:
	default:
		return fmt.Errorf("-answer %q: want task or message", c.Answer)
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 10 * time.Second
	}
	if c.RelayIdlePerHost < 0 || c.RelayIdlePerHost > 4096 {
		return fmt.Errorf("-relay-idle-per-host %d: want 0 (the guard's own) to 4096", c.RelayIdlePerHost)
	}
	return nil
}

func (c *Config) progress(format string, args ...any) {
	cli.Progressf(c.Progress, "a2arelay", format, args...)
}

// Result is one target's measurement, all its turns together.
type Result struct {
	Target     string  `json:"target"`
	URL        string  `json:"url"`
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
	// CPUPerCallUs is this process's CPU time (user+system) per call
	// while measured: clients, agent and (relayed) the relay with its
	// recorder. 0 where the platform does not say.
	CPUPerCallUs float64 `json:"cpu_per_call_us"`
	// CPUCores is this process's CPU time over wall time while measured.
	CPUCores float64 `json:"cpu_cores"`
	// AllocsPerCall is this process's heap allocations per call.
	AllocsPerCall float64 `json:"allocs_per_call"`
	// AgentConns and RelayConns count the TCP connections the agent and
	// Parley's server accepted while measured: 0 once the clients' (and
	// the relay's) connections are all kept alive.
	AgentConns int64 `json:"agent_conns"`
	RelayConns int64 `json:"relay_conns"`
}

// Ratio compares the relayed calls with the direct ones.
type Ratio struct {
	RelayRPS  float64 `json:"relay_rps"`
	DirectRPS float64 `json:"direct_rps"`
	// Ratio is RelayRPS / DirectRPS: the measure.
	Ratio  float64 `json:"ratio"`
	Target float64 `json:"target"`
	Met    bool    `json:"met"`
	// P99Ratio is the relay's p99 over the direct p99 (higher is worse).
	P99Ratio float64 `json:"p99_ratio"`
	// CPURatio is direct CPU per call over relayed CPU per call: the
	// throughput ratio to expect when both saturate the same cores.
	CPURatio float64 `json:"cpu_ratio,omitempty"`
}

// Report is a run's outcome.
type Report struct {
	Clients  int    `json:"clients"`
	Duration string `json:"duration"`
	Warmup   string `json:"warmup"`
	Rounds   int    `json:"rounds"`
	Answer   string `json:"answer"`
	// Experiments lists the what-if settings in force; empty: Parley as
	// in production.
	Experiments []string `json:"experiments,omitempty"`
	cli.Machine
	// LoadAvg is /proc/loadavg before and after the run.
	LoadAvg []string `json:"load_avg,omitempty"`
	// ResponseBytes is the size of one message/send answer body from each
	// target (the relayed one carries the caller's metadata Parley adds).
	ResponseBytes map[string]int `json:"response_bytes"`
	Results       []Result       `json:"results"`
	Ratio         Ratio          `json:"ratio"`
	// RelayedTasksRecorded counts the rows in the store's relayed_tasks
	// after the run (answer task: one per relayed call, warm-up included).
	RelayedTasksRecorded int64 `json:"relayed_tasks_recorded"`
	// RelayWarnings counts the relay's log records at warning level or
	// above (failed calls, records dropped or failed); the first is kept.
	RelayWarnings     int64  `json:"relay_warnings"`
	FirstRelayWarning string `json:"first_relay_warning,omitempty"`
}

// Errors counts failed calls of both targets.
func (r *Report) Errors() int64 {
	var n int64
	for _, res := range r.Results {
		n += res.Errors
	}
	return n
}

// WriteText prints the report as a table.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "a2arelay: message/send, %d clients per target, %s per target in %d rounds (warm-up %s), agent answers a %s\n",
		r.Clients, r.Duration, r.Rounds, r.Warmup, r.Answer)
	fmt.Fprintf(w, "%s %s, %d CPUs, GOMAXPROCS %d, %s; answer %d bytes direct / %d bytes relayed\n",
		r.GoVersion, r.Platform, r.NumCPU, r.GOMAXPROCS, r.SDK, r.ResponseBytes[TargetDirect], r.ResponseBytes[TargetRelay])
	if len(r.Experiments) > 0 {
		fmt.Fprintf(w, "WHAT-IF experiments (not Parley as shipped): %s\n", strings.Join(r.Experiments, ", "))
	}
	if len(r.LoadAvg) == 2 {
		fmt.Fprintf(w, "load average before %s, after %s\n", r.LoadAvg[0], r.LoadAvg[1])
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-6s  %8s  %8s  %7s  %7s  %7s  %7s  %6s  %9s  %5s  %6s  %11s\n",
		"target", "calls", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "cpu µs/op", "cores", "allocs", "conns a/r")
	for _, res := range r.Results {
		cpu, cores := "n/a", "n/a"
		if res.CPUPerCallUs > 0 {
			cpu, cores = fmt.Sprintf("%.0f", res.CPUPerCallUs), fmt.Sprintf("%.2f", res.CPUCores)
		}
		fmt.Fprintf(w, "%-6s  %8d  %8.0f  %7.2f  %7.2f  %7.2f  %7.2f  %6d  %9s  %5s  %6.0f  %11s\n",
			res.Target, res.Calls, res.RPS, res.P50Ms, res.P90Ms, res.P99Ms, res.MaxMs, res.Errors, cpu, cores, res.AllocsPerCall,
			fmt.Sprintf("%d/%d", res.AgentConns, res.RelayConns))
	}
	fmt.Fprintln(w)
	ra := r.Ratio
	verdict := "met"
	if !ra.Met {
		verdict = "NOT met"
	}
	cpu := ""
	if ra.CPURatio > 0 {
		cpu = fmt.Sprintf("; CPU per call direct/relay %.2f", ra.CPURatio)
	}
	fmt.Fprintf(w, "relay/direct throughput = %.0f/%.0f req/s = %.2f (target %.1f: %s); p99 relay/direct %.2f%s\n",
		ra.RelayRPS, ra.DirectRPS, ra.Ratio, ra.Target, verdict, ra.P99Ratio, cpu)
	fmt.Fprintf(w, "relayed tasks recorded in the store: %d; relay warnings: %d\n", r.RelayedTasksRecorded, r.RelayWarnings)
	if r.FirstRelayWarning != "" {
		fmt.Fprintf(w, "first relay warning: %s\n", r.FirstRelayWarning)
	}
	for _, res := range r.Results {
		if res.FirstError != "" {
			fmt.Fprintf(w, "%s: %d errors, first: %s\n", res.Target, res.Errors, res.FirstError)
		}
	}
}

// Run starts the agent and the relay, and measures message/send straight
// to the agent and through the relay, in turns.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	env, err := setup(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	defer env.close()
	cfg.progress("agent at %s, relay at %s", env.agent.url, env.relayURL)

	// One HTTP client for all the benchmark's clients, keeping a
	// connection per client and target alive.
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0, // no overall limit
		MaxIdleConnsPerHost: cfg.Clients + 4,
		IdleConnTimeout:     90 * time.Second,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}

	urls := map[string]string{TargetDirect: env.agent.url + "/", TargetRelay: env.relayURL}
	clients := map[string][]*a2aclient.Client{}
	defer func() {
		for _, cs := range clients {
			for _, c := range cs {
				_ = c.Destroy()
			}
		}
	}()
	for _, target := range []string{TargetDirect, TargetRelay} {
		// The cards as a caller gets them: the agent's own, and the one
		// the relay rewrites to point at itself.
		base := env.agent.url
		if target == TargetRelay {
			base = env.relayURL
		}
		card, err := agentcard.NewResolver(hc).Resolve(ctx, base)
		if err != nil {
			return nil, fmt.Errorf("%s: resolve the card at %s: %w", target, base, err)
		}
		if card.URL != urls[target] {
			return nil, fmt.Errorf("%s: the card at %s points at %q, want %q", target, base, card.URL, urls[target])
		}
		for range cfg.Clients {
			c, err := a2aclient.NewFromCard(ctx, card, a2aclient.WithJSONRPCTransport(hc))
			if err != nil {
				return nil, fmt.Errorf("%s: client: %w", target, err)
			}
			clients[target] = append(clients[target], c)
		}
	}

	rep := &Report{
		Clients: cfg.Clients, Duration: cfg.Duration.String(), Warmup: cfg.Warmup.String(), Rounds: cfg.Rounds,
		Answer: cfg.Answer, Machine: cli.ThisMachine(sdkVersion()),
		ResponseBytes: map[string]int{},
	}
	if cfg.RelayIdlePerHost > 0 {
		rep.Experiments = append(rep.Experiments, fmt.Sprintf("relay MaxIdleConnsPerHost %d", cfg.RelayIdlePerHost))
	}
	for target, u := range urls {
		n, err := answerSize(ctx, hc, u)
		if err != nil {
			return nil, fmt.Errorf("%s: one raw message/send: %w", target, err)
		}
		rep.ResponseBytes[target] = n
	}
	load0 := proc.LoadAvg()

	targets := []string{TargetDirect, TargetRelay}
	if cfg.Warmup > 0 {
		for _, t := range targets {
			cfg.progress("%s: warm-up %s", t, cfg.Warmup)
			loop(ctx, &cfg, env, t, clients[t], cfg.Warmup)
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
	}
	acc := map[string]*measured{}
	for _, t := range targets {
		acc[t] = &measured{}
	}
	turn := cfg.Duration / time.Duration(cfg.Rounds)
	for r := range cfg.Rounds {
		order := targets
		if r%2 == 1 { // alternate who goes first
			order = []string{TargetRelay, TargetDirect}
		}
		for _, t := range order {
			m := loop(ctx, &cfg, env, t, clients[t], turn)
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			cfg.progress("round %d/%d: %s: %d calls, %.0f req/s, %d errors", r+1, cfg.Rounds, t,
				len(m.latencies), float64(len(m.latencies))/m.wall.Seconds(), m.errors)
			acc[t].add(m)
		}
	}
	for _, t := range targets {
		res := acc[t].result(t)
		res.URL = urls[t]
		rep.Results = append(rep.Results, res)
	}
	d, rl := rep.Results[0], rep.Results[1]
	rep.Ratio = Ratio{RelayRPS: rl.RPS, DirectRPS: d.RPS, Target: TargetRatio}
	if d.RPS > 0 {
		rep.Ratio.Ratio = rl.RPS / d.RPS
		rep.Ratio.Met = rep.Ratio.Ratio >= TargetRatio
	}
	if d.P99Ms > 0 {
		rep.Ratio.P99Ratio = rl.P99Ms / d.P99Ms
	}
	if rl.CPUPerCallUs > 0 {
		rep.Ratio.CPURatio = d.CPUPerCallUs / rl.CPUPerCallUs
	}
	if load0 != "" {
		rep.LoadAvg = []string{load0, proc.LoadAvg()}
	}

	// Stop the gateway first, so that recording is complete.
	if err := env.stopGateway(); err != nil {
		return nil, fmt.Errorf("stop the gateway: %w", err)
	}
	if rep.RelayedTasksRecorded, err = env.recordedTasks(ctx); err != nil {
		return nil, fmt.Errorf("count the relayed tasks recorded: %w", err)
	}
	rep.RelayWarnings = env.logs.Count()
	rep.FirstRelayWarning = env.logs.First()
	return rep, nil
}

// measured is what loops (or turns of one target) gathered.
type measured struct {
	latencies  []time.Duration // successful calls
	errors     int64
	firstError string
	wall       time.Duration
	cpu        time.Duration
	mallocs    uint64
	agentConns int64
	relayConns int64
}

func (m *measured) add(o *measured) {
	m.latencies = append(m.latencies, o.latencies...)
	m.errors += o.errors
	if m.firstError == "" {
		m.firstError = o.firstError
	}
	m.wall += o.wall
	m.cpu += o.cpu
	m.mallocs += o.mallocs
	m.agentConns += o.agentConns
	m.relayConns += o.relayConns
}

func (m *measured) result(target string) Result {
	lat := slices.Clone(m.latencies)
	slices.Sort(lat)
	n := int64(len(lat))
	res := Result{Target: target, Calls: n + m.errors, Errors: m.errors, FirstError: m.firstError,
		Seconds: m.wall.Seconds(), AgentConns: m.agentConns, RelayConns: m.relayConns}
	if m.wall > 0 {
		res.RPS = float64(n) / m.wall.Seconds()
		res.CPUCores = m.cpu.Seconds() / m.wall.Seconds()
	}
	if n > 0 {
		l := stats.Summarise(lat)
		res.P50Ms, res.P90Ms, res.P99Ms, res.MaxMs = l.P50Ms, l.P90Ms, l.P99Ms, l.MaxMs
		res.CPUPerCallUs = float64(m.cpu.Microseconds()) / float64(n)
		res.AllocsPerCall = float64(m.mallocs) / float64(n)
	}
	return res
}

// loop has every client send message/send in a loop, one call at a time,
// until d has passed (calls in flight then are finished and counted).
func loop(ctx context.Context, cfg *Config, env *env, target string, clients []*a2aclient.Client, d time.Duration) *measured {
	var (
		mu       sync.Mutex
		all      = &measured{}
		errs     atomic.Int64
		firstErr atomic.Pointer[string]
		wg       sync.WaitGroup
	)
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := proc.Self()
	agent0, relay0 := env.agent.conns.Load(), env.relayConns.Load()
	start := time.Now()
	end := start.Add(d)
	labels := pprof.Labels("role", "client", "target", target)
	for _, c := range clients {
		wg.Go(func() {
			pprof.Do(ctx, labels, func(ctx context.Context) {
				lat := make([]time.Duration, 0, 1024)
				for ctx.Err() == nil {
					t0 := time.Now()
					if !t0.Before(end) {
						break
					}
					if err := sendOne(ctx, cfg, c); err != nil {
						if errs.Add(1) == 1 {
							s := err.Error()
							firstErr.Store(&s)
						}
						continue
					}
					lat = append(lat, time.Since(t0))
				}
				mu.Lock()
				all.latencies = append(all.latencies, lat...)
				mu.Unlock()
			})
		})
	}
	wg.Wait()
	all.wall = time.Since(start)
	all.cpu = proc.Self() - cpu0
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	all.mallocs = ms1.Mallocs - ms0.Mallocs
	all.agentConns = env.agent.conns.Load() - agent0
	all.relayConns = env.relayConns.Load() - relay0
	all.errors = errs.Load()
	if p := firstErr.Load(); p != nil {
		all.firstError = *p
	}
	return all
}

// sendOne sends one message and checks the answer is the agent's.
func sendOne(ctx context.Context, cfg *Config, c *a2aclient.Client) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
	defer cancel()
	res, err := c.SendMessage(ctx, &a2ago.MessageSendParams{
		Message: a2ago.NewMessage(a2ago.MessageRoleUser, a2ago.TextPart{Text: "ping"}),
	})
	if err != nil {
		return err
	}
	switch r := res.(type) {
	case *a2ago.Task:
		if cfg.Answer != AnswerTask || r.Status.State != a2ago.TaskStateCompleted {
			return fmt.Errorf("answered a task in state %s, want a %s", r.Status.State, cfg.Answer)
		}
	case *a2ago.Message:
		if cfg.Answer != AnswerMessage || len(r.Parts) != 1 {
			return fmt.Errorf("answered a message of %d parts, want a %s", len(r.Parts), cfg.Answer)
		}
	default:
		return fmt.Errorf("answered a %T", res)
	}
	return nil
}

// answerSize POSTs one A2A 0.3 message/send to url and returns the size
// of the answer's body.
func answerSize(ctx context.Context, hc *http.Client, url string) (int, error) {
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":"size","method":"message/send","params":{"message":`+
		`{"kind":"message","messageId":%q,"role":"user","parts":[{"kind":"text","text":"ping"}]}}}`, a2ago.NewMessageID())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(`"result"`)) {
		return 0, fmt.Errorf("HTTP %s: %s", resp.Status, b)
	}
	return len(bytes.TrimSpace(b)), nil
}

// sdkVersion is the a2a-go version this binary was built with.
func sdkVersion() string {
	if v := cli.ModuleVersion("github.com/a2aproject/a2a-go"); v != "" {
		return "a2a-go " + v
	}
	return "a2a-go (version unknown)"
}
