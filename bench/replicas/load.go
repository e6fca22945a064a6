package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/bench/internal/child"
	"github.com/parleyhq/parley/bench/internal/cli"
	"github.com/parleyhq/parley/bench/internal/mcpclient"
	"github.com/parleyhq/parley/bench/internal/proc"
)

// Config is a run.
type Config struct {
	Clients     int
	Duration    time.Duration // each slice's measured time in all
	Warmup      time.Duration // before each slice, not measured
	Rounds      int
	CallTimeout time.Duration
	// Requests, if positive, measures this many calls per slice instead of
	// a duration.
	Requests int
	Tickets  int
	// PostgresURL, if set, is the store both replicas share; otherwise a
	// fresh SQLite file.
	PostgresURL string
	// IdleSessions, if positive, opens this many idle sessions through the
	// balancer at the end and reports the replicas' RSS.
	IdleSessions int
	// Slices are the slices measured, by name (nil: all four).
	Slices []string
	// Rebuilds, if positive, measures the rebuild of this many sessions
	// opened on a, on b (their first request there).
	Rebuilds int
	// NoLoad skips the get_ticket slices (with IdleSessions: the idle
	// measurement alone).
	NoLoad bool
	// Nginx is the nginx binary ("": /usr/sbin/nginx); Keepalive the idle
	// connections its worker keeps to the gateways (0: a connection per
	// request, nginx's default).
	Nginx     string
	Keepalive int
	// ServerLog, if set, is a directory for the gateways' logs;
	// ServerCPUProfile a prefix for their CPU profiles.
	ServerLog        string
	ServerCPUProfile string

	Progress io.Writer // progress lines; nil: none
	Stderr   io.Writer // the children's stderr; nil: os.Stderr
}

// defaultNginx is Debian's nginx.
const defaultNginx = "/usr/sbin/nginx"

// validate checks c, filling in the defaults of its zero fields: the nginx
// binary, a 10 s call timeout and every slice.
func (c *Config) validate() error {
	if c.Nginx == "" {
		c.Nginx = defaultNginx
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = 10 * time.Second
	}
	switch {
	case c.Clients < 1:
		return fmt.Errorf("-clients %d: want at least 1", c.Clients)
	case c.Rounds < 1:
		return fmt.Errorf("-rounds %d: want at least 1", c.Rounds)
	case c.Requests == 0 && c.Duration <= 0:
		return fmt.Errorf("-duration %s: want a positive duration", c.Duration)
	case c.Requests < 0 || c.Warmup < 0 || c.CallTimeout < 0:
		return errors.New("-requests, -warmup and -call-timeout must not be negative")
	case c.Tickets < 1:
		return fmt.Errorf("-tickets %d: want at least 1", c.Tickets)
	case c.IdleSessions < 0 || c.Keepalive < 0 || c.Rebuilds < 0:
		return errors.New("-idle-sessions, -rebuilds and -nginx-keepalive must not be negative")
	case c.NoLoad && c.IdleSessions == 0 && c.Rebuilds == 0:
		return errors.New("-load=false without -idle-sessions or -rebuilds: nothing to measure")
	}
	if c.Slices == nil {
		c.Slices = allSlices
	}
	for _, name := range c.Slices {
		if !slices.Contains(allSlices, name) {
			return fmt.Errorf("-slices: no slice %q (want some of %s)", name, strings.Join(allSlices, ","))
		}
	}
	return nil
}

func (c *Config) progress(format string, args ...any) {
	cli.Progressf(c.Progress, "replicas", format, args...)
}

// The slices, in the order each round takes them.
const (
	sliceDirect   = "direct"    // the clients on gateway a, no balancer
	sliceSplit    = "split"     // half the clients on a, half on b, directly: two replicas, no session crossing
	sliceNginxOne = "nginx-one" // through nginx, in front of gateway a alone
	sliceBalanced = "balanced"  // through nginx over a and b; sessions opened wherever nginx sends them
	slicePinned   = "pinned"    // sessions opened on a directly, every later request through nginx over a and b
)

var allSlices = []string{sliceDirect, sliceSplit, sliceNginxOne, sliceBalanced, slicePinned}

