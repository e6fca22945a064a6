// Command replicas measures 2025-11-25 sessions served by two gateway
// replicas behind a round-robin balancer without stickiness (issue 13),
// in the gateways' CPU per call, against one gateway reached directly.
//
// Two gateways run in child processes of their own (this program started
// again, bench/internal/child), each built by app.Build from
// config.Default() as "gateway serve" builds it, sharing one store: a
// SQLite file (one host), or PostgreSQL with -postgres-url. In front of
// them, Debian's nginx (one worker, round robin, no stickiness; kept
// connections to the gateways, -nginx-keepalive) listens on two ports: one
// proxies to gateway a alone, the other to a and b. 16 go-sdk clients per
// slice (each a session and a connection pool of its own) call get_ticket
// on a random seeded ticket, as fast as they go, in five slices taken in
// rotation, round after round, so that drift on a shared machine weighs
// on all alike:
//
//   - direct: on gateway a directly; every request lands on the opener;
//   - split: half the clients on a, half on b, directly: two replicas
//     sharing the load and the store, but every request on its session's
//     opener (what splitting the load costs, apart from sessions crossing);
//   - nginx-one: through nginx in front of a alone (the balancer's hop);
//   - balanced: through nginx over a and b, the sessions opened through
//     it, so half of a session's requests land on the replica that did not
//     open it;
//   - pinned: every session opened on a directly (the clients send the
//     initialize there), every later request through nginx over a and b:
//     a is every session's opener and b never is, so a's CPU over the calls
//     it answered and b's over its own split a call on the opener from one
//     on the other replica.
//
// CPU time is read from /proc for each gateway's process (and nginx's
// master and worker, reported apart) around every round; which replica
// answered each call is counted by the clients from nginx's X-Upstream
// header. With -idle-sessions N, N sessions are then opened through the
// balancer and pinged until both replicas have served each, and each
// replica's RSS is reported. With -rebuilds N, N sessions are opened on a
// directly and each is pinged on b directly twice: b's CPU for the first
// ping (which rebuilds the session there) against the second is what a
// session's first request on another replica costs.
//
//	go run ./bench/replicas                                      # SQLite, 16 clients, 10 s a slice in 5 rounds
//	go run ./bench/replicas -postgres-url 'postgres://…'         # the replicas on PostgreSQL
//	go run ./bench/replicas -load=false -idle-sessions 10000     # the idle measurement alone
//	go run ./bench/replicas -server-cpuprofile /tmp/rep          # /tmp/rep.gateway-a.prof and -b.prof
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/parleyhq/parley/bench/internal/child"
	"github.com/parleyhq/parley/bench/internal/cli"
)

func main() {
	child.Dispatch(serveFuncs) // a gateway child runs here and exits
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command: it parses args, runs the load and prints the
// report. It returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, stderr := cli.NewFlagSet("replicas", stderr)
	var (
		cfg  Config
		out  cli.Output
		load bool
		only string
	)
	fs.IntVar(&cfg.Clients, "clients", 16, "concurrent MCP clients per slice (one session and connection pool each)")
	cli.RegisterTiming(fs, &cfg.Duration, &cfg.Warmup, &cfg.Rounds, &cfg.CallTimeout)
	fs.IntVar(&cfg.Requests, "requests", 0, "measure this many calls per slice instead of a duration")
	fs.IntVar(&cfg.Tickets, "tickets", 1000, "tickets to seed")
	fs.StringVar(&cfg.PostgresURL, "postgres-url", "", "PostgreSQL URL both replicas share (default: one SQLite file); tickets LOAD-… are written there")
	fs.IntVar(&cfg.IdleSessions, "idle-sessions", 0, "at the end, open this many idle sessions through the balancer and report each replica's RSS (0: not)")
	fs.IntVar(&cfg.Rebuilds, "rebuilds", 0, "open this many sessions on a, then send a request of each to b twice, and report b's CPU for the first (the rebuild) and the second (0: not)")
	fs.BoolVar(&load, "load", true, "measure the get_ticket slices (-load=false with -idle-sessions: the idle measurement alone)")
	fs.StringVar(&only, "slices", strings.Join(allSlices, ","), "the slices to measure, comma-separated (one at a time: for -server-cpuprofile)")
	fs.StringVar(&cfg.Nginx, "nginx", defaultNginx, "the nginx binary")
	fs.IntVar(&cfg.Keepalive, "nginx-keepalive", 64, "idle connections nginx keeps to the gateways (0: a new connection per request)")
	fs.StringVar(&cfg.ServerLog, "server-log", "", "directory for the gateways' logs, gateway-a.log and gateway-b.log (default: os.DevNull)")
	fs.StringVar(&cfg.ServerCPUProfile, "server-cpuprofile", "", "each gateway writes a CPU profile of its process to this prefix + .gateway-NAME.prof, from the end of the seeding")
	out.Register(fs, "goroutines carry labels role=client and target=SLICE")
	if code, ok := cli.Parse(fs, args, stderr); !ok {
		return code
	}
	cfg.NoLoad = !load
	cfg.Slices = strings.Split(only, ",")
	cfg.Progress, cfg.Stderr = out.Progress(stderr), stderr
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(stderr, "replicas: %v\n", err)
		return 2
	}
	return cli.Execute(ctx, "replicas", out, stdout, stderr, func(ctx context.Context) (cli.Report, error) {
		return Run(ctx, cfg)
	})
}
