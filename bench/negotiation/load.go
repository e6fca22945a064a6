package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/bench/internal/cli"
	"github.com/parleyhq/parley/bench/internal/proc"
	bstats "github.com/parleyhq/parley/bench/internal/stats"
)

// Config is one run.
type Config struct {
	// N negotiations are run one after the other for the latency figures;
	// 0 skips that phase.
	N int
	// Inflight negotiations are kept in flight for Duration for the
	// throughput figures; Duration 0 skips that phase.
	Inflight int
	Duration time.Duration
	// Warmup runs each phase unmeasured for this long first (the latency
	// phase runs at least one negotiation).
	Warmup time.Duration
	// RoundsCheck is the number of rounds every negotiation must end
	// with, agreed; 0 checks only that it is agreed on 275.
	RoundsCheck int
	// Store is StoreSQLite (default) or StorePostgres at PostgresURL.
	Store       string
	PostgresURL string
	// Think is the agents' think time per move.
	Think time.Duration
	// What-if experiments, off by default (Parley as serve.go wires it):
	// Timeout bounds one negotiation. Default 1m.
	Timeout time.Duration
	// Progress, if set, receives a line per step.
	Progress io.Writer
}

func (c *Config) validate() error {
	if c.N < 0 || c.N > 1_000_000 {
		return fmt.Errorf("-n %d: want 0 to 1000000", c.N)
	}
	if c.Duration < 0 || c.Duration > time.Hour {
		return fmt.Errorf("-duration %s: want 0 to 1h", c.Duration)
	}
	if c.Duration > 0 && (c.Inflight < 1 || c.Inflight > 10_000) {
		return fmt.Errorf("-inflight %d: want 1 to 10000", c.Inflight)
	}
	if c.N == 0 && c.Duration == 0 {
		return fmt.Errorf("-n 0 and -duration 0: nothing to measure")
	}
	if c.Warmup < 0 || c.Warmup > 10*time.Minute {
		return fmt.Errorf("-warmup %s: want 0 to 10m", c.Warmup)
	}
	if c.RoundsCheck < 0 || c.RoundsCheck > 100 {
		return fmt.Errorf("-rounds-check %d: want 0 to 100", c.RoundsCheck)
	}
	switch c.Store {
	case "":
		c.Store = StoreSQLite
	case StoreSQLite:
		if c.PostgresURL != "" {
			return fmt.Errorf("-postgres-url needs -store postgres")
		}
	case StorePostgres:
		if c.PostgresURL == "" {
			return fmt.Errorf("-store postgres needs -postgres-url")
		}
	default:
		return fmt.Errorf("-store %q: want sqlite or postgres", c.Store)
	}
	if c.Think < 0 || c.Think > time.Minute {
		return fmt.Errorf("-think %s: want 0 to 1m", c.Think)
	}
	if c.Timeout == 0 {
		c.Timeout = time.Minute
	}
	if c.Timeout < 0 {
		return fmt.Errorf("-timeout %s: want a positive duration", c.Timeout)
	}
	return nil
}

func (c *Config) progress(format string, args ...any) {
	cli.Progressf(c.Progress, "negotiation", format, args...)
}

// Breakdown is where a negotiation's time went on average, in ms, from
// the times of its transcript (the engine's clock, this process's): the
// parts add up to its end-to-end time. A turn's transcript entry is made
// when the turn is built, just before it is persisted and sent.
type Breakdown struct {
	// Start: Service.Start (checks, the record created and audited, the
	// runner woken).
	StartMs float64 `json:"start_ms"`
	// FirstTurn: Start returned → the first turn built: the runner
	// claiming it, marking the ticket negotiating (a ticket write and a
	// record write), reading the ticket for the turn's snapshot.
	FirstTurnMs float64 `json:"first_turn_ms"`
	// SendPerTurn: a turn built → its reply received: persisting the turn,
	// the A2A round trip, the agent deciding. Mean per turn.
	SendPerTurnMs float64 `json:"send_per_turn_ms"`
	// BetweenTurns: a reply received → the next turn built: persisting
	// and auditing the move, reading the ticket. Mean per gap.
	BetweenTurnsMs float64 `json:"between_turns_ms"`
	// WriteBack: the last reply → done persisted: the outcome persisted,
	// the move audited, the ticket's approval written, done persisted.
	WriteBackMs float64 `json:"write_back_ms"`
	// Observe: done persisted → seen done by the tool (the commit, the
	// change feed, one read).
	ObserveMs float64 `json:"observe_ms"`
}

