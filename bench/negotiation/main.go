// Command negotiation measures Parley's negotiation engine end to end: the
// time a 6-round negotiation takes between two local agents, and how many
// negotiations complete per second with many in flight.
//
// Everything runs in this process on 127.0.0.1 (real sockets): the sample
// agents billing and escalation from examples/agents (a2a-go servers, with
// agents.SixMoveOptions so that a refund of 500 for customer "acme" takes
// exactly 6 moves: 500 → 120 → 310 → 240 → 275 → accept, and no think
// time unless -think says so), and the gateway's negotiation stack wired
// as cmd/gateway/serve.go wires it: a store (a fresh SQLite file in a temp
// dir, or -store postgres), the workspace, an agentcards registry
// (AllowPrivate) holding the two agents registered by URL, an a2a client
// pool going out through the registry guard's transport, the audit log,
// and negotiation.Service with its runner (Service.Run) in a goroutine.
//
//	go run ./bench/negotiation                       # -n 200 sequential, then 50 in flight for 10s
//	go run ./bench/negotiation -n 0 -inflight 50 -duration 30s
//	go run ./bench/negotiation -store postgres -postgres-url 'postgres://…/scratch?sslmode=disable'
//	go run ./bench/negotiation -json -cpuprofile negotiation.prof
//
// Each negotiation is started with Service.Start on a fresh ticket
// (created beforehand, outside the measurement) and is done when the
// stored negotiation's state is done (the outcome written back into the
// ticket). The tool follows the store's change feed and reads the
// negotiation when it changes, so there is no poll interval in the
// figures. Every negotiation must end agreed, approved at 275, after
// -rounds-check rounds (default 6); anything else counts as an error.
//
// Latency: -n negotiations one after the other (after -warmup of the
// same, unmeasured). Throughput: -inflight negotiations kept in flight (a
// new one starts as each finishes) for -warmup, then measured for
// -duration; negotiations still running at the end are waited for and
// verified, not counted. -cpuprofile labels goroutines role=engine
// (Service.Start, the negotiation runner, its A2A client, the store work
// they do), role=agent (the two agents' servers) and role=bench (this
// tool: tickets, following the feed, reading negotiations), so that
//
//	go tool pprof -tagfocus role=engine negotiation.prof
//
// shows what Parley itself costs.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/parleyhq/parley/bench/internal/cli"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command: it parses args, runs the phases and prints the
// report. It returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("negotiation", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg Config
		out cli.Output
	)
	fs.IntVar(&cfg.N, "n", 200, "latency: negotiations run one after the other (0: skip)")
	fs.IntVar(&cfg.Inflight, "inflight", 50, "throughput: negotiations kept in flight")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "throughput: how long it is measured (0: skip)")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "unmeasured warm-up before each phase (at least one negotiation before the latency phase)")
	fs.IntVar(&cfg.RoundsCheck, "rounds-check", 6, "rounds every negotiation must end with, agreed (0: do not check the count)")
	fs.StringVar(&cfg.Store, "store", StoreSQLite, "store: sqlite (a fresh file in a temp dir) or postgres (-postgres-url)")
	fs.StringVar(&cfg.PostgresURL, "postgres-url", "", "PostgreSQL URL for -store postgres: use a scratch database or schema (agents, tickets, negotiations are written there)")
	fs.DurationVar(&cfg.Think, "think", 0, "the agents' think time per move (agents.Options.Delay)")
	fs.DurationVar(&cfg.Timeout, "timeout", time.Minute, "a negotiation not done after this long is an error")
	out.Register(fs, "goroutines labelled role=engine|agent|bench (see go doc)")
	if code, ok := cli.Parse(fs, args, stderr); !ok {
		return code
	}
	cfg.Progress = out.Progress(stderr)
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(stderr, "negotiation: %v\n", err)
		return 2
	}
	return cli.Execute(ctx, "negotiation", out, stdout, stderr, func(ctx context.Context) (cli.Report, error) {
		return Run(ctx, cfg)
	})
}