var sliceDescriptions = map[string]string{
	sliceDirect:   "the clients on gateway a directly: every request lands on the opener",
	sliceSplit:    "half the clients on a, half on b, directly: two replicas sharing the load and the store, every request on its session's opener",
	sliceNginxOne: "through nginx in front of gateway a alone: the balancer's hop, every request on the opener",
	sliceBalanced: "through nginx round robin over a and b, sessions opened through it: half of a session's requests land on the replica that did not open it",
	slicePinned:   "sessions opened on a directly, calls through nginx over a and b: a is every session's opener, b never is (the split)",
}

// Report is what a run measured.
type Report struct {
	cli.Machine
	Clients   int      `json:"clients"`
	Duration  string   `json:"duration,omitempty"`
	Requests  int      `json:"requests,omitempty"`
	Warmup    string   `json:"warmup"`
	Rounds    int      `json:"rounds"`
	Store     string   `json:"store"`
	Tickets   int      `json:"tickets"`
	Keepalive int      `json:"nginx_keepalive"`
	Nginx     string   `json:"nginx"`
	Replicas  []string `json:"replicas"` // their /mcp URLs, a then b
	Slices    []Slice  `json:"slices,omitempty"`
	// Ratios of the gateways' CPU per call.
	Ratios   []Ratio   `json:"ratios,omitempty"`
	Rebuilds *Rebuilds `json:"rebuilds,omitempty"`
	Idle     *Idle     `json:"idle,omitempty"`
	// LoadAvg is the machine's load average before and after.
	LoadAvg []string `json:"load_avg,omitempty"`
}

// Slice is one way of reaching the gateways, measured over every round.
type Slice struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Protocol    string `json:"protocol"`
	mcpclient.Outcome
	// GatewayCPUPerCallUs is the CPU time of the gateways (a alone for
	// direct and nginx-one; a + b otherwise) over the calls made.
	GatewayCPUPerCallUs float64 `json:"gateway_cpu_per_call_us"`
	// PerReplica splits it: each replica's CPU over the calls it answered.
	PerReplica []ReplicaShare `json:"per_replica"`
	// BalancerCPUPerCallUs is nginx's (master and worker), apart; 0 for
	// direct.
	BalancerCPUPerCallUs float64 `json:"balancer_cpu_per_call_us"`
	ClientCPUPerCallUs   float64 `json:"client_cpu_per_call_us"`
}

// ReplicaShare is one replica's part of a slice.
type ReplicaShare struct {
	Replica string `json:"replica"`
	// Opened is how many of the slice's sessions it opened.
	Opened       int64   `json:"opened"`
	Calls        int64   `json:"calls"` // answered, as counted by the clients (X-Upstream)
	CPUSeconds   float64 `json:"cpu_seconds"`
	CPUPerCallUs float64 `json:"cpu_per_call_us"`
}

// Ratio is one comparison of CPU per call.
type Ratio struct {
	What   string  `json:"what"`
	Of     float64 `json:"of_us"`
	Over   float64 `json:"over_us"`
	Ratio  float64 `json:"ratio"`
	Target float64 `json:"target,omitempty"`
}

// TargetNonOpener is the bar: a request on a replica that did not
// open the session costs at most 1.2× one on the opener.
const TargetNonOpener = 1.2

// Errors counts the failed calls and idle sessions.
func (r *Report) Errors() int64 {
	var n int64
	for _, s := range r.Slices {
		n += s.Errors
	}
	if r.Idle != nil {
		n += r.Idle.Errors
	}
	if r.Rebuilds != nil {
		n += r.Rebuilds.Errors
	}
	return n
}

// env is what a run set up.
type env struct {
	dir      string
	replicas []*replica
	lb       *balancer
	ids      []string
	clients  []*http.Transport
}

func (e *env) close() error {
	var errs []error
	for _, tr := range e.clients {
		tr.CloseIdleConnections()
	}
	if e.lb != nil {
		errs = append(errs, e.lb.stop())
	}
	errs = append(errs, stopReplicas(e.replicas))
	if e.dir != "" {
		errs = append(errs, os.RemoveAll(e.dir))
	}
	return errors.Join(errs...)
}

func (e *env) hosts() []string {
	return []string{e.replicas[0].host, e.replicas[1].host}
}

