package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	a2a "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
	"github.com/a2aproject/a2a-go/v2/a2aclient/agentcard"
	a2agrpc "github.com/a2aproject/a2a-go/v2/a2agrpc/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/parleyhq/parley/bench/internal/child"
	"github.com/parleyhq/parley/bench/internal/cli"
	"github.com/parleyhq/parley/bench/internal/proc"
	"github.com/parleyhq/parley/bench/internal/stats"
)

// Bindings the clients call in (A2A 1.0 each).
const (
	BindingJSONRPC = "jsonrpc" // JSONRPC
	BindingREST    = "rest"    // HTTP+JSON
	BindingGRPC    = "grpc"    // GRPC
)

// allBindings are the bindings in the order they are measured.
var allBindings = []string{BindingJSONRPC, BindingREST, BindingGRPC}

// protocolBinding is the card's name of a binding.
var protocolBinding = map[string]a2a.TransportProtocol{
	BindingJSONRPC: a2a.TransportProtocolJSONRPC,
	BindingREST:    a2a.TransportProtocolHTTPJSON,
	BindingGRPC:    a2a.TransportProtocolGRPC,
}

// What the clients call through.
const (
	ViaProxy = "proxy" // the bare httputil.ReverseProxy in front of the agent
	ViaRelay = "relay" // Parley's relay, as its relayed card lists it
)

// TargetCPURatio is the goal: the gateway's CPU per relayed call
// at most this many times the bare reverse proxy's per proxied call.
const TargetCPURatio = 2.0

// Config is one run.
type Config struct {
	// Clients is how many a2a-go clients send at once, per target.
	Clients int
	// Duration is how long each target (binding × via) is measured in
	// all, split into Rounds turns.
	Duration time.Duration
	// Warmup runs each target unmeasured for this long first.
	Warmup time.Duration
	// Rounds splits each target's measurement into this many turns, taken
	// in rotation with the other targets. Default 5.
	Rounds int
	// Answer is what the agent answers: AnswerTask (default) or
	// AnswerMessage.
	Answer string
	// CallTimeout bounds one message/send. Default 10s.
	CallTimeout time.Duration
	// Bindings are the bindings measured; empty: all three. A binding the
	// relayed card does not list is skipped and said so.
	Bindings []string
	// ServerCPUProfile, if set, makes each server write a CPU profile of
	// its process to ServerCPUProfile.NAME.prof (NAME: parley, proxy,
	// agent), from the start of the warm-ups to the end.
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
	if len(c.Bindings) == 0 {
		c.Bindings = slices.Clone(allBindings)
	}
	for _, b := range c.Bindings {
		if !slices.Contains(allBindings, b) {
			return fmt.Errorf("-bindings: %q: want %s", b, strings.Join(allBindings, ", "))
		}
	}
	return nil
}

func (c *Config) progress(format string, args ...any) {
	cli.Progressf(c.Progress, "a2arelay", format, args...)
}

// Result is one target (a binding, through the proxy or the relay), all
// its turns together.
type Result struct {
	Binding    string  `json:"binding"`
	Via        string  `json:"via"`
	URL        string  `json:"url"`
	Tenant     string  `json:"tenant,omitempty"`
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
	// CPURead says the servers' CPU times were read (from /proc).
	CPURead bool `json:"cpu_read"`
	// FrontCPUPerCallUs is the CPU time (user+system) per call of the
	// process the calls went through: the gateway (via relay) or the
	// proxy (via proxy), read from /proc/PID/stat (10 ms ticks).
	FrontCPUPerCallUs float64 `json:"front_cpu_per_call_us"`
	// FrontCores is that process's CPU time over wall time.
	FrontCores float64 `json:"front_cores"`
	// AgentCPUPerCallUs and ClientCPUPerCallUs are the agent's and the
	// clients' (this process's).
	AgentCPUPerCallUs  float64 `json:"agent_cpu_per_call_us"`
	ClientCPUPerCallUs float64 `json:"client_cpu_per_call_us"`
}

// Comparison is one binding: the relay against the bare proxy.
type Comparison struct {
	Binding           string  `json:"binding"`
	RelayCPUPerCallUs float64 `json:"relay_cpu_per_call_us"`
	ProxyCPUPerCallUs float64 `json:"proxy_cpu_per_call_us"`
	// CPURatio is RelayCPUPerCallUs / ProxyCPUPerCallUs: the issue's
	// measure.
	CPURatio   float64 `json:"cpu_ratio"`
	Target     float64 `json:"target"`
	Met        bool    `json:"met"`
	RelayP50Ms float64 `json:"relay_p50_ms"`
	ProxyP50Ms float64 `json:"proxy_p50_ms"`
	RelayP99Ms float64 `json:"relay_p99_ms"`
	ProxyP99Ms float64 `json:"proxy_p99_ms"`
	RelayRPS   float64 `json:"relay_rps"`
	ProxyRPS   float64 `json:"proxy_rps"`
}