// Stats summarises a set of negotiations.
type Stats struct {
	Negotiations int64   `json:"negotiations"`
	P50Ms        float64 `json:"p50_ms"`
	P90Ms        float64 `json:"p90_ms"`
	P99Ms        float64 `json:"p99_ms"`
	MeanMs       float64 `json:"mean_ms"`
	MinMs        float64 `json:"min_ms"`
	MaxMs        float64 `json:"max_ms"`
	// PerTurnMs is MeanMs over the rounds of a negotiation.
	PerTurnMs float64   `json:"per_turn_ms"`
	Rounds    float64   `json:"rounds"`
	Breakdown Breakdown `json:"breakdown"`
	// WritesPerNegotiation: versions of the negotiation record (one per
	// write). ReadsPerNegotiation: the tool's reads while waiting.
	WritesPerNegotiation float64 `json:"writes_per_negotiation"`
	ReadsPerNegotiation  float64 `json:"reads_per_negotiation"`
	// RecordBytes: the stored state's size at the end (it is rewritten
	// whole on every write, transcript included).
	RecordBytes float64 `json:"record_bytes"`
	// Anomalies: retries, resends and invalid replies (0 in a clean run).
	Anomalies int64 `json:"anomalies"`
}

// Latency is the sequential phase.
type Latency struct {
	Stats
	Errors     int64   `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	Seconds    float64 `json:"seconds"`
	// CPUPerNegotiationMs is this process's CPU (user+system) per
	// negotiation: agents, engine, store, tool. 0 where not measured.
	CPUPerNegotiationMs  float64 `json:"cpu_per_negotiation_ms"`
	CPUCores             float64 `json:"cpu_cores"`
	AllocsPerNegotiation float64 `json:"allocs_per_negotiation"`
	AgentConns           int64   `json:"agent_conns"`
	// OthersCores: CPU other processes used meanwhile (-1: unknown);
	// PostgresCores: local PostgreSQL processes (-store postgres).
	OthersCores   float64 `json:"others_cores"`
	PostgresCores float64 `json:"postgres_cores,omitempty"`
}

// Throughput is the in-flight phase.
type Throughput struct {
	Inflight int     `json:"inflight"`
	Seconds  float64 `json:"seconds"`
	// Completed in the measured window, per second, and their turns.
	Completed            int64   `json:"completed"`
	PerSecond            float64 `json:"negotiations_per_second"`
	TurnsPerSecond       float64 `json:"turns_per_second"`
	Latency              Stats   `json:"latency"`
	Errors               int64   `json:"errors"`
	FirstError           string  `json:"first_error,omitempty"`
	CPUPerNegotiationMs  float64 `json:"cpu_per_negotiation_ms"`
	CPUCores             float64 `json:"cpu_cores"`
	AllocsPerNegotiation float64 `json:"allocs_per_negotiation"`
	// AgentConns: TCP connections the agents accepted in the window.
	AgentConns int64 `json:"agent_conns"`
	// OthersCores: CPU other processes used meanwhile (-1: unknown);
	// PostgresCores: local PostgreSQL processes (-store postgres).
	OthersCores   float64 `json:"others_cores"`
	PostgresCores float64 `json:"postgres_cores,omitempty"`
	// Started counts all negotiations of the phase (warm-up and drain
	// included); TicketsInline those whose ticket was created during the
	// phase because the ones made beforehand ran out.
	Started       int64 `json:"started"`
	TicketsInline int64 `json:"tickets_inline"`
}

// Report is a run's outcome.
type Report struct {
	Store       string   `json:"store"`
	Audit       bool     `json:"audit"`
	ThinkMs     float64  `json:"think_ms"`
	RoundsCheck int      `json:"rounds_check"`
	Warmup      string   `json:"warmup"`
	GoVersion   string   `json:"go_version"`
	Platform    string   `json:"platform"`
	NumCPU      int      `json:"num_cpu"`
	GOMAXPROCS  int      `json:"gomaxprocs"`
	LoadAvg     []string `json:"load_avg,omitempty"`
	// Experiments lists what-if settings in force; empty: as serve.go.
	Experiments []string    `json:"experiments,omitempty"`
	Latency     *Latency    `json:"latency,omitempty"`
	Throughput  *Throughput `json:"throughput,omitempty"`
	// Warnings counts log records at warning level or above from the
	// engine, the registry, the audit log, the store and the agents.
	Warnings     int64  `json:"warnings"`
	FirstWarning string `json:"first_warning,omitempty"`
}

// Errors counts the negotiations that failed or ended otherwise than
// expected, in both phases.
func (r *Report) Errors() int64 {
	var n int64
	if r.Latency != nil {
		n += r.Latency.Errors
	}
	if r.Throughput != nil {
		n += r.Throughput.Errors
	}
	return n
}

// Run starts the agents and the gateway's negotiation stack, and runs the
// latency phase, then the throughput phase.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e, err := setup(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	defer e.close()
	cfg.progress("store %s; agents billing at %s, escalation at %s", cfg.Store, e.agents[billing].url, e.agents[escalation].url)

	rep := &Report{Store: cfg.Store, Audit: true, ThinkMs: ms(cfg.Think), RoundsCheck: cfg.RoundsCheck,
		Warmup: cfg.Warmup.String(), GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
		NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0)}
	load0 := proc.LoadAvg()
	bench := pprof.Labels("role", "bench")
	pprof.Do(ctx, bench, func(ctx context.Context) {
		var cpuPerNeg time.Duration
		if cfg.N > 0 {
			if rep.Latency, err = e.latency(ctx); err != nil {
				return
			}
			cpuPerNeg = time.Duration(rep.Latency.CPUPerNegotiationMs * float64(time.Millisecond))
		}
		if cfg.Duration > 0 {
			rep.Throughput, err = e.throughput(ctx, cpuPerNeg)
		}
	})
	if err != nil {
		return nil, err
	}
	if load0 != "" {
		rep.LoadAvg = []string{load0, proc.LoadAvg()}
	}
	rep.Warnings, rep.FirstWarning = e.logs.Count(), e.logs.First()
	return rep, nil
}

// sample is the process's counters at one moment.
type sample struct {
	at      time.Time
	cpu     time.Duration
	mallocs uint64
	conns   int64
	// machine is the CPU time all processes have used (/proc/stat), 0
	// where unknown; postgres that of local PostgreSQL processes (-store
	// postgres only).
	machine  time.Duration
	postgres time.Duration
}

func (e *env) sample() sample {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s := sample{at: time.Now(), cpu: proc.Self(), mallocs: m.Mallocs, conns: e.agentConns(), machine: proc.Machine()}
	if e.cfg.Store == StorePostgres {
		s.postgres = proc.CommandCPU("postgres")
	}
	return s
}

// othersCores is the CPU other processes (local PostgreSQL apart) used
// between two samples, in cores (-1 where unknown): work on a shared
// machine that competed with the run.
func othersCores(s0, s1 sample) float64 {
	wall := s1.at.Sub(s0.at)
	if s0.machine == 0 || s1.machine == 0 || wall <= 0 {
		return -1
	}
	others := s1.machine - s0.machine - (s1.cpu - s0.cpu) - (s1.postgres - s0.postgres)
	return max(0, others.Seconds()/wall.Seconds())
}

// postgresCores is the CPU local PostgreSQL processes used between two
// samples, in cores.
func postgresCores(s0, s1 sample) float64 {
	wall := s1.at.Sub(s0.at)
	if wall <= 0 {
		return 0
	}
	return (s1.postgres - s0.postgres).Seconds() / wall.Seconds()
}

// latency runs negotiations one after the other: the warm-up (tickets
// made as it goes), then cfg.N on tickets made beforehand.
func (e *env) latency(ctx context.Context) (*Latency, error) {
	cfg := e.cfg
	warm := 0
	for end := time.Now().Add(cfg.Warmup); warm == 0 || time.Now().Before(end); warm++ {
		id, err := e.newTicket(ctx)
		if err != nil {
			return nil, err
		}
		if o := e.negotiate(ctx, id); o.err != nil {
			return nil, fmt.Errorf("warm-up: %w", o.err)
		}
	}
	cfg.progress("latency: %d warm-up negotiations; creating %d tickets", warm, cfg.N)
	tickets := make([]string, cfg.N)
	for i := range tickets {
		var err error
		if tickets[i], err = e.newTicket(ctx); err != nil {
			return nil, err
		}
	}
	cfg.progress("latency: %d negotiations one after the other", cfg.N)
	var (
		outs []*outcome
		errs errorCount
	)
	s0 := e.sample()
	for _, id := range tickets {
		o := e.negotiate(ctx, id)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		errs.add(o.err)
		if o.err == nil {
			outs = append(outs, o)
		}
	}
	s1 := e.sample()
	l := &Latency{Stats: stats(outs), Errors: errs.n, FirstError: errs.message(), Seconds: s1.at.Sub(s0.at).Seconds(),
		AgentConns: s1.conns - s0.conns, OthersCores: othersCores(s0, s1), PostgresCores: postgresCores(s0, s1)}
	perNeg(s0, s1, int64(len(outs)), &l.CPUPerNegotiationMs, &l.CPUCores, &l.AllocsPerNegotiation)
	cfg.progress("latency: p50 %.2f ms, p99 %.2f ms, %d errors", l.P50Ms, l.P99Ms, l.Errors)
	return l, nil
}

// throughput keeps cfg.Inflight negotiations in flight: unmeasured for the
// warm-up, then measured for cfg.Duration; it then lets those in flight
// finish (checked, not counted). Tickets are made beforehand, enough for
// what the CPU per negotiation of the latency phase suggests the machine
// can do (more are made inline, and counted, if they run out).
func (e *env) throughput(ctx context.Context, cpuPerNeg time.Duration) (*Throughput, error) {
	cfg := e.cfg
	want := cfg.Inflight * 50
	if cpuPerNeg > 0 {
		rate := float64(runtime.GOMAXPROCS(0)) / cpuPerNeg.Seconds()
		want = cfg.Inflight + int(math.Ceil(1.5*rate*(cfg.Warmup+cfg.Duration).Seconds()))
	}
	want = min(want, 50_000)
	cfg.progress("throughput: creating %d tickets", want)
	tickets := make([]string, want)
	for i := range tickets {
		var err error
		if tickets[i], err = e.newTicket(ctx); err != nil {
			return nil, err
		}
	}

	var (
		next, inline, started atomic.Int64
		mu                    sync.Mutex
		outs                  []*outcome
		errs                  errorCount
		wg                    sync.WaitGroup
		fatal                 atomic.Pointer[error]
	)
	begin := time.Now()
	measureFrom := begin.Add(cfg.Warmup)
	stopAt := measureFrom.Add(cfg.Duration)
	cfg.progress("throughput: %d in flight, warm-up %s, measuring %s", cfg.Inflight, cfg.Warmup, cfg.Duration)
	for range cfg.Inflight {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(stopAt) {
				var id string
				if i := next.Add(1) - 1; i < int64(len(tickets)) {
					id = tickets[i]
				} else {
					inline.Add(1)
					var err error
					if id, err = e.newTicket(ctx); err != nil {
						fatal.CompareAndSwap(nil, &err)
						return
					}
				}
				started.Add(1)
				o := e.negotiate(ctx, id)
				mu.Lock()
				errs.add(o.err)
				if o.err == nil {
					outs = append(outs, o)
				}
				mu.Unlock()
			}
		})
	}
	// The counters at the window's edges.
	var s0, s1 sample
	for _, edge := range []struct {
		at time.Time
		s  *sample
	}{{measureFrom, &s0}, {stopAt, &s1}} {
		t := time.NewTimer(time.Until(edge.at))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			wg.Wait()
			return nil, ctx.Err()
		}
		*edge.s = e.sample()
	}
	cfg.progress("throughput: measured; waiting for the negotiations in flight")
	wg.Wait()
	if err := fatal.Load(); err != nil {
		return nil, *err
	}
	var window []*outcome
	for _, o := range outs {
		if !o.done.Before(s0.at) && o.done.Before(s1.at) {
			window = append(window, o)
		}
	}
	secs := s1.at.Sub(s0.at).Seconds()
	tp := &Throughput{Inflight: cfg.Inflight, Seconds: secs, Completed: int64(len(window)), Latency: stats(window),
		Errors: errs.n, FirstError: errs.message(), AgentConns: s1.conns - s0.conns, OthersCores: othersCores(s0, s1), PostgresCores: postgresCores(s0, s1),
		Started: started.Load(), TicketsInline: inline.Load()}
	if secs > 0 {
		tp.PerSecond = float64(tp.Completed) / secs
		tp.TurnsPerSecond = tp.Latency.Rounds * float64(tp.Completed) / secs
	}
	perNeg(s0, s1, tp.Completed, &tp.CPUPerNegotiationMs, &tp.CPUCores, &tp.AllocsPerNegotiation)
	cfg.progress("throughput: %.1f negotiations/s, %d errors", tp.PerSecond, tp.Errors)
	return tp, nil
}

// perNeg fills CPU per negotiation, cores used and allocations per
// negotiation between two samples.
func perNeg(s0, s1 sample, n int64, cpuMs, cores, allocs *float64) {
	wall := s1.at.Sub(s0.at)
	cpu := s1.cpu - s0.cpu
	if wall > 0 && cpu > 0 {
		*cores = cpu.Seconds() / wall.Seconds()
	}
	if n > 0 {
		if cpu > 0 {
			*cpuMs = ms(cpu) / float64(n)
		}
		*allocs = float64(s1.mallocs-s0.mallocs) / float64(n)
	}
}

// stats summarises outcomes (all successful).
func stats(outs []*outcome) Stats {
	n := len(outs)
	s := Stats{Negotiations: int64(n)}
	if n == 0 {
		return s
	}
	lat := make([]time.Duration, n)
	var sum, start, first, send, between, wb, obs time.Duration
	var rounds, reads, writes, bytes int64
	gaps := 0
	for i, o := range outs {
		lat[i] = o.e2e()
		sum += lat[i]
		start += o.start
		first += o.firstTurn - o.start
		send += o.send
		between += o.between
		wb += o.writeBack
		obs += o.observe
		rounds += int64(o.rounds)
		gaps += max(o.rounds-1, 0)
		reads += int64(o.reads)
		writes += o.writes
		bytes += int64(o.bytes)
		s.Anomalies += int64(o.anomalies)
	}
	slices.Sort(lat)
	fn := float64(n)
	s.P50Ms, s.P90Ms, s.P99Ms = ms(bstats.Percentile(lat, 50)), ms(bstats.Percentile(lat, 90)), ms(bstats.Percentile(lat, 99))
	s.MinMs, s.MaxMs, s.MeanMs = ms(lat[0]), ms(lat[n-1]), ms(sum)/fn
	s.Rounds = float64(rounds) / fn
	if rounds > 0 {
		s.PerTurnMs = ms(sum) / float64(rounds)
		s.Breakdown.SendPerTurnMs = ms(send) / float64(rounds)
	}
	if gaps > 0 {
		s.Breakdown.BetweenTurnsMs = ms(between) / float64(gaps)
	}
	s.Breakdown.StartMs = ms(start) / fn
	s.Breakdown.FirstTurnMs = ms(first) / fn
	s.Breakdown.WriteBackMs = ms(wb) / fn
	s.Breakdown.ObserveMs = ms(obs) / fn
	s.ReadsPerNegotiation = float64(reads) / fn
	s.WritesPerNegotiation = float64(writes) / fn
	s.RecordBytes = float64(bytes) / fn
	return s
}

func ms(d time.Duration) float64 { return bstats.Ms(d) }

// WriteText prints the report as tables.
func (r *Report) WriteText(w io.Writer) {
	audit := "audit log on"
	if !r.Audit {
		audit = "audit log OFF"
	}
	fmt.Fprintf(w, "negotiation: billing ↔ escalation over A2A, %s store, %s, agent think time %s, every negotiation checked agreed on 275 after %d rounds\n",
		r.Store, audit, time.Duration(r.ThinkMs*float64(time.Millisecond)), r.RoundsCheck)
	fmt.Fprintf(w, "%s %s, %d CPUs, GOMAXPROCS %d; warm-up %s per phase\n", r.GoVersion, r.Platform, r.NumCPU, r.GOMAXPROCS, r.Warmup)
	if len(r.Experiments) > 0 {
		fmt.Fprintf(w, "WHAT-IF experiments (not Parley as shipped): %s\n", strings.Join(r.Experiments, ", "))
	}
	if len(r.LoadAvg) == 2 {
		fmt.Fprintf(w, "load average before %s, after %s\n", r.LoadAvg[0], r.LoadAvg[1])
	}
	cpu := func(v float64) string {
		if v <= 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f", v)
	}
	header := func() {
		fmt.Fprintf(w, "%-25s  %6s  %7s  %7s  %7s  %7s  %7s  %7s  %8s  %6s  %7s  %5s  %7s\n",
			"phase", "negs", "p50 ms", "p90 ms", "p99 ms", "mean ms", "max ms", "turn ms", "neg/s", "errors", "cpu ms", "cores", "allocs")
	}
	line := func(name string, s Stats, rate float64, errs int64, cpuMs, cores, allocs float64) {
		fmt.Fprintf(w, "%-25s  %6d  %7.2f  %7.2f  %7.2f  %7.2f  %7.2f  %7.2f  %8.1f  %6d  %7s  %5s  %7.0f\n",
			name, s.Negotiations, s.P50Ms, s.P90Ms, s.P99Ms, s.MeanMs, s.MaxMs, s.PerTurnMs, rate, errs, cpu(cpuMs), cpu(cores), allocs)
	}
	fmt.Fprintln(w)
	header()
	if l := r.Latency; l != nil {
		rate := 0.0
		if l.Seconds > 0 {
			rate = float64(l.Negotiations) / l.Seconds
		}
		line("latency (sequential)", l.Stats, rate, l.Errors, l.CPUPerNegotiationMs, l.CPUCores, l.AllocsPerNegotiation)
	}
	if t := r.Throughput; t != nil {
		line(fmt.Sprintf("throughput (%d in flight)", t.Inflight), t.Latency, t.PerSecond, t.Errors, t.CPUPerNegotiationMs, t.CPUCores, t.AllocsPerNegotiation)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "where a negotiation's time goes (mean ms): %-6s %-6s %-9s %-9s %-6s %-6s\n", "start", "claim", "send/turn", "gap/turn", "wback", "seen")
	bd := func(name string, s Stats) {
		b := s.Breakdown
		fmt.Fprintf(w, "  %-40s %6.2f %6.2f %9.2f %9.2f %6.2f %6.2f   (%.0f rounds, %.1f record writes, %.0f bytes at the end, %.1f reads, %d anomalies)\n",
			name, b.StartMs, b.FirstTurnMs, b.SendPerTurnMs, b.BetweenTurnsMs, b.WriteBackMs, b.ObserveMs,
			s.Rounds, s.WritesPerNegotiation, s.RecordBytes, s.ReadsPerNegotiation, s.Anomalies)
	}
	if l := r.Latency; l != nil {
		bd("latency", l.Stats)
	}
	if t := r.Throughput; t != nil {
		bd("throughput", t.Latency)
	}
	fmt.Fprintln(w, "  start: Service.Start; claim: → first turn built (claimed, ticket marked); send: turn built → reply (turn persisted, A2A call);")
	fmt.Fprintln(w, "  gap: reply → next turn built (move persisted, audited); wback: last reply → done persisted (outcome, ticket approval);")
	fmt.Fprintln(w, "  seen: → the tool saw it done (change feed + one read)")
	if t := r.Throughput; t != nil {
		fmt.Fprintf(w, "\nthroughput: %d completed in %.2fs = %.1f negotiations/s, %.1f turns/s; %d started in all (warm-up and drain included), %d tickets made inline; agents accepted %d connections while measured\n",
			t.Completed, t.Seconds, t.PerSecond, t.TurnsPerSecond, t.Started, t.TicketsInline, t.AgentConns)
	}
	if l := r.Latency; l != nil && l.FirstError != "" {
		fmt.Fprintf(w, "latency: %d errors, first: %s\n", l.Errors, l.FirstError)
	}
	if t := r.Throughput; t != nil && t.FirstError != "" {
		fmt.Fprintf(w, "throughput: %d errors, first: %s\n", t.Errors, t.FirstError)
	}
	busy := func(name string, v, pg float64) {
		if pg > 0 {
			fmt.Fprintf(w, "%s: local PostgreSQL used %.2f cores meanwhile\n", name, pg)
		}
		if v >= 0 {
			fmt.Fprintf(w, "%s: other processes used %.2f cores meanwhile\n", name, v)
			if v > 0.2 {
				fmt.Fprintf(w, "WARNING: %s shared the machine with other work; its figures are low\n", name)
			}
		}
	}
	if l := r.Latency; l != nil {
		busy("latency", l.OthersCores, l.PostgresCores)
	}
	if t := r.Throughput; t != nil {
		busy("throughput", t.OthersCores, t.PostgresCores)
	}
	fmt.Fprintf(w, "warnings logged: %d\n", r.Warnings)
	if r.FirstWarning != "" {
		fmt.Fprintf(w, "first warning: %s\n", r.FirstWarning)
	}
}
