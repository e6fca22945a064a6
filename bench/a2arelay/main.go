// Command a2arelay measures Parley's A2A relay: N concurrent a2a-go
// clients send message/send in a loop, straight to an a2a-go agent and
// through Parley's relay in front of the same agent (/a2a/agents/{name}),
// in the same run. The relay's throughput is reported as a fraction of
// the direct throughput (the target is 0.8), with p50/p90/p99.
//
// Everything runs in this process on 127.0.0.1 (real sockets): the agent
// (a2asrv's JSON-RPC handler; its executor answers every message at once
// with a completed task, or with -answer message a message), and Parley's
// relay as cmd/gateway mounts it: in a chi router at a2a.RelayPath behind
// a plain http.Server, the agent registered by URL in an agentcards
// registry over a fresh SQLite file in a temp dir, calls going out through
// the registry guard's transport, every relayed task recorded in the store.
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
// goroutines role=client|relay|recorder|agent, target=direct|relay (the
// clients) and via=direct|relay (the agent's work per call), so that
//
//	go tool pprof -tagfocus role=relay,recorder a2arelay.prof
//
// shows what the relay itself costs.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"time"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command: it parses args, runs the load and prints the report.
// It returns the process exit code: 2 for bad flags, 1 if the run failed
// or any call failed.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("a2arelay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg        Config
		asJSON     bool
		cpuprofile string
		quiet      bool
	)
	fs.IntVar(&cfg.Clients, "clients", 16, "concurrent a2a-go clients per target, one call at a time each")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long each target (direct, relay) is measured in all")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "warm-up of each target before measuring, not measured (0: none)")
	fs.IntVar(&cfg.Rounds, "rounds", 5, "measure each target in this many turns, alternating with the other")
	fs.StringVar(&cfg.Answer, "answer", AnswerTask, "what the agent answers: task (a completed task, recorded by the relay) or message")
	fs.DurationVar(&cfg.CallTimeout, "call-timeout", 10*time.Second, "timeout of one message/send")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fs.StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of the whole run to this file, goroutines labelled (see go doc)")
	fs.BoolVar(&quiet, "q", false, "no progress lines on stderr")
	fs.IntVar(&cfg.RelayIdlePerHost, "relay-idle-per-host", 0, "what-if: MaxIdleConnsPerHost of the relay's outbound transport (0: the registry guard's own, 8)")
	fs.BoolVar(&cfg.CacheAgents, "cache-agents", false, "what-if: the relay looks agents up in an in-memory cache instead of the store")
	fs.BoolVar(&cfg.NoRecord, "no-record", false, "what-if: relayed tasks are not recorded")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "a2arelay: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return 2
	}
	if !quiet {
		cfg.Progress = stderr
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(stderr, "a2arelay: %v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()

	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			fmt.Fprintf(stderr, "a2arelay: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "a2arelay: cpu profile: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
		cfg.Labels = true
	}

	rep, err := Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "a2arelay: %v\n", err)
		return 1
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "a2arelay: %v\n", err)
			return 1
		}
	} else {
		rep.WriteText(stdout)
	}
	if rep.Errors() > 0 {
		return 1
	}
	return 0
}