// httpClient is a client's HTTP client with a pool of its own, counting
// into count; openAt as counting's.
func (e *env) httpClient(count *landings, openAt, sendTo string) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 8
	e.clients = append(e.clients, tr)
	return &http.Client{Transport: &counting{next: tr, count: count, openAt: openAt, sendTo: sendTo}}
}

// Run starts two gateways on one store and nginx in front of them, seeds
// tickets, measures the slices in rotation and, with IdleSessions, the
// idle sessions.
func Run(ctx context.Context, cfg Config) (_ *Report, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e := &env{ids: ticketIDs(cfg.Tickets)}
	defer func() {
		if cerr := e.close(); cerr != nil && err == nil {
			err = fmt.Errorf("stopping: %w", cerr)
		}
	}()
	if e.dir, err = os.MkdirTemp("", "replicas-*"); err != nil {
		return nil, err
	}
	storeURL, storeName := cfg.PostgresURL, "postgres"
	if storeURL == "" {
		storeURL, storeName = "sqlite://"+filepath.Join(e.dir, "parley.db"), "sqlite (one file, both processes)"
	}
	if e.replicas, err = startReplicas(ctx, &cfg, storeURL, e.dir); err != nil {
		return nil, err
	}
	if e.lb, err = startNginx(ctx, cfg.Nginx, e.dir, e.hosts(), cfg.Keepalive); err != nil {
		return nil, err
	}
	cfg.progress("nginx (pid %d): %s over a, %s over a and b", e.lb.cmd.Process.Pid, e.lb.one, e.lb.two)
	cfg.progress("seeding %d tickets over MCP on a", cfg.Tickets)
	if err := seed(ctx, &cfg, e); err != nil {
		return nil, err
	}
	if cfg.ServerCPUProfile != "" {
		for _, r := range e.replicas {
			if err := r.proc.Send(child.MsgStartProfile); err != nil {
				return nil, err
			}
		}
	}
	rep := &Report{
		Machine: cli.ThisMachine(mcpclient.SDKVersion()),
		Clients: cfg.Clients, Requests: cfg.Requests, Warmup: cfg.Warmup.String(), Rounds: cfg.Rounds,
		Store: storeName, Tickets: cfg.Tickets, Keepalive: cfg.Keepalive, Nginx: nginxVersion(cfg.Nginx),
		Replicas: []string{e.replicas[0].url, e.replicas[1].url},
	}
	if cfg.Requests == 0 {
		rep.Duration = cfg.Duration.String()
	}
	load0 := proc.LoadAvg()
	if !cfg.NoLoad {
		if rep.Slices, err = runSlices(ctx, &cfg, e); err != nil {
			return nil, err
		}
		rep.Ratios = ratios(rep.Slices)
	}
	if cfg.Rebuilds > 0 {
		cfg.progress("opening %d sessions on a, then a request of each on b, twice", cfg.Rebuilds)
		if rep.Rebuilds, err = measureRebuilds(ctx, &cfg, e, cfg.Rebuilds); err != nil {
			return nil, err
		}
	}
	if cfg.IdleSessions > 0 {
		cfg.progress("opening %d idle sessions through nginx over a and b", cfg.IdleSessions)
		if rep.Idle, err = idleSessions(ctx, &cfg, e); err != nil {
			return nil, err
		}
	}
	if load0 != "" {
		rep.LoadAvg = []string{load0, proc.LoadAvg()}
	}
	return rep, nil
}

// slice is a slice being measured: its clients and what it adds up.
type slice struct {
	name     string
	sessions []*mcp.ClientSession
	count    *landings
	// measured: a alone (1), or a and b (2); the CPU time of both is
	// read, to show the background of the replica left idle.
	measured int
	viaNginx bool

	phase     mcpclient.Phase
	cpu       []time.Duration // per replica, a and b
	calls     []int64         // per replica, a and b
	nginxCPU  time.Duration
	clientCPU time.Duration
	cpuKnown  bool
}

