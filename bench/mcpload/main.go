// Command mcpload measures the gateway's MCP endpoint as it ships against
// a bare go-sdk server, in server CPU per call.
//
// Every server runs in a process of its own, this program started again
// (bench/internal/child), so that a server's CPU time and memory are read
// from its own process (/proc/PID/stat and status) and not mixed with the
// clients', which run here:
//
//   - parley: the gateway built by app.Build from config.Default(), as
//     "gateway serve" builds it (HTTP middleware, request IDs, the access
//     log through serve's slog handler at its default level, info, written
//     to os.DevNull; the audit log; the durable MCP event store), over a
//     fresh SQLite file (or PostgreSQL, -store postgres), auth off;
//   - parley-auth: the same with auth on: a local OIDC issuer on
//     127.0.0.1 (go-oidc's oidctest, RS256) as cfg.Auth.Issuer, a policy
//     allowing the clients' role get_ticket and save_ticket, and each
//     client sending a token of its own;
//   - parley-pg: with -postgres-url and the default -store sqlite, the
//     gateway on PostgreSQL too (auth off);
//   - bare: a go-sdk server whose get_ticket is a map lookup holding the
//     same tickets, answering with the same bytes, behind the SDK's
//     handlers with the gateway's generation dispatch and server timeouts.
//
// The tickets are seeded over MCP (save_ticket). Per protocol generation
// (stateless = 2026-07-28, session = 2025-11-25), the clients run, against
// each server: get_ticket as fast as they go, save_ticket (the gateways),
// opening a session (initialize + initialized, then closing it; session
// mode), and with -rate get_ticket at a fixed rate. Each scenario gets a
// warm-up, then is measured in -rounds turns taken in rotation with all
// the others, so that other work on the machine weighs on all alike. The
// report gives per scenario throughput, latencies (p50/p90/p99/max), the
// server's CPU per call and the clients'; and per scenario the ratio of
// server CPU per call, gateway ÷ bare (and auth on ÷ auth off). With
// -idle-sessions N, each server is then given N idle sessions and its RSS
// is reported.
//
//	go run ./bench/mcpload                                   # 16 clients, both modes, auth off and on
//	go run ./bench/mcpload -rate 1000 -idle-sessions 10000   # and a fixed 1,000 req/s, and 10,000 idle sessions
//	go run ./bench/mcpload -postgres-url 'postgres://…'      # and the gateway on PostgreSQL
//	go run ./bench/mcpload -compare auth                     # auth on against auth off only
//	go run ./bench/mcpload -target http://127.0.0.1:8080/mcp -target-pid $(pgrep -n gateway) -auth off
//
// -cpuprofile profiles this process (the clients); -server-cpuprofile
// PREFIX makes each server write PREFIX.NAME.prof of its own process,
// from the end of the seeding to the end of the run (warm-ups included).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/parleyhq/parley/bench/internal/child"
	"github.com/parleyhq/parley/bench/internal/cli"
	"github.com/parleyhq/parley/bench/internal/mcpclient"
)

