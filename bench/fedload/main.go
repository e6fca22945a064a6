// Command fedload measures issue 12's federation: a trivial tool of an
// upstream MCP server called through Parley against the same tool called
// directly, in both protocol generations, in one run.
//
// Every server runs in a process of its own, this program started again
// (bench/internal/child), so that each server's CPU time is read from its
// own process (/proc/PID/stat) and not mixed with the other's or the
// clients', which run here:
//
//   - upstream: a go-sdk server with one tool, echo, which returns its
//     text, behind the SDK's Streamable HTTP handlers. At /mcp it serves
//     both generations, dispatched as Parley's /mcp (and mcpload's bare
//     server) dispatches them; at /sessions it serves only sessions.
//   - parley: the gateway built by app.Build from config.Default(), as
//     "gateway serve" builds it (HTTP middleware, request IDs, the access
//     log at info to os.DevNull, the audit log), over a fresh SQLite file,
//     auth off (or on with -auth on: a local OIDC issuer, a policy, a
//     token per client), with the upstream twice in mcp.upstreams: "echo"
//     at /mcp with prefix never (its tool keeps the name echo) and
//     "sessions" at /sessions with prefix always (sessions_echo).
//
// Which generation Parley speaks to the upstream is Parley's choice, not
// the host's: its go-sdk client asks for 2026-07-28 first and falls back
// to initialize, so it speaks 2026-07-28 to "echo" (which offers both) and
// 2025-11-25 to "sessions" (which offers only sessions), whatever the host
// speaks. One upstream process reached at two paths, rather than two
// upstream processes, so that every figure is of the same server and the
// same tool, and the direct calls of each generation go to the very
// process Parley calls.
//
// The scenarios, for each host generation (stateless = 2026-07-28,
// session = 2025-11-25): direct (the hosts call echo on the upstream's
// /mcp), and through Parley to each registration. The clients connect
// first; every scenario gets a warm-up, then is measured in -rounds turns
// taken in rotation with all the others. Every scenario runs as fast as
// the clients go (the machine's CPU is then the bottleneck, and latency is
// mostly the wait for it) and, with -rate (200 calls a second by
// default), at a fixed rate the machine sustains, where the latency
// Parley adds is its own. During every turn both
// processes' CPU times are read. The report gives per scenario
// throughput, latencies, the upstream's CPU per call and (through Parley)
// Parley's; and per scenario through Parley: Parley's CPU per proxied
// call ÷ the upstream's CPU per call in the same turns (target ≤ 1), and
// the p99 Parley adds, through − directly in the same host generation
// (target < 2 ms at 16 clients).
//
//	go run ./bench/fedload                                  # 16 clients, 10 s per scenario in 5 rounds
//	go run ./bench/fedload -server-cpuprofile /tmp/fed      # and /tmp/fed.parley.prof, /tmp/fed.upstream.prof
//
// -cpuprofile profiles this process (the clients); -server-cpuprofile
// PREFIX makes each server write PREFIX.NAME.prof of its own process,
// from the end of the set-up to the end of the run (warm-ups included).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

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
	fs, stderr := cli.NewFlagSet("fedload", stderr)
	var (
		cfg      Config
		out      cli.Output
		mode     string
		upstream string
		authFlag string
	)
	fs.IntVar(&cfg.Clients, "clients", 16, "concurrent MCP clients (one ClientSession and connection pool each, per generation and server)")
	cli.RegisterTiming(fs, &cfg.Duration, &cfg.Warmup, &cfg.Rounds, &cfg.CallTimeout)
	fs.StringVar(&mode, "mode", "both", "the hosts' protocol generation: stateless (2026-07-28), session (2025-11-25) or both")
	fs.StringVar(&upstream, "upstream", "both", "the generation Parley speaks to the upstream: stateless (2026-07-28), session (2025-11-25) or both")
	fs.StringVar(&authFlag, "auth", "off", "the gateway's auth: off, or on (a local OIDC issuer and a token per client)")
	fs.Float64Var(&cfg.Rate, "rate", 200, "also measure every scenario at this fixed rate, calls a second over all clients (0: not)")
	fs.IntVar(&cfg.TextBytes, "text-bytes", 64, "size of the text echo sends back")
	fs.BoolVar(&cfg.EchoWrite, "echo-write", false, "leave echo's readOnlyHint annotation off: Parley audits its calls as writes (record committed before the answer) instead of reads (queued)")
	fs.StringVar(&cfg.ServerLog, "server-log", "", "directory for the gateway's log, parley.log (default: os.DevNull)")
	fs.StringVar(&cfg.ServerCPUProfile, "server-cpuprofile", "", "each server writes a CPU profile of its process to this prefix + .NAME.prof (NAME: parley, upstream)")
	out.Register(fs, "goroutines carry labels role=client and target=SERVER")
	if code, ok := cli.Parse(fs, args, stderr); !ok {
		return code
	}
	bad := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "fedload: "+format+"\n", args...)
		return 2
	}
	modes, err := mcpclient.ParseModes(mode)
	if err != nil {
		return bad("%v", err)
	}
	cfg.Modes = modes
	switch upstream {
	case "both":
		cfg.Upstreams = []string{upstreamStateless, upstreamSessions}
	case string(mcpclient.ModeStateless):
		cfg.Upstreams = []string{upstreamStateless}
	case string(mcpclient.ModeSession):
		cfg.Upstreams = []string{upstreamSessions}
	default:
		return bad("-upstream %q: want stateless, session or both", upstream)
	}
	switch authFlag {
	case "off":
	case "on":
		cfg.Auth = true
	default:
		return bad("-auth %q: want off or on", authFlag)
	}
	if cfg.Clients < 1 {
		return bad("-clients %d: want at least 1", cfg.Clients)
	}
	if cfg.Rounds < 1 {
		return bad("-rounds %d: want at least 1", cfg.Rounds)
	}
	if cfg.TextBytes == 0 {
		return bad("-text-bytes 0: want at least 16")
	}
	cfg.Progress, cfg.Stderr = out.Progress(stderr), stderr
	if err := cfg.validate(); err != nil {
		return bad("%s", strings.TrimPrefix(err.Error(), "fedload: "))
	}
	return cli.Execute(ctx, "fedload", out, stdout, stderr, func(ctx context.Context) (cli.Report, error) {
		return Run(ctx, cfg)
	})
}