// Report is a run's outcome.
type Report struct {
	Clients  int      `json:"clients"`
	Duration string   `json:"duration"`
	Warmup   string   `json:"warmup"`
	Rounds   int      `json:"rounds"`
	Answer   string   `json:"answer"`
	Bindings []string `json:"bindings"`
	// Skipped names the bindings asked for that the relayed card does not
	// list, with why.
	Skipped map[string]string `json:"skipped,omitempty"`
	cli.Machine
	// LoadAvg is /proc/loadavg before and after the load.
	LoadAvg     []string     `json:"load_avg,omitempty"`
	Results     []Result     `json:"results"`
	Comparisons []Comparison `json:"comparisons"`
	// RelayedCalls counts the successful relayed calls, warm-ups
	// included; RelayedFailed the failed ones.
	RelayedCalls  int64 `json:"relayed_calls"`
	RelayedFailed int64 `json:"relayed_failed"`
	// RelayedTasksRecorded counts the rows in the store's relayed_tasks
	// after the gateway stopped (answer task: one per relayed call).
	RelayedTasksRecorded int64 `json:"relayed_tasks_recorded"`
	// AllRecorded says every successful relayed call's task is in the
	// store (answer task), or nothing is (answer message).
	AllRecorded bool `json:"all_recorded"`
	// RelayWarnings counts the gateway's log lines at warning level or
	// above during the load; the first is kept.
	RelayWarnings     int64  `json:"relay_warnings"`
	FirstRelayWarning string `json:"first_relay_warning,omitempty"`
	// Profiles are the servers' CPU profiles, by server.
	Profiles map[string]string `json:"profiles,omitempty"`
}

// Errors counts failed calls, and a relayed task missing from the store.
func (r *Report) Errors() int64 {
	var n int64
	for _, res := range r.Results {
		n += res.Errors
	}
	if !r.AllRecorded {
		n++
	}
	return n
}

// WriteText prints the report as a table.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "a2arelay: A2A 1.0 SendMessage, %d clients per target, %s per target in %d rounds (warm-up %s), agent answers a %s\n",
		r.Clients, r.Duration, r.Rounds, r.Warmup, r.Answer)
	fmt.Fprintf(w, "%s %s, %d CPUs, GOMAXPROCS %d, %s\n", r.GoVersion, r.Platform, r.NumCPU, r.GOMAXPROCS, r.SDK)
	if len(r.LoadAvg) == 2 {
		fmt.Fprintf(w, "load average before %s, after %s\n", r.LoadAvg[0], r.LoadAvg[1])
	}
	for _, b := range slices.Sorted(maps.Keys(r.Skipped)) {
		fmt.Fprintf(w, "skipped %s: %s\n", b, r.Skipped[b])
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-7s  %-5s  %8s  %7s  %7s  %7s  %7s  %6s  %10s  %5s  %10s  %10s\n",
		"binding", "via", "calls", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "front µs/op", "cores", "agent µs/op", "client µs/op")
	for _, res := range r.Results {
		front, cores, agent := "n/a", "n/a", "n/a"
		if res.CPURead {
			front, cores, agent = fmt.Sprintf("%.0f", res.FrontCPUPerCallUs), fmt.Sprintf("%.2f", res.FrontCores), fmt.Sprintf("%.0f", res.AgentCPUPerCallUs)
		}
		fmt.Fprintf(w, "%-7s  %-5s  %8d  %7.0f  %7.2f  %7.2f  %7.2f  %6d  %10s  %5s  %10s  %10.0f\n",
			res.Binding, res.Via, res.Calls, res.RPS, res.P50Ms, res.P99Ms, res.MaxMs, res.Errors, front, cores, agent, res.ClientCPUPerCallUs)
	}
	fmt.Fprintln(w)
	for _, c := range r.Comparisons {
		verdict := "met"
		if !c.Met {
			verdict = "NOT met"
		}
		fmt.Fprintf(w, "%-7s CPU per call relay/proxy = %.0f/%.0f µs = %.2f (target <= %.0f: %s); p50 %.2f/%.2f ms, p99 %.2f/%.2f ms, %.0f/%.0f req/s\n",
			c.Binding, c.RelayCPUPerCallUs, c.ProxyCPUPerCallUs, c.CPURatio, c.Target, verdict,
			c.RelayP50Ms, c.ProxyP50Ms, c.RelayP99Ms, c.ProxyP99Ms, c.RelayRPS, c.ProxyRPS)
	}
	recorded := "all recorded"
	if !r.AllRecorded {
		recorded = "NOT all recorded"
	}
	fmt.Fprintf(w, "relayed calls %d (failed %d), relayed tasks recorded in the store %d: %s; relay warnings: %d\n",
		r.RelayedCalls, r.RelayedFailed, r.RelayedTasksRecorded, recorded, r.RelayWarnings)
	if r.FirstRelayWarning != "" {
		fmt.Fprintf(w, "first relay warning: %s\n", r.FirstRelayWarning)
	}
	for _, res := range r.Results {
		if res.FirstError != "" {
			fmt.Fprintf(w, "%s via %s: %d errors, first: %s\n", res.Binding, res.Via, res.Errors, res.FirstError)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(r.Profiles)) {
		fmt.Fprintf(w, "CPU profile of %s: %s\n", name, r.Profiles[name])
	}
}

