package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	a2alegacy "github.com/a2aproject/a2a-go/a2a"
	a2ago "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/a2aproject/a2a-go/v2/a2asrv/eventqueue"
	"github.com/a2aproject/a2a-go/v2/a2asrv/workqueue"

	"github.com/parleyhq/parley/a2a"
	"github.com/parleyhq/parley/a2a/a2astore"
	"github.com/parleyhq/parley/a2a/relay"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/audit/auditgrpc"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
)

// A2A task timings. A task's event log is kept for a while after the task
// ends, so that a subscriber on another replica that was a moment behind
// still reads the end; the task itself is kept for good.
const (
	a2aEventRetention  = time.Hour
	a2aSweepInterval   = 10 * time.Minute
	a2aPushTimeout     = 30 * time.Second
	a2aCallbackTimeout = 10 * time.Second
	// a2aEventPoll is how soon a subscription pulls again after a pull
	// returned: a pull that finds nothing waits for the task's next write
	// itself (a2astore.Events), so this only spaces out busy tasks' pulls.
	a2aEventPoll = 10 * time.Millisecond
)

// buildA2A builds the gateway's own A2A face (a.A2A) on the store: tasks,
// push-notification configs, the work queue that lets any replica run a
// task and the event log that lets any replica follow one.
func (a *App) buildA2A(ctx context.Context, cfg config.Config, auditLog *audit.Log, schemes a2ago.NamedSecuritySchemes,
	security a2ago.SecurityRequirementsOptions, version string, logger *slog.Logger) error {
	log := logger.With("component", "a2a")
	a.a2aLog = log
	st := a.Store
	a.a2aNotifier = a2astore.NewNotifier(st)
	a.a2aTasks = a2astore.NewTaskStore(st, a2astore.TaskStoreOptions{IsAdmin: auth.IsAdmin, Logger: log})
	a.a2aWork = a2astore.NewWorkQueue(st, a2astore.WorkQueueOptions{Notifier: a.a2aNotifier, Logger: log})
	a.a2aDrain = cfg.ShutdownTimeout
	events := a2astore.NewEvents(st, a2astore.EventsOptions{Notifier: a.a2aNotifier, Logger: log})
	guard := a.Registry.Guard()
	var err error
	a.A2A, err = a2a.NewServer(a2a.Options{
		Tools: a2a.NewMCPTools(a.Bridge.Server(), nil),
		Tasks: a.a2aTasks,
		Owner: func(ctx context.Context, id string) (string, error) {
			t, err := st.GetA2ATask(ctx, id)
			return t.Caller, err
		},
		Cluster: &a2a.Cluster{
			WorkQueue: workqueue.NewPullQueue(a.a2aWork, nil),
			Events:    eventqueue.NewPullQueueManager(events.Provider, eventqueue.PullConfig{PollInterval: a2aEventPoll}),
		},
		PushConfigs:       a2astore.NewPushConfigs(st, log),
		PushClient:        guard.Client(a2aPushTimeout),
		CheckCallback:     callbackCheck(guard),
		PublicURL:         a.URL,
		GRPCListen:        cfg.GRPCListen,
		MaxBodyBytes:      cfg.MaxBodyBytes,
		MaxConns:          cfg.HTTP.MaxConns, // the gRPC port's limits are the HTTP server's
		MaxConnsPerClient: cfg.HTTP.MaxConnsPerClient,
		ShutdownTimeout:   cfg.ShutdownTimeout,
		Version:           version,
		Logger:            log,
		Metrics:           a.Metrics,
		Principal:         a.Auth.A2APrincipal,
		IsAdmin:           auth.IsAdmin,
		SecuritySchemes:   schemes,
		Security:          security,
		// Audit after auth: records name the caller. The relay's tenant
		// interceptors read the agent a call names (see GRPCHandler).
		GRPCServerOptions: append(append(a.Auth.GRPCServerOptions(), auditgrpc.ServerOptions(auditLog, describeA2AGRPC)...), relay.TenantServerOptions()...),
		// gRPC 1.0 calls naming a registered agent as their tenant are
		// relayed to it (the relay notes them as relayed for the audit);
		// the relay is built after the own face, before gRPC serves.
		GRPCHandler: func(own a2asrv.RequestHandler) a2asrv.RequestHandler {
			if a.Relay == nil {
				return own
			}
			return a.Relay.TenantHandler(own)
		},
	})
	if err != nil {
		return err
	}
	a.onClose(a.A2A.Close)
	return a.A2A.ListenGRPC(ctx)
}