func main() {
	child.Dispatch(serveFuncs) // a server child runs here and exits
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command: it parses args, runs the load and prints the report.
// It returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, stderr := cli.NewFlagSet("mcpload", stderr)
	var (
		cfg       Config
		out       cli.Output
		mode      string
		blockprof string
		mutexprof string
		audited   bool
	)
	fs.IntVar(&cfg.Clients, "clients", 16, "concurrent MCP clients (one ClientSession and connection pool each)")
	cli.RegisterTiming(fs, &cfg.Duration, &cfg.Warmup, &cfg.Rounds, &cfg.CallTimeout)
	fs.IntVar(&cfg.Requests, "requests", 0, "measure this many calls per scenario instead of a duration (split among the clients)")
	fs.BoolVar(&cfg.NoGet, "no-get", false, "skip get_ticket at full speed")
	fs.BoolVar(&cfg.NoSave, "no-save", false, "skip save_ticket")
	fs.BoolVar(&cfg.NoOpen, "no-open", false, "skip opening sessions")
	fs.Float64Var(&cfg.Rate, "rate", 0, "also measure get_ticket at this fixed rate, calls a second over all clients (0: not)")
	fs.Int64Var(&cfg.BareGCFloor, "bare-gc-floor", 0, "the bare server holds a GC heap floor of this many `bytes`, as the gateway does by default (gc_heap_floor_bytes), for a comparison at the same collector pacing (0: Go's default pacing)")
	fs.IntVar(&cfg.IdleSessions, "idle-sessions", 0, "at the end, open this many idle sessions on each server and report its RSS (0: not)")
	fs.StringVar(&mode, "mode", "both", "protocol generation: stateless (2026-07-28), session (2025-11-25) or both")
	fs.StringVar(&cfg.Store, "store", "sqlite", "store of the gateways: sqlite (fresh files in a temp dir) or postgres (-postgres-url)")
	fs.StringVar(&cfg.PostgresURL, "postgres-url", os.Getenv("PARLEY_TEST_POSTGRES_URL"),
		"PostgreSQL URL (default $PARLEY_TEST_POSTGRES_URL): with -store sqlite, adds the gateway on PostgreSQL (parley-pg); tickets LOAD-… are written there")
	fs.StringVar(&cfg.Auth, "auth", authBoth, "the gateway with auth off, on or both")
	fs.IntVar(&cfg.Tickets, "tickets", 1000, "tickets to seed (at least -clients: each client updates its own ticket)")
	fs.StringVar(&cfg.Target, "target", "", "URL of a running gateway's /mcp to load instead of starting one (with -auth off)")
	fs.IntVar(&cfg.TargetPID, "target-pid", 0, "process ID of the -target gateway, whose CPU time and memory are read")
	fs.StringVar(&cfg.Compare, "compare", compareBare, "baseline: bare (the bare go-sdk server) or auth (only the gateway, auth on against auth off)")
	fs.StringVar(&cfg.ServerLog, "server-log", "", "directory for the gateways' logs, NAME.log (default: os.DevNull)")
	fs.StringVar(&cfg.ServerCPUProfile, "server-cpuprofile", "", "each server writes a CPU profile of its process to this prefix + .NAME.prof")
	fs.StringVar(&blockprof, "blockprofile", "", "write a goroutine blocking profile of this process to this file")
	fs.StringVar(&mutexprof, "mutexprofile", "", "write a mutex contention profile of this process to this file")
	fs.BoolVar(&audited, "audit", true, "kept for old command lines: every tool call is audited, as the gateway ships")
	out.Register(fs, "goroutines carry labels role=client and target=SERVER")
	if code, ok := cli.Parse(fs, args, stderr); !ok {
		return code
	}
	modes, err := mcpclient.ParseModes(mode)
	if err != nil {
		fmt.Fprintf(stderr, "mcpload: %v\n", err)
		return 2
	}
	cfg.Modes = modes
	if !audited {
		fmt.Fprintln(stderr, "mcpload: -audit=false: the gateway as shipped audits every tool call")
		return 2
	}
	if cfg.Target != "" && !isSet(fs, "auth") {
		cfg.Auth = authOff
	}
	if cfg.Target != "" && !isSet(fs, "postgres-url") {
		cfg.PostgresURL = ""
	}
	cfg.Progress, cfg.Stderr = out.Progress(stderr), stderr
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(stderr, "mcpload: %v\n", err)
		return 2
	}
	if blockprof != "" {
		runtime.SetBlockProfileRate(int(10 * time.Microsecond))
		defer writeProfile("block", blockprof, stderr)
	}
	if mutexprof != "" {
		runtime.SetMutexProfileFraction(10)
		defer writeProfile("mutex", mutexprof, stderr)
	}
	return cli.Execute(ctx, "mcpload", out, stdout, stderr, func(ctx context.Context) (cli.Report, error) {
		return Run(ctx, cfg)
	})
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func writeProfile(name, path string, stderr io.Writer) {
	if err := cli.WriteProfile(name, path); err != nil {
		fmt.Fprintf(stderr, "mcpload: %s profile: %v\n", name, err)
	}
}