// target is a binding through the proxy or the relay, and its clients.
type target struct {
	binding, via string
	iface        *a2a.AgentInterface
	front        *server
	clients      []*a2aclient.Client
	// ok and failed count every call, warm-ups included.
	ok, failed atomic.Int64
}

// Run starts the agent, the proxy and the gateway, and measures
// SendMessage in each binding through the proxy and through the relay,
// in turns.
func Run(ctx context.Context, cfg Config) (rep *Report, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	env, err := setup(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := env.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()

	// One HTTP client for all the benchmark's HTTP clients, keeping a
	// connection per client and target alive.
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: cfg.Clients + 4,
		IdleConnTimeout:     90 * time.Second,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}

	rep = &Report{
		Clients: cfg.Clients, Duration: cfg.Duration.String(), Warmup: cfg.Warmup.String(), Rounds: cfg.Rounds,
		Answer: cfg.Answer, Machine: cli.ThisMachine(sdkVersion()), Skipped: map[string]string{},
	}
	targets, err := makeTargets(ctx, &cfg, env, hc, rep)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, t := range targets {
			for _, c := range t.clients {
				_ = c.Destroy()
			}
		}
	}()

	if cfg.ServerCPUProfile != "" {
		rep.Profiles = map[string]string{}
		for _, s := range env.servers() {
			if err := s.proc.Send(child.MsgStartProfile); err != nil {
				return nil, fmt.Errorf("%s: start its CPU profile: %w", s.name, err)
			}
			rep.Profiles[s.name] = cfg.profilePath(s.name)
		}
	}
	env.markLoad()
	load0 := proc.LoadAvg()
	if cfg.Warmup > 0 {
		for _, t := range targets {
			cfg.progress("%s via %s: warm-up %s", t.binding, t.via, cfg.Warmup)
			loop(ctx, &cfg, t, cfg.Warmup)
		}
	}
	accs := make([]measured, len(targets))
	for r := range cfg.Rounds {
		for i, t := range targets {
			accs[i].add(ctx, &cfg, env, t, cfg.Duration/time.Duration(cfg.Rounds))
		}
		cfg.progress("round %d of %d done", r+1, cfg.Rounds)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	if load0 != "" {
		rep.LoadAvg = []string{load0, proc.LoadAvg()}
	}
	for i, t := range targets {
		res := accs[i].result()
		res.Binding, res.Via, res.URL, res.Tenant = t.binding, t.via, t.iface.URL, t.iface.Tenant
		cfg.progress("%s via %s: %d calls, %.0f req/s, p50 %.2f ms, p99 %.2f ms, %s %.0f µs/call, %d errors",
			res.Binding, res.Via, res.Calls, res.RPS, res.P50Ms, res.P99Ms, t.front.name, res.FrontCPUPerCallUs, res.Errors)
		rep.Results = append(rep.Results, res)
		if t.via == ViaRelay {
			rep.RelayedCalls += t.ok.Load()
			rep.RelayedFailed += t.failed.Load()
		}
	}
	rep.Comparisons = compare(rep.Results)

	if rep.RelayWarnings, rep.FirstRelayWarning, err = env.loadWarnings(); err != nil {
		return nil, fmt.Errorf("read the gateway's log: %w", err)
	}
	// Stopping the gateway records every relayed task still queued.
	if err := env.stopGateway(); err != nil {
		return nil, fmt.Errorf("stop the gateway: %w", err)
	}
	if rep.RelayedTasksRecorded, err = env.recordedTasks(ctx); err != nil {
		return nil, fmt.Errorf("count the relayed tasks: %w", err)
	}
	if cfg.Answer == AnswerTask {
		// A failed call may or may not have left its task behind.
		rep.AllRecorded = rep.RelayedTasksRecorded >= rep.RelayedCalls && rep.RelayedTasksRecorded <= rep.RelayedCalls+rep.RelayedFailed
	} else {
		rep.AllRecorded = rep.RelayedTasksRecorded == 0
	}
	return rep, nil
}

