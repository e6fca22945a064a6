// Command parley-agent runs one of Parley's example A2A agents (package
// examples/agents): triage, billing or escalation, as an a2a-go JSON-RPC
// server with its card at /.well-known/agent-card.json.
//
//	parley-agent -role escalation -listen 127.0.0.1:9102 -journal esc.jsonl
//
// Once serving it prints exactly one line to stdout,
//
//	parley-agent <name> listening on http://127.0.0.1:PORT/
//
// (the URL its card advertises), logs to stderr, and stops gracefully on
// SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/parleyhq/parley/examples/agents"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		var usage usageError
		if errors.As(err, &usage) {
			if !usage.printed {
				fmt.Fprintln(os.Stderr, "parley-agent:", err)
			}
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "parley-agent:", err)
		os.Exit(1)
	}
}

// usageError is a bad command line: exit status 2. printed: the flag
// package already said so.
type usageError struct {
	error
	printed bool
}

// run runs the agent until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("parley-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		role     = fs.String("role", "", "the agent to run: triage, billing or escalation (required)")
		name     = fs.String("name", "", "the agent's name in its card (default: the role)")
		listen   = fs.String("listen", "127.0.0.1:0", "address to listen on")
		url      = fs.String("url", "", "URL the card advertises (default: http://<listen address>/, 127.0.0.1 for an unspecified host)")
		delay    = fs.Duration("delay", 0, "think time spent on each message acted on, e.g. 200ms")
		journal  = fs.String("journal", "", "append one JSON line per negotiation turn decided to this file")
		logLevel = fs.String("log-level", "info", "log level: debug, info, warn or error")
		cache    = fs.Int("cache", agents.DefaultCacheSize, "how many answered turns to remember by messageId for resends")

		acceptRatio = fs.Float64("accept-ratio", agents.DefaultAcceptRatio, "billing: accept standing terms of at least this fraction of its last ask")
		baseLimit   = fs.Float64("base-limit", agents.DefaultBaseLimit, "escalation: approval limit for a standard customer")
		highValue   = fs.Float64("high-value-factor", agents.DefaultHighValueFactor, "escalation: limit factor for a high-value customer")
		newCustomer = fs.Float64("new-customer-factor", agents.DefaultNewCustomerFactor, "escalation: limit factor for a new customer")
		hardCap     = fs.Float64("hard-cap", agents.DefaultHardCap, "escalation: reject amounts above this")
		step        = fs.Float64("concession-step", 0, "escalation: concede in steps of this much (k-th move up to min(limit, k×step)); 0 counters at the limit at once")
	)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: parley-agent -role triage|billing|escalation [flags]\n\nRuns one of Parley's example A2A agents.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err, true}
	}
	if fs.NArg() > 0 {
		return usageError{error: fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageError{error: fmt.Errorf("-log-level: %w", err)}
	}
	for flagName, v := range map[string]float64{"accept-ratio": *acceptRatio, "base-limit": *baseLimit, "high-value-factor": *highValue,
		"new-customer-factor": *newCustomer, "hard-cap": *hardCap} {
		if v <= 0 {
			return usageError{error: fmt.Errorf("-%s must be positive", flagName)}
		}
	}
	if *step < 0 || *delay < 0 || *cache <= 0 {
		return usageError{error: errors.New("-concession-step and -delay must not be negative, -cache must be positive")}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	opts := agents.Options{
		Name: *name, URL: *url, Delay: *delay, Logger: log, CacheSize: *cache,
		AcceptRatio: *acceptRatio, BaseLimit: *baseLimit, HighValueFactor: *highValue, NewCustomerFactor: *newCustomer,
		HardCap: *hardCap, ConcessionStep: *step,
	}
	if *journal != "" {
		f, err := os.OpenFile(*journal, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		defer f.Close()
		opts.Journal = f
	}
	agent, err := agents.New(agents.Role(*role), opts)
	if err != nil {
		return usageError{error: fmt.Errorf("-role: %w", err)}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	serveURL := agents.URLFor(ln)
	if *url != "" {
		serveURL = *url
	}
	done := make(chan error, 1)
	go func() { done <- agents.Serve(ctx, ln, agent) }()
	log.Info("agent serving", "agent", agent.Name(), "role", *role, "url", serveURL, "addr", ln.Addr().String())
	fmt.Fprintf(stdout, "parley-agent %s listening on %s\n", agent.Name(), serveURL)
	err = <-done
	log.Info("agent stopped", "agent", agent.Name(), "error", err)
	return err
}
