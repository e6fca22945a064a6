package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/parleyhq/parley/demo"
)

// demoCmd is "gateway demo": the whole support pipeline on this machine,
// with nothing to install and nothing left behind (package demo).
func demoCmd(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("gateway demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	storeURL := fs.String("store", "", "the store to use: sqlite://PATH or postgres://… (default: a fresh SQLite file in a temporary directory, removed on exit)")
	keep := fs.Bool("keep", false, "keep the temporary store's directory on exit")
	timeout := fs.Duration("timeout", 60*time.Second, "give up if the pipeline takes longer than this")
	think := fs.Duration("think", 150*time.Millisecond, "the agents' think time per message (0 for none)")
	logLevel := fs.String("log-level", "warn", "the gateway's and agents' log level on stderr: debug, info, warn, error")
	withUI := fs.Bool("ui", false, "keep the gateway and agents running after the pipeline and print the web UI's URL (http://127.0.0.1:PORT/ui/), until Ctrl-C")
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		demoUsage(e.stdout, fs)
		return exitOK
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err == nil && (*timeout <= 0 || *think < 0) {
		err = errors.New("--timeout must be positive and --think not negative")
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "gateway demo: %v\n\n", err)
		demoUsage(e.stderr, fs)
		return exitUsage
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = demo.Run(ctx, demo.Options{
		Store: *storeURL, Keep: *keep, Timeout: *timeout, Think: *think, LogLevel: *logLevel, UI: *withUI,
		Version: resolveVersion(), Stdout: e.stdout, Stderr: e.stderr,
	})
	switch {
	case errors.Is(err, demo.ErrInvalidOptions):
		fmt.Fprintf(e.stderr, "gateway demo: %v\n", err)
		return exitUsage
	case err != nil:
		fmt.Fprintf(e.stderr, "gateway demo: FAILED: %v\n", err)
		return exitFailure
	}
	return exitOK
}

func demoUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "Usage: gateway demo [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Runs the support pipeline end to end on this machine: the gateway (in-process,")
	fmt.Fprintln(w, "SQLite in a temporary directory, loopback, no auth), the triage, billing and")
	fmt.Fprintln(w, "escalation A2A agents, and MCP clients that file a ticket, triage and analyse it,")
	fmt.Fprintln(w, "and let an over-limit refund be negotiated between the agents. PARLEY_* settings")
	fmt.Fprintln(w, "and config files are not read. Exits 0 when the pipeline completes.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Flags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}
