// Command a2arelay measures Parley's A2A relay against a bare reverse
// proxy: N concurrent a2a-go v2 clients send A2A 1.0 SendMessage in a
// loop, in each binding (JSON-RPC, HTTP+JSON, gRPC), through a bare
// httputil.ReverseProxy in front of an a2a-go v2 agent and through
// Parley's relay in front of the same agent, in the same run. The figure
// is the CPU time per call of the process the calls go through (the
// gateway against the proxy, read from /proc/PID/stat); the issue's
// target is a ratio of at most 2. p50/p99 latency and throughput are
// reported beside it (throughput swings on a shared machine; CPU per call
// does not).
//
// Each server runs in a child process of its own (this program started
// again, see bench/internal/child):
//
//   - agent: a2a-go v2's JSON-RPC (1.0 and 0.3) and REST handlers on one
//     port and its gRPC service on another; its executor answers every
//     message at once with a completed task (or with -answer message a
//     message).
//   - proxy: httputil.ReverseProxy and nothing else, over HTTP/1.1 in
//     front of the agent's HTTP port and over h2c (unencrypted HTTP/2, as
//     gRPC speaks it) in front of its gRPC port.
//   - parley: the gateway as it ships (bench/internal/shipped: app.Build
//     from config.Default(), a fresh SQLite file, auth off, private agent
//     URLs allowed so that the agent on loopback registers, the agent
//     prober off, gRPC on a free port), logging as serve does; the agent
//     registered by URL through the admin API. Every relayed task is
//     recorded in the store, and the run counts the rows afterwards.
//
// The clients run in this process, built with a2aclient from the cards as
// a caller gets them: the relay's rewritten card (JSON-RPC at
// /a2a/agents/bench-agent, REST at /a2a/agents/bench-agent/rest, gRPC on
// the gateway's gRPC port with the agent's name as tenant), and the
// agent's own card with the proxy's addresses in place of the agent's.
//
//	go run ./bench/a2arelay -clients 16 -duration 10s
//	go run ./bench/a2arelay -bindings jsonrpc -answer message -json
//	go run ./bench/a2arelay -server-cpuprofile /tmp/a2arelay
//	go tool pprof -top /tmp/a2arelay.parley.prof
//
// Each target (binding × proxy|relay) is measured for -duration in all,
// in -rounds turns taken in rotation with the others (after a -warmup
// each), so that other work on the machine weighs on all alike. Every call
// is bounded by -call-timeout, so a run always ends by itself.
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
	child.Dispatch(serveFuncs) // a server child runs here and exits
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command: it parses args, runs the load and prints the report.
// It returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, stderr := cli.NewFlagSet("a2arelay", stderr)
	var (
		cfg      Config
		out      cli.Output
		bindings string
	)
	fs.IntVar(&cfg.Clients, "clients", 16, "concurrent a2a-go clients per target, one call at a time each")
	cli.RegisterTiming(fs, &cfg.Duration, &cfg.Warmup, &cfg.Rounds, &cfg.CallTimeout)
	fs.StringVar(&cfg.Answer, "answer", AnswerTask, "what the agent answers: task (a completed task, recorded by the relay) or message")
	fs.StringVar(&bindings, "bindings", strings.Join(allBindings, ","), "comma-separated bindings to measure: jsonrpc, rest, grpc")
	fs.StringVar(&cfg.ServerCPUProfile, "server-cpuprofile", "", "each server writes a CPU profile of its process to this prefix + .NAME.prof (NAME: parley, proxy, agent)")
	out.Register(fs, "the clients only (the servers: -server-cpuprofile)")
	if code, ok := cli.Parse(fs, args, stderr); !ok {
		return code
	}
	if bindings != "" {
		cfg.Bindings = strings.Split(bindings, ",")
	}
	cfg.Progress, cfg.Stderr = out.Progress(stderr), stderr
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(stderr, "a2arelay: %v\n", err)
		return 2
	}
	return cli.Execute(ctx, "a2arelay", out, stdout, stderr, func(ctx context.Context) (cli.Report, error) {
		return Run(ctx, cfg)
	})
}
