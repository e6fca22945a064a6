// Package demo runs Parley's support pipeline end to end on this machine,
// with nothing to install and nothing left behind: "gateway demo".
//
// Run assembles the gateway with app.Build (the assembly "gateway serve"
// runs) on a fresh SQLite file in a temporary directory, listening on a
// loopback port in no-auth mode with the escalation rule refund-over-limit;
// starts the three example A2A agents (triage, billing, escalation) of
// examples/agents on loopback ports; registers them through the admin API;
// and drives the pipeline with MCP clients over HTTP, printing what
// happens: triage through the agent_triage tool, four analyses in
// parallel, billing claiming the task and setting the refund, the
// negotiation the rule starts (live, from wait_for_ticket's progress), its
// transcript from negotiation://{id}, the resource updates a subscriber
// heard, the resolution and the final ticket.
//
// The files follow the run: demo.go the run's life (options, gateway,
// shutdown), config.go the gateway's configuration, pipeline.go the
// pipeline's steps, agents.go the example agents, client.go the MCP client
// helpers, printer.go and describe.go the output.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/parleyhq/parley/app"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/observe"
)

// Options configure one run of the demo.
type Options struct {
	// Store is the store to use: sqlite://PATH, a bare SQLite path, or
	// postgres://…; it is kept. Empty: a fresh SQLite file in a temporary
	// directory, removed when Run returns (unless Keep).
	Store string
	// Keep keeps the temporary store's directory when Run returns.
	Keep bool
	// Timeout bounds the pipeline, and the gateway's start. Zero: 60s.
	Timeout time.Duration
	// Think is the agents' think time per message (0 for none).
	Think time.Duration
	// LogLevel is the gateway's and agents' log level: debug, info, warn,
	// error. Empty: warn.
	LogLevel string
	// Version is the release the gateway and the MCP clients name.
	// Empty: "dev".
	Version string
	// UI keeps the gateway and the agents running after the pipeline,
	// with the web UI's URL printed, until ctx ends (Ctrl-C).
	UI bool
	// Stdout receives the demo's account of the pipeline; Stderr the
	// gateway's and the agents' logs. Nil discards.
	Stdout, Stderr io.Writer
}

// ErrInvalidOptions reports options the demo cannot run with: the caller
// is to fix how it started the demo, not the machine.
var ErrInvalidOptions = errors.New("invalid demo options")

// invalidOptions is an error in the options, reported as it is (without
// the sentinel's words) and matching ErrInvalidOptions.
type invalidOptions struct{ err error }

func (e invalidOptions) Error() string   { return e.err.Error() }
func (e invalidOptions) Unwrap() []error { return []error{ErrInvalidOptions, e.err} }

// errTimeout is the pipeline's context cause once opts.Timeout has passed.
var errTimeout = errors.New("the demo's timeout passed")

// demo is one run of the demo: what every step shares.
type demo struct {
	out     *printer
	log     *slog.Logger
	cfg     config.Config
	think   time.Duration
	timeout time.Duration
	version string
	started time.Time
	// transport carries every request the demo's clients make, so that
	// its connections can be closed before the gateway drains.
	transport *http.Transport
	http      *http.Client
	// tempStore: the store is a temporary file, removed on exit.
	tempStore bool
	// ui: hold the gateway and agents for the web UI after the pipeline
	// (ui.go), until hold ends.
	ui   bool
	hold context.Context

	mcpURL string
}

// Run runs the demo: it starts the gateway and the agents, runs the
// pipeline within opts.Timeout, stops everything and removes the
// temporary store. It returns nil when the pipeline completed; an error
// matching ErrInvalidOptions when the options are wrong; otherwise an
// error saying which step failed (the gateway's and agents' own logs, on
// opts.Stderr, say more). If ctx ends first, the error says "interrupted".
func Run(ctx context.Context, opts Options) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	cfg, store, err := configure(opts)
	if err != nil {
		return err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	d := &demo{
		out: &printer{w: opts.Stdout}, cfg: cfg, think: opts.Think, timeout: opts.Timeout, version: opts.Version,
		started: time.Now(), transport: transport, http: &http.Client{Transport: transport},
		tempStore: store.temporary && !opts.Keep, ui: opts.UI,
	}
	// Lines logged inside a span carry its trace_id and span_id.
	d.log = slog.New(observe.LogHandler(slog.NewTextHandler(opts.Stderr, &slog.HandlerOptions{Level: cfg.SlogLevel()})))
	err = d.run(ctx)
	store.release(d)
	return err
}