// makeTargets reads the interfaces of each binding from the cards as a
// caller gets them (the relay's rewritten one, and the agent's own with
// the proxy's addresses in place of the agent's) and opens the clients.
func makeTargets(ctx context.Context, cfg *Config, env *env, hc *http.Client, rep *Report) ([]*target, error) {
	relayed, err := agentcard.NewResolver(hc).Resolve(ctx, env.relayCardURL)
	if err != nil {
		return nil, fmt.Errorf("resolve the relayed card at %s: %w", env.relayCardURL, err)
	}
	own, err := agentcard.NewResolver(hc).Resolve(ctx, env.agentURL)
	if err != nil {
		return nil, fmt.Errorf("resolve the agent's card at %s: %w", env.agentURL, err)
	}
	var targets []*target
	for _, b := range cfg.Bindings {
		ri := find(relayed.SupportedInterfaces, protocolBinding[b])
		if ri == nil {
			rep.Skipped[b] = "the relayed card lists no A2A 1.0 " + string(protocolBinding[b]) + " interface"
			cfg.progress("%s: skipped, %s", b, rep.Skipped[b])
			continue
		}
		ai := find(own.SupportedInterfaces, protocolBinding[b])
		if ai == nil {
			return nil, fmt.Errorf("the agent's card lists no A2A 1.0 %s interface", protocolBinding[b])
		}
		pi := *ai
		if b == BindingGRPC {
			pi.URL = strings.Replace(pi.URL, env.agentGRPC, env.proxyGRPC, 1)
		} else {
			pi.URL = strings.Replace(pi.URL, env.agentURL, env.proxyURL, 1)
		}
		if pi.URL == ai.URL {
			return nil, fmt.Errorf("the agent's %s interface %s is not at the address it reported", b, ai.URL)
		}
		rep.Bindings = append(rep.Bindings, b)
		for _, t := range []*target{
			{binding: b, via: ViaProxy, iface: &pi, front: env.proxy},
			{binding: b, via: ViaRelay, iface: ri, front: env.parley},
		} {
			for range cfg.Clients {
				c, err := a2aclient.NewFromEndpoints(ctx, []*a2a.AgentInterface{t.iface},
					a2aclient.WithJSONRPCTransport(hc), a2aclient.WithRESTTransport(hc),
					a2agrpc.WithGRPCTransport(grpc.WithTransportCredentials(insecure.NewCredentials())))
				if err != nil {
					return nil, fmt.Errorf("%s via %s: client: %w", b, t.via, err)
				}
				t.clients = append(t.clients, c)
			}
			// One call first, so that a target that cannot answer fails the
			// run at once, with its error.
			if err := sendOne(ctx, cfg, t.clients[0]); err != nil {
				return nil, fmt.Errorf("%s via %s at %s: %w", b, t.via, t.iface.URL, err)
			}
			t.ok.Add(1)
			cfg.progress("%s via %s: %s (tenant %q)", b, t.via, t.iface.URL, t.iface.Tenant)
			targets = append(targets, t)
		}
	}
	if len(targets) == 0 {
		return nil, errors.New("no binding to measure")
	}
	return targets, nil
}

// find is the first A2A 1.0 interface of binding b.
func find(ifaces []*a2a.AgentInterface, b a2a.TransportProtocol) *a2a.AgentInterface {
	for _, i := range ifaces {
		if strings.EqualFold(string(i.ProtocolBinding), string(b)) && (i.ProtocolVersion == a2a.Version || i.ProtocolVersion == "") {
			return i
		}
	}
	return nil
}

// compare sets each binding's relayed calls beside its proxied ones.
func compare(results []Result) []Comparison {
	var out []Comparison
	for _, r := range results {
		if r.Via != ViaRelay {
			continue
		}
		for _, p := range results {
			if p.Via != ViaProxy || p.Binding != r.Binding {
				continue
			}
			c := Comparison{Binding: r.Binding, Target: TargetCPURatio,
				RelayCPUPerCallUs: r.FrontCPUPerCallUs, ProxyCPUPerCallUs: p.FrontCPUPerCallUs,
				RelayP50Ms: r.P50Ms, ProxyP50Ms: p.P50Ms, RelayP99Ms: r.P99Ms, ProxyP99Ms: p.P99Ms,
				RelayRPS: r.RPS, ProxyRPS: p.RPS}
			if r.CPURead && p.FrontCPUPerCallUs > 0 {
				c.CPURatio = r.FrontCPUPerCallUs / p.FrontCPUPerCallUs
				c.Met = c.CPURatio <= TargetCPURatio
			}
			out = append(out, c)
		}
	}
	return out
}

