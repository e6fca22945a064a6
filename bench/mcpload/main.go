// Command mcpload measures Parley's MCP endpoint under load: N concurrent
// MCP clients call get_ticket and save_ticket through /mcp, in both protocol
// generations (2026-07-28 stateless, 2025-11-25 sessions), and the same
// clients call get_ticket on a bare go-sdk server whose tool is a map
// lookup. Parley's throughput is reported as a fraction of the bare
// server's, measured on the same machine in the same run.
//
// By default both servers run in this process on 127.0.0.1 (real sockets):
// Parley's mcpbridge over a fresh SQLite file (or PostgreSQL), seeded with
// tickets through the workspace, and the bare server holding the same
// tickets in a map. The in-process gateway is wired as cmd/gateway wires
// it, session streams in the store's durable event store included
// (-events memory selects mcpbridge's in-memory default instead). With
// -target the Parley side is an already running gateway, seeded over MCP.
//
//	go run ./bench/mcpload -clients 16 -duration 10s
//	go run ./bench/mcpload -mode stateless -requests 20000 -json
//	go run ./bench/mcpload -store postgres -postgres-url 'postgres://parley@127.0.0.1:5432/parley_bench?sslmode=disable'
//	go run ./bench/mcpload -target http://127.0.0.1:8080/mcp
//
// With -compare auth, Parley's get_ticket is measured against itself with
// auth off instead of against the bare server: the same store serves two
// in-process /mcp endpoints, each with auth wired in front as
// cmd/gateway/serve.go wires it (the auth.Service's MCP HTTP face around
// the bridge, its MCPMiddleware in the go-sdk server), one in no-auth mode
// (no issuer: how the gateway runs with auth off) and one with a real OIDC
// issuer on loopback (go-oidc's oidctest, an RSA key) whose policy allows
// the clients' role tool:get_ticket and nothing else. Each client sends
// an RS256 access token of its own (subject mcpload-N) on every request.
// Before measuring, the tool checks that the endpoint with auth on refuses
// a request without a token (401) and refuses save_ticket (policy). The
// report gives auth on/off throughput (target 0.9), p50 and p99.
//
//	go run ./bench/mcpload -compare auth -clients 16 -duration 10s
//	go run ./bench/mcpload -compare auth -no-token-cache   # verify every token's signature
//	go run ./bench/mcpload -compare auth -audit            # and audit every tool call, as serve.go does
//
// Each scenario is measured in -rounds turns taken in rotation with the
// other scenarios, so that other work on the machine weighs on all of them
// alike. Every scenario is bounded by -duration (or -requests) and every
// call by -call-timeout, so a run always ends by itself. -cpuprofile labels
// goroutines role=client|server and target=parley|bare (auth-off|auth-on|issuer
// with -compare auth), so that
//
//	go tool pprof -tagfocus target=parley -tagignore role=client mcpload.prof
//
// shows Parley's server side alone.
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
	"runtime"
	"runtime/pprof"
	"strings"
	"time"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command: it parses args, runs the load and prints the report.
// It returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mcpload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg        Config
		mode       string
		asJSON     bool
		cpuprofile string
		blockprof  string
		mutexprof  string
		quiet      bool
	)
	fs.IntVar(&cfg.Clients, "clients", 16, "concurrent MCP clients (one ClientSession each)")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long each scenario is measured")
	fs.IntVar(&cfg.Requests, "requests", 0, "measure this many calls per scenario instead of a duration (split among the clients)")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "warm-up before each scenario, not measured (0: none)")
	fs.IntVar(&cfg.Rounds, "rounds", 5, "measure each scenario in this many turns, taken in rotation with the others (evens out a busy machine)")
	fs.BoolVar(&cfg.NoSave, "no-save", false, "skip save_ticket (e.g. to profile reads only)")
	fs.StringVar(&mode, "mode", "both", "protocol generation: stateless (2026-07-28), session (2025-11-25) or both")
	fs.StringVar(&cfg.Store, "store", "sqlite", "store of the in-process gateway: sqlite (fresh file in a temp dir) or postgres")
	fs.StringVar(&cfg.PostgresURL, "postgres-url", "", "PostgreSQL URL for -store postgres (tickets LOAD-00000… are written there: use a scratch database or search_path)")
	fs.IntVar(&cfg.Tickets, "tickets", 1000, "tickets to seed (at least -clients: each client updates its own ticket)")
	fs.StringVar(&cfg.Target, "target", "", "URL of a running gateway's /mcp to load instead of the in-process one (the bare server still runs in process)")
	fs.DurationVar(&cfg.CallTimeout, "call-timeout", 10*time.Second, "timeout of one tool call")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fs.StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of the whole run to this file; goroutines carry labels role=client|server and target=parley|bare (go tool pprof -tagfocus)")
	fs.StringVar(&blockprof, "blockprofile", "", "write a goroutine blocking profile of the whole run to this file (where calls wait, off CPU)")
	fs.StringVar(&mutexprof, "mutexprofile", "", "write a mutex contention profile of the whole run to this file")
	fs.StringVar(&cfg.Events, "events", "durable", "where the in-process gateway keeps session streams: durable (in the store, as cmd/gateway does) or memory (mcpbridge's default)")
	fs.IntVar(&cfg.SQLiteReaders, "sqlite-readers", 0, "size of the SQLite store's read pool (0: the store's default)")
	fs.StringVar(&cfg.Compare, "compare", compareBare, "what Parley's get_ticket is measured against: bare (a bare go-sdk server; save_ticket too) or auth (Parley itself with auth off vs on, get_ticket only)")
	fs.BoolVar(&cfg.NoTokenCache, "no-token-cache", false, "with -compare auth: turn the verifier's token cache off, so that every request verifies its token's signature")
	fs.BoolVar(&cfg.Audit, "audit", false, "with -compare auth: also audit every tool call (mcpbridge.AuditMiddleware after the auth middleware, as cmd/gateway/serve.go wires it), with auth off and on alike")
	fs.BoolVar(&quiet, "q", false, "no progress lines on stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mcpload: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return 2
	}
	switch mode {
	case "both":
		cfg.Modes = []Mode{ModeStateless, ModeSession}
	case string(ModeStateless), string(ModeSession):
		cfg.Modes = []Mode{Mode(mode)}
	default:
		fmt.Fprintf(stderr, "mcpload: -mode %q: want stateless, session or both\n", mode)
		return 2
	}
	if !quiet {
		cfg.Progress = stderr
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(stderr, "mcpload: %v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()

	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			fmt.Fprintf(stderr, "mcpload: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "mcpload: cpu profile: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}

	if blockprof != "" {
		runtime.SetBlockProfileRate(int(10 * time.Microsecond))
		defer writeProfile("block", blockprof, stderr)
	}
	if mutexprof != "" {
		runtime.SetMutexProfileFraction(10)
		defer writeProfile("mutex", mutexprof, stderr)
	}

	rep, err := Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "mcpload: %v\n", err)
		return 1
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "mcpload: %v\n", err)
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

// writeProfile writes the named runtime profile to path.
func writeProfile(name, path string, stderr io.Writer) {
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup(name).WriteTo(f, 0)
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		fmt.Fprintf(stderr, "mcpload: %s profile: %v\n", name, err)
	}
}
