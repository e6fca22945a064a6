// Package shipped runs the gateway as it ships for a benchmark: the
// configuration "gateway serve" starts from (config.Default), with only
// what a benchmark must choose changed (the store, a free port on
// 127.0.0.1, gRPC off, an issuer when auth is on), assembled by app.Build
// and served by App.Run, logging through the same slog handler at the same
// level as serve, so that the access log, request IDs, auth, audit and the
// durable MCP event store are all in the figures.
package shipped

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/pprof"
	"slices"

	"github.com/parleyhq/parley/app"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
)

// Config is config.Default() with the store at storeURL (sqlite://PATH or
// a postgres:// URL), HTTP on a free port of 127.0.0.1 and the gRPC
// binding off (the default 127.0.0.1:8081 would clash between runs, and a
// second port 0 is refused as the HTTP listen address).
func Config(storeURL string) config.Config {
	cfg := config.Default()
	cfg.Store = storeURL
	cfg.Listen = "127.0.0.1:0"
	cfg.GRPCListen = ""
	return cfg
}

// WithAuth turns auth on in cfg: tokens from issuer, and policy as the
// permission policy. The audience is set when the gateway starts (Start):
// the MCP resource URL of the port it bound, which is what MCP clients
// ask tokens for (RFC 8707).
func WithAuth(cfg config.Config, issuer string, policy ...config.PolicyRule) config.Config {
	cfg.Auth.Issuer = issuer
	cfg.Auth.Policy = slices.Clone(policy)
	return cfg
}

// Options are how a benchmark runs the gateway.
type Options struct {
	// Log receives the gateway's log lines, formatted by serve's handler
	// at the configured level (info by default: every request is in the
	// access log). Nil writes them to os.DevNull, so the formatting and
	// the write are paid as in production, but nothing is kept.
	Log io.Writer
	// Handler, if set, wraps the gateway's slog handler (to count
	// warnings, for example); the wrapped handler still gets every record.
	Handler func(slog.Handler) slog.Handler
	// Labels, if set, label the gateway's goroutines in CPU profiles:
	// those Build starts and everything Run starts, connections included.
	Labels pprof.LabelSet
	// Listener, if set, wraps the bound HTTP listener (to count the
	// connections it accepts, for example).
	Listener func(net.Listener) net.Listener
}

// Gateway is a running gateway; its App's fields are its parts.
type Gateway struct {
	*app.App
	stop    context.CancelFunc
	done    chan error
	devnull *os.File
}

// Start binds cfg.Listen, builds the gateway with app.Build and runs it
// until Close. With auth on and no audience configured, the MCP resource
// URL of the bound port is the audience.
func Start(ctx context.Context, cfg config.Config, opts Options) (_ *Gateway, err error) {
	g := &Gateway{done: make(chan error, 1)}
	w := opts.Log
	if w == nil {
		if g.devnull, err = os.OpenFile(os.DevNull, os.O_WRONLY, 0); err != nil {
			return nil, err
		}
		w = g.devnull
	}
	defer func() {
		if err != nil && g.devnull != nil {
			_ = g.devnull.Close()
		}
	}()
	logger := app.NewLogger(cfg, w)
	if opts.Handler != nil {
		logger = slog.New(opts.Handler(logger.Handler()))
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	if opts.Listener != nil {
		ln = opts.Listener(ln)
	}
	if cfg.Auth.Enabled() && len(cfg.Auth.Audiences) == 0 {
		cfg.Auth.Audiences = []string{cfg.PublicBaseURL(ln.Addr().String()) + auth.MCPPath}
	}
	if err := cfg.Validate(); err != nil {
		ln.Close()
		return nil, fmt.Errorf("configuration: %w", err)
	}
	labels := opts.Labels
	pprof.Do(ctx, labels, func(ctx context.Context) {
		g.App, err = app.Build(ctx, cfg, app.Options{Logger: logger, Version: "bench", Listener: ln})
	})
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	g.stop = stop
	go pprof.Do(runCtx, labels, func(ctx context.Context) { g.done <- g.App.Run(ctx) })
	return g, nil
}

// MCPURL is the gateway's /mcp endpoint.
func (g *Gateway) MCPURL() string { return g.URL + auth.MCPPath }

// Close drains the gateway (App.Run returns) and releases it (App.Close).
func (g *Gateway) Close() error {
	g.stop()
	err := errors.Join(<-g.done, g.App.Close())
	if g.devnull != nil {
		err = errors.Join(err, g.devnull.Close())
	}
	return err
}
