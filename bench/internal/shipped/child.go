package shipped

import (
	"context"
	"errors"
	"flag"
	"os"

	"github.com/parleyhq/parley/bench/internal/child"
	"github.com/parleyhq/parley/config"
)

// ChildOptions are what a benchmark's gateway child adds to the shipped
// configuration. The zero value serves Config(-store), auth on with no
// policy if -issuer is given, and reports {"url": the /mcp URL}.
type ChildOptions struct {
	// Flags, if set, registers the child's own flags beside -store,
	// -issuer, -log and -cpuprofile; Configure, if set, reads them into
	// the configuration.
	Flags     func(fs *flag.FlagSet)
	Configure func(cfg *config.Config)
	// Policy is the permission policy with auth on.
	Policy []config.PolicyRule
	// Ready, if set, is what the child reports once the gateway runs
	// (after waiting for whatever it needs); an error stops the child.
	Ready func(ctx context.Context, g *Gateway) (any, error)
}

// childReady is what a gateway child reports by default.
type childReady struct {
	URL string `json:"url"`
}

// ServeChild is the body of a gateway child (a child.Func called name):
// config.Default() (Config) with the store -store and, with -issuer, auth
// on with o.Policy, built by app.Build and run as serve runs it, logging
// as serve does (text, info) to -log (os.DevNull by default), with a CPU
// profile of the process in -cpuprofile (child.Profile), until ctx ends.
func ServeChild(ctx context.Context, name string, args []string, readyFn func(any) error, o ChildOptions) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	storeURL := fs.String("store", "", "store URL")
	issuer := fs.String("issuer", "", "OIDC issuer (auth on)")
	logPath := fs.String("log", "", "log file (default: os.DevNull)")
	if o.Flags != nil {
		o.Flags(fs)
	}
	stopProfile, err := child.ParseFlags(fs, args)
	if err != nil {
		return err
	}
	defer stopProfile()
	cfg := Config(*storeURL)
	if o.Configure != nil {
		o.Configure(&cfg)
	}
	if *issuer != "" {
		cfg = WithAuth(cfg, *issuer, o.Policy...)
	}
	var opts Options
	if *logPath != "" {
		f, err := os.Create(*logPath)
		if err != nil {
			return err
		}
		defer f.Close()
		opts.Log = f
	}
	g, err := Start(ctx, cfg, opts)
	if err != nil {
		return err
	}
	var ready any = childReady{URL: g.MCPURL()}
	if o.Ready != nil {
		ready, err = o.Ready(ctx, g)
	}
	if err == nil {
		err = readyFn(ready)
	}
	if err != nil {
		return errors.Join(err, g.Close())
	}
	<-ctx.Done()
	return g.Close()
}
