// Command gateway is the Parley binary: an MCP and A2A gateway over shared
// state.
//
//	gateway [serve] [flags]   run the gateway (the default)
//	gateway demo              run the support pipeline end to end, locally
//	gateway version           print the version
//	gateway help              list the commands
//
// Run "gateway serve -h" for the flags; each has a PARLEY_* environment
// variable twin, and --config names a YAML file.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// version is the release, stamped at build time:
//
//	go build -ldflags "-X main.version=v1.2.3" ./cmd/gateway
//
// When empty, the module version from the build info is used, else "dev".
var version string

// Exit statuses. Scripts rely on 2 meaning "fix how you started me".
const (
	exitOK      = 0
	exitFailure = 1 // could not start, or did not stop cleanly
	exitUsage   = 2 // bad command line or configuration
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// env is what a command may touch of the process, passed in so that
// commands run in tests as they do for real.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// command is one subcommand. run gets the arguments after the command's
// name and returns the exit status.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e env, args []string) int
}

// commands is the dispatch table; a new subcommand is one entry here.
func commands() []command {
	return []command{
		{"serve", "run the gateway (the default when no command is given)", serve},
		{"demo", "run the support pipeline end to end: gateway, three A2A agents, MCP clients, a negotiation", demoCmd},
		{"version", "print the version", printVersion},
		{"client", "an MCP client for trying tools: a prompt, or one call", clientCmd},
		{"agents", "register, list and remove A2A agents (through a running gateway's admin API)", agentsCmd},
		{"upstreams", "register, list and remove the MCP servers Parley fronts (through a running gateway's admin API)", upstreamsCmd},
		{"audit", "verify the audit log's hash chain, or list its records (from the database)", auditCmd},
		{"help", "show this help", help},
	}
}

// defaultCommand runs when there are no arguments or the first is a flag,
// so that "gateway --listen :9000" serves.
const defaultCommand = "serve"

// run is main without the process: it dispatches args to a command and
// returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	e := env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	name, rest := defaultCommand, args
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, rest = args[0], args[1:]
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, e, rest)
		}
	}
	fmt.Fprintf(stderr, "parley: unknown command %q\n\n", name)
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: gateway [command] [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "gateway serve -h" for the server's flags.`)
	fmt.Fprintln(w, `Run "gateway demo -h" for the demo's.`)
	fmt.Fprintln(w, `Run "gateway client -h" for the client's.`)
	fmt.Fprintln(w, `Run "gateway agents -h" for the agent registry's.`)
	fmt.Fprintln(w, `Run "gateway upstreams -h" for the upstream MCP servers'.`)
	fmt.Fprintln(w, `Run "gateway audit -h" for the audit log's.`)
}

func help(_ context.Context, e env, _ []string) int {
	usage(e.stdout)
	return exitOK
}