// runSlices connects each slice's clients, warms each up, then measures
// them in rotation, round after round.
func runSlices(ctx context.Context, cfg *Config, e *env) ([]Slice, error) {
	a := e.replicas[0]
	defs := []struct {
		name     string
		url      string
		openAt   string
		split    bool // client i on replica i%2, directly
		measured int
	}{
		{sliceDirect, a.url, "", false, 1},
		{sliceSplit, a.url, "", true, 2},
		{sliceNginxOne, e.lb.one + "/mcp", "", false, 1},
		{sliceBalanced, e.lb.two + "/mcp", "", false, 2},
		{slicePinned, e.lb.two + "/mcp", a.host, false, 2},
	}
	var all []*slice
	defer func() {
		for _, s := range all {
			mcpclient.CloseAll(s.sessions)
		}
	}()
	for _, d := range defs {
		if !slices.Contains(cfg.Slices, d.name) {
			continue
		}
		s := &slice{name: d.name, measured: d.measured, viaNginx: d.url != a.url,
			count: newLandings(e.hosts()), cpu: make([]time.Duration, 2), calls: make([]int64, 2)}
		css, err := mcpclient.ConnectClients(ctx, mcpclient.Target{
			Name: d.name, URL: d.url,
			HTTPClient: func(i int) (*http.Client, error) {
				sendTo := ""
				if d.split {
					sendTo = e.replicas[i%2].host
				}
				return e.httpClient(s.count, d.openAt, sendTo), nil
			},
			ClientName: func(i int) string { return fmt.Sprintf("replicas-%s-%d", d.name, i) },
		}, mcpclient.ModeSession, cfg.Clients, cfg.CallTimeout)
		if err != nil {
			return nil, fmt.Errorf("%s: connect %d clients: %w", d.name, cfg.Clients, err)
		}
		s.sessions = css
		all = append(all, s)
	}
	// The warm-up also has every session of balanced and pinned served
	// once by the replica that did not open it, which rebuilds the session
	// there (its first request only): the rounds measure requests on
	// sessions both replicas hold, as a long-lived session's are.
	if cfg.Warmup > 0 {
		for _, s := range all {
			cfg.progress("%s: warm-up %s", s.name, cfg.Warmup)
			if _, err := s.loop(ctx, cfg, e, cfg.Warmup, 0); err != nil {
				return nil, err
			}
		}
	}
	for r := range cfg.Rounds {
		for _, s := range all {
			var total int64
			if cfg.Requests > 0 {
				n := int64(cfg.Requests)
				if total = n*int64(r+1)/int64(cfg.Rounds) - n*int64(r)/int64(cfg.Rounds); total == 0 {
					continue
				}
			}
			if err := s.measure(ctx, cfg, e, cfg.Duration/time.Duration(cfg.Rounds), total); err != nil {
				return nil, err
			}
		}
		cfg.progress("round %d of %d done", r+1, cfg.Rounds)
	}
	out := make([]Slice, len(all))
	for i, s := range all {
		out[i] = s.result(e)
		cfg.progress("%s: %d calls, %.0f req/s, p50 %.2f ms, p99 %.2f ms, gateways %.0f µs/call, nginx %.0f µs/call, %d errors",
			s.name, out[i].Calls, out[i].RPS, out[i].P50Ms, out[i].P99Ms, out[i].GatewayCPUPerCallUs, out[i].BalancerCPUPerCallUs, out[i].Errors)
	}
	return out, nil
}

func (s *slice) loop(ctx context.Context, cfg *Config, e *env, d time.Duration, total int64) (mcpclient.Phase, error) {
	l := mcpclient.Loop{
		Name: s.name + " get_ticket", Target: s.name, Sessions: s.sessions,
		Call: getTicket(e.ids), CallTimeout: cfg.CallTimeout, Duration: d, Total: total,
	}
	return l.Run(ctx)
}

// measure runs one round of s, reading the CPU time of its replicas and of
// nginx, and the calls each replica answered, around it.
func (s *slice) measure(ctx context.Context, cfg *Config, e *env, d time.Duration, total int64) error {
	cpu0, err0 := readCPU(e.replicas)
	n0, _ := e.lb.cpu()
	land0 := s.count.snapshot()
	c0 := proc.Self()
	p, err := s.loop(ctx, cfg, e, d, total)
	if err != nil {
		return err
	}
	s.clientCPU += proc.Self() - c0
	land1 := s.count.snapshot()
	n1, _ := e.lb.cpu()
	cpu1, err1 := readCPU(e.replicas)
	if err0 == nil && err1 == nil {
		for i := range e.replicas {
			s.cpu[i] += cpu1[i] - cpu0[i]
			s.calls[i] += land1[i] - land0[i]
		}
		s.cpuKnown = true
	}
	if s.viaNginx {
		s.nginxCPU += n1 - n0
	}
	s.phase.Add(p)
	return nil
}