func (o Options) withDefaults() (Options, error) {
	if o.Timeout == 0 {
		o.Timeout = 60 * time.Second
	}
	if o.LogLevel == "" {
		o.LogLevel = "warn"
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if o.Timeout < 0 || o.Think < 0 {
		return o, invalidOptions{errors.New("--timeout must be positive and --think not negative")}
	}
	return o, nil
}

// run starts the gateway, runs the pipeline beside it (a gateway that
// fails stops the pipeline; the pipeline's end stops the gateway), and
// says how it went.
func (d *demo) run(ctx context.Context) error {
	d.out.title("Parley demo: a support ticket through shared MCP state and an A2A negotiation")
	d.out.plain("(the gateway's and agents' own logs, %s and above, go to stderr)", d.cfg.LogLevel)

	gw, err := d.startGateway(ctx)
	if err != nil {
		return err
	}
	d.mcpURL = gw.URL + "/mcp"

	g, gctx := errgroup.WithContext(ctx)
	serveCtx, stopServing := context.WithCancel(gctx)
	defer stopServing()
	g.Go(func() error {
		if err := gw.Run(serveCtx); err != nil {
			d.log.Error("gateway failed", "err", err)
			return errors.New("the gateway stopped (its log is above)")
		}
		return nil
	})
	g.Go(func() error {
		defer stopServing() // the pipeline is over: drain the gateway
		return d.runPipeline(gctx, gw)
	})
	err = g.Wait()
	if cerr := gw.Close(); cerr != nil {
		d.log.Error("releasing the gateway (store, listeners)", "err", cerr)
		if err == nil {
			err = errors.New("the gateway did not shut down cleanly (its log is above)")
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted: %w", err)
		}
		return err
	}
	d.out.blank()
	d.out.plain("Demo complete in %s: triaged, analysed, negotiated over A2A, written back, resolved.", time.Since(d.started).Round(10*time.Millisecond))
	return nil
}

// startGateway assembles the gateway and binds its listener, within the
// demo's timeout. Why it failed goes to the log, which names the setting
// or the file at fault.
func (d *demo) startGateway(ctx context.Context) (*app.App, error) {
	// Build's context bounds the build only: the gateway lives on until
	// Run's context ends.
	bctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	gw, err := app.Build(bctx, d.cfg, app.Options{Logger: d.log, Version: d.version})
	switch {
	case err != nil && bctx.Err() != nil && ctx.Err() == nil:
		d.log.Error("cannot start the gateway", "err", err)
		return nil, fmt.Errorf("the gateway did not start within %s", d.timeout)
	case err != nil:
		d.log.Error("cannot start the gateway", "err", err)
		return nil, errors.New("the gateway did not start (its log is above)")
	}
	return gw, nil
}

// runPipeline runs the pipeline within the demo's timeout, and closes the
// clients' idle connections after it, so that the gateway's drain does not
// wait for them.
func (d *demo) runPipeline(ctx context.Context, gw *app.App) error {
	pctx, cancel := context.WithTimeoutCause(ctx, d.timeout, errTimeout)
	defer cancel()
	d.hold = ctx // not bounded by the timeout: the UI is held until Ctrl-C
	err := d.drive(pctx, gw)
	d.transport.CloseIdleConnections()
	if err != nil && errors.Is(context.Cause(pctx), errTimeout) {
		err = fmt.Errorf("%w (the demo gives up after %s; --timeout changes that)", err, d.timeout)
	}
	return err
}