// measured accumulates a target's rounds.
type measured struct {
	latencies  []time.Duration
	errors     int64
	firstError string
	wall       time.Duration
	frontCPU   time.Duration
	agentCPU   time.Duration
	clientCPU  time.Duration
	cpuRead    bool
	cpuFailed  bool
}

// add measures one round of t for d, reading the front process's and the
// agent's CPU times from /proc before and after.
func (m *measured) add(ctx context.Context, cfg *Config, env *env, t *target, d time.Duration) {
	f0, ferr := proc.CPU(t.front.proc.Pid)
	a0, aerr := proc.CPU(env.agent.proc.Pid)
	c0 := proc.Self()
	p := loop(ctx, cfg, t, d)
	m.clientCPU += proc.Self() - c0
	f1, ferr1 := proc.CPU(t.front.proc.Pid)
	a1, aerr1 := proc.CPU(env.agent.proc.Pid)
	if errors.Join(ferr, aerr, ferr1, aerr1) == nil {
		m.frontCPU += f1 - f0
		m.agentCPU += a1 - a0
		m.cpuRead = true
	} else {
		m.cpuFailed = true
	}
	m.latencies = append(m.latencies, p.latencies...)
	m.errors += p.errors
	if m.firstError == "" {
		m.firstError = p.firstError
	}
	m.wall += p.wall
}

// result summarises the rounds.
func (m *measured) result() Result {
	n := int64(len(m.latencies))
	res := Result{Calls: n + m.errors, Errors: m.errors, FirstError: m.firstError, Seconds: m.wall.Seconds()}
	if m.wall > 0 {
		res.RPS = float64(n) / m.wall.Seconds()
	}
	if n == 0 {
		return res
	}
	l := stats.Summarise(m.latencies)
	res.P50Ms, res.P90Ms, res.P99Ms, res.MaxMs = l.P50Ms, l.P90Ms, l.P99Ms, l.MaxMs
	perCall := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(res.Calls) }
	res.ClientCPUPerCallUs = perCall(m.clientCPU)
	if m.cpuRead && !m.cpuFailed {
		res.CPURead = true
		res.FrontCPUPerCallUs = perCall(m.frontCPU)
		res.AgentCPUPerCallUs = perCall(m.agentCPU)
		if m.wall > 0 {
			res.FrontCores = m.frontCPU.Seconds() / m.wall.Seconds()
		}
	}
	return res
}

// loop has every client of t send in a loop, one call at a time, until d
// has passed (calls in flight then are finished and counted).
func loop(ctx context.Context, cfg *Config, t *target, d time.Duration) *measured {
	var (
		mu       sync.Mutex
		all      = &measured{}
		errs     atomic.Int64
		firstErr atomic.Pointer[string]
		wg       sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(d)
	for _, c := range t.clients {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 1024)
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					break
				}
				if err := sendOne(ctx, cfg, c); err != nil {
					t.failed.Add(1)
					if errs.Add(1) == 1 {
						s := err.Error()
						firstErr.Store(&s)
					}
					continue
				}
				t.ok.Add(1)
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all.latencies = append(all.latencies, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	all.wall = time.Since(start)
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
	res, err := c.SendMessage(ctx, &a2a.SendMessageRequest{
		Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart("ping")),
	})
	if err != nil {
		return err
	}
	switch r := res.(type) {
	case *a2a.Task:
		if cfg.Answer != AnswerTask || r.Status.State != a2a.TaskStateCompleted {
			return fmt.Errorf("answered a task in state %s, want a %s", r.Status.State, cfg.Answer)
		}
	case *a2a.Message:
		if cfg.Answer != AnswerMessage || len(r.Parts) != 1 {
			return fmt.Errorf("answered a message of %d parts, want a %s", len(r.Parts), cfg.Answer)
		}
	default:
		return fmt.Errorf("answered a %T", res)
	}
	return nil
}

// sdkVersion is the a2a-go version this binary was built with.
func sdkVersion() string {
	if v := cli.ModuleVersion("github.com/a2aproject/a2a-go/v2"); v != "" {
		return "a2a-go " + v
	}
	return "a2a-go (version unknown)"
}