func readCPU(rs []*replica) ([]time.Duration, error) {
	out := make([]time.Duration, len(rs))
	for i, r := range rs {
		var err error
		if out[i], err = proc.CPU(r.proc.Pid); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *slice) result(e *env) Slice {
	res := Slice{Name: s.name, Description: sliceDescriptions[s.name], Outcome: s.phase.Outcome(),
		Protocol: s.sessions[0].InitializeResult().ProtocolVersion}
	if res.Calls == 0 {
		return res
	}
	perCall := func(d time.Duration, n int64) float64 {
		if n == 0 {
			return 0
		}
		return float64(d.Microseconds()) / float64(n)
	}
	if s.cpuKnown {
		var sum time.Duration
		opened := s.count.openedBy()
		for i, r := range e.replicas {
			if i < s.measured {
				sum += s.cpu[i]
			}
			res.PerReplica = append(res.PerReplica, ReplicaShare{Replica: r.name, Opened: opened[i], Calls: s.calls[i],
				CPUSeconds: s.cpu[i].Seconds(), CPUPerCallUs: perCall(s.cpu[i], s.calls[i])})
		}
		res.GatewayCPUPerCallUs = perCall(sum, res.Calls)
	}
	res.BalancerCPUPerCallUs = perCall(s.nginxCPU, res.Calls)
	res.ClientCPUPerCallUs = perCall(s.clientCPU, res.Calls)
	return res
}

// ratios are the figures the issue asks for: balanced over direct (the
// whole cost of two replicas behind a balancer), balanced over nginx-one
// (the same without the balancer's hop), and the split: a request on the
// replica that did not open its session (b in pinned) over one on the
// opener (a in pinned).
func ratios(slices []Slice) []Ratio {
	by := map[string]Slice{}
	for _, s := range slices {
		by[s.Name] = s
	}
	var out []Ratio
	add := func(what string, of, over float64, target float64) {
		if of > 0 && over > 0 {
			out = append(out, Ratio{What: what, Of: of, Over: over, Ratio: of / over, Target: target})
		}
	}
	add("balanced ÷ direct (gateways' CPU per call)", by[sliceBalanced].GatewayCPUPerCallUs, by[sliceDirect].GatewayCPUPerCallUs, 0)
	add("split ÷ direct (gateways' CPU per call)", by[sliceSplit].GatewayCPUPerCallUs, by[sliceDirect].GatewayCPUPerCallUs, 0)
	add("balanced ÷ split (gateways' CPU per call)", by[sliceBalanced].GatewayCPUPerCallUs, by[sliceSplit].GatewayCPUPerCallUs, 0)
	add("balanced ÷ nginx-one (gateways' CPU per call)", by[sliceBalanced].GatewayCPUPerCallUs, by[sliceNginxOne].GatewayCPUPerCallUs, 0)
	add("nginx-one ÷ direct (gateway's CPU per call)", by[sliceNginxOne].GatewayCPUPerCallUs, by[sliceDirect].GatewayCPUPerCallUs, 0)
	if p := by[slicePinned].PerReplica; len(p) == 2 {
		add("pinned: non-opener (b) ÷ opener (a), CPU per call each answered", p[1].CPUPerCallUs, p[0].CPUPerCallUs, TargetNonOpener)
	}
	return out
}

// getTicket reads a random seeded ticket and checks that it got that one.
func getTicket(ids []string) mcpclient.Call {
	return func(ctx context.Context, cs *mcp.ClientSession, _, _ int, rng *rand.Rand) error {
		id := ids[rng.IntN(len(ids))]
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_ticket", Arguments: map[string]string{"ticket_id": id}})
		if err != nil {
			return err
		}
		if res.IsError {
			return fmt.Errorf("tool error: %s", mcpclient.ResultText(res))
		}
		m, _ := res.StructuredContent.(map[string]any)
		if got := m["id"]; got != id {
			return fmt.Errorf("asked for ticket %s, got %v", id, got)
		}
		return nil
	}
}
