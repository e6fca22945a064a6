// Command a2arelay measures Parley's A2A relay: N concurrent a2a-go
// clients send message/send in a loop, straight to an a2a-go agent and
// through Parley's relay in front of the same agent (/a2a/agents/{name}),
// in the same run. The relay's throughput is reported as a fraction of
// the direct throughput (the target is 0.8), with p50/p90/p99.
//
// Everything runs in this process on 127.0.0.1 (real sockets): the agent
// (a2asrv's JSON-RPC handler; its executor answers every message at once
// with a completed task, or with -answer message a message), and the
// gateway as it ships, built by app.Build from config.Default() (a fresh
// SQLite file in a temp dir, auth off, private agent URLs allowed so that
// the agent on loopback may be registered), with its HTTP middleware,
// request IDs, access log (serve's slog handler at info, to os.DevNull)
// and audit log in front of the relay; the agent registered by URL in its
// registry, calls going out through the registry guard's transport, every
// relayed task recorded in the store. The relay is measured in the
// gateway's process with the clients and the agent, on purpose: the
// figure is relayed against direct, both paying for the same clients and
// agent, so the whole process's CPU per call compares the two paths.
// The clients are built with a2aclient.NewFromCard from the cards as a
// caller gets them (the agent's own, and the relay's rewritten one), with
// JSON-RPC over one shared http.Client.
//
//	go run ./bench/a2arelay -clients 16 -duration 10s
//	go run ./bench/a2arelay -answer message -json
//	go run ./bench/a2arelay -cpuprofile a2arelay.prof
//
// Each target is measured for -duration in all, in -rounds turns taken in
// rotation with the other target (after a -warmup each), so that other
// work on the machine weighs on both alike. Every call is bounded by
// -call-timeout, so a run always ends by itself. -cpuprofile labels
// goroutines role=client|relay|agent, target=direct|relay (the
// clients) and via=direct|relay (the agent's work per call), so that
//
//	go tool pprof -tagfocus role=relay a2arelay.prof
//
// shows what the relay itself costs.
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

// run is the command: it parses args, runs the load and prints the report.
// It returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("a2arelay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg Config
		out cli.Output
	)
	fs.IntVar(&cfg.Clients, "clients", 16, "concurrent a2a-go clients per target, one call at a time each")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long each target (direct, relay) is measured in all")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "warm-up of each target before measuring, not measured (0: none)")
	fs.IntVar(&cfg.Rounds, "rounds", 5, "measure each target in this many turns, alternating with the other")
	fs.StringVar(&cfg.Answer, "answer", AnswerTask, "what the agent answers: task (a completed task, recorded by the relay) or message")
	fs.DurationVar(&cfg.CallTimeout, "call-timeout", 10*time.Second, "timeout of one message/send")
	fs.IntVar(&cfg.RelayIdlePerHost, "relay-idle-per-host", 0, "what-if: MaxIdleConnsPerHost of the relay's outbound transport (0: the registry guard's own, 8)")
	out.Register(fs, "goroutines labelled role=client|relay|agent, target, via (see go doc)")
	if code, ok := cli.Parse(fs, args, stderr); !ok {
		return code
	}
	cfg.Progress = out.Progress(stderr)
	cfg.Labels = out.CPUProfile != ""
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(stderr, "a2arelay: %v\n", err)
		return 2
	}
	return cli.Execute(ctx, "a2arelay", out, stdout, stderr, func(ctx context.Context) (cli.Report, error) {
		return Run(ctx, cfg)
	})
}
