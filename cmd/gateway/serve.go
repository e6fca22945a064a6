package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/parleyhq/parley/app"
	"github.com/parleyhq/parley/config"
)

// serve runs the gateway until SIGINT or SIGTERM (or ctx ends), drains it,
// and closes the store.
func serve(ctx context.Context, e env, args []string) int {
	cfg, err := config.Load(args, e.getenv)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintln(e.stdout, "Usage: gateway [serve] [flags]")
		fmt.Fprintln(e.stdout)
		fmt.Fprintln(e.stdout, "Flags (precedence: flags > PARLEY_* environment > config file > defaults):")
		config.Usage(e.stdout)
		return exitOK
	case err != nil:
		// The message names the setting, the value and where it came
		// from; there is no logger yet to format it.
		fmt.Fprintln(e.stderr, err)
		return exitUsage
	}

	logger := app.NewLogger(cfg, e.stderr)
	logger.Info("starting parley", "version", resolveVersion(), "config", cfg)

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, restore the default handling, so that a
	// second Ctrl-C during a long drain kills the process at once.
	context.AfterFunc(ctx, stop)

	return runGateway(ctx, cfg, logger)
}

// runGateway runs the gateway configured by cfg until ctx ends, drains it,
// releases it and returns the exit status: the whole of "gateway serve"
// after the configuration is loaded and signals are hooked. The gateway is
// app.Build's, the one assembly that the demo, the benchmarks and the
// end-to-end tests run too.
func runGateway(ctx context.Context, cfg config.Config, logger *slog.Logger) int {
	gw, err := app.Build(ctx, cfg, app.Options{Logger: logger, Version: resolveVersion()})
	switch {
	case errors.Is(err, app.ErrInvalidRule):
		logger.Error("cannot start the gateway", "err", err)
		return exitUsage
	case err != nil:
		logger.Error("cannot start the gateway", "err", err)
		return exitFailure
	}
	runErr := gw.Run(ctx)
	if runErr != nil {
		logger.Error("gateway failed", "err", runErr)
	}
	if err := gw.Close(); err != nil {
		logger.Error("releasing the gateway (store, listeners)", "err", err)
		return exitFailure
	}
	if runErr != nil {
		return exitFailure
	}
	logger.Info("shut down")
	return exitOK
}