// callbackCheck vets a push-notification callback URL with the registry's
// guard, saying why in the caller's terms (the guard's own words for a
// refused address, never what a name resolved to).
func callbackCheck(guard *agentcards.Guard) func(context.Context, string) error {
	return func(ctx context.Context, url string) error {
		ctx, cancel := context.WithTimeout(ctx, a2aCallbackTimeout)
		defer cancel()
		err := guard.CheckURL(ctx, url)
		if err == nil {
			return nil
		}
		var blocked *agentcards.BlockedError
		if errors.As(err, &blocked) {
			return errors.New(blocked.Explain())
		}
		if reason, ok := agentcards.NetErrorReason(err); ok {
			return errors.New(reason)
		}
		return err // the URL's form: the guard says it in the caller's terms
	}
}

// closeA2AWorkOnEnd stops the A2A work queue's reads when ctx ends (the
// servers have drained by then), and waits, for up to the shutdown
// timeout, for the executions still running to finish their tasks' last
// writes before the store closes: the SDK fails a task whose push
// notifications cannot be read from a closed store, even one it has just
// completed. An execution that outlasts the wait is failed as interrupted
// by the replica that takes its item over.
func (a *App) closeA2AWorkOnEnd(ctx context.Context) error {
	<-ctx.Done()
	if err := a.a2aWork.Close(); err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.a2aDrain)
	defer cancel()
	if err := a.a2aWork.Drain(dctx); err != nil {
		a.a2aLog.Warn("a2a: shutting down with executions still running", "err", err)
	}
	return nil
}

// sweepA2AEvents deletes the event logs of tasks that ended more than
// a2aEventRetention ago, every a2aSweepInterval, until ctx ends.
func (a *App) sweepA2AEvents(ctx context.Context) error {
	t := time.NewTicker(a2aSweepInterval)
	defer t.Stop()
	sweeps := newA2ASweepMetrics(a.Metrics)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		n, err := a.a2aTasks.SweepEvents(ctx, time.Now().Add(-a2aEventRetention))
		if ctx.Err() != nil {
			return nil
		}
		sweeps.record(n, err)
		if err != nil {
			a.a2aLog.WarnContext(ctx, "a2a: sweep the task event logs", "err", err)
		}
	}
}

// relaySecurity is what the gateway's card declares (auth.A2ASecurity), in
// the A2A 0.3 types the relay writes into the cards it serves: one OpenID
// Connect scheme and its required scopes.
func relaySecurity(schemes a2ago.NamedSecuritySchemes, security a2ago.SecurityRequirementsOptions) (a2alegacy.NamedSecuritySchemes, []a2alegacy.SecurityRequirements) {
	if schemes == nil {
		return nil, nil
	}
	out := a2alegacy.NamedSecuritySchemes{}
	for name, s := range schemes {
		if oidc, ok := s.(a2ago.OpenIDConnectSecurityScheme); ok {
			out[a2alegacy.SecuritySchemeName(name)] = a2alegacy.OpenIDConnectSecurityScheme{Description: oidc.Description, OpenIDConnectURL: oidc.OpenIDConnectURL}
		}
	}
	var reqs []a2alegacy.SecurityRequirements
	for _, r := range security {
		req := a2alegacy.SecurityRequirements{}
		for name, scopes := range r {
			req[a2alegacy.SecuritySchemeName(name)] = a2alegacy.SecuritySchemeScopes(scopes)
		}
		reqs = append(reqs, req)
	}
	return out, reqs
}
