package a2astore_test

import (
	"context"
	"log/slog"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/a2aproject/a2a-go/v2/a2asrv/eventqueue"
	"github.com/a2aproject/a2a-go/v2/a2asrv/workqueue"
	"golang.org/x/sync/errgroup"

	"github.com/parleyhq/parley/a2a/a2astore"
	"github.com/parleyhq/parley/store"
)

// Example wires the SDK's cluster mode onto a store shared by the
// replicas. The store's own Run (the feed) is its owner's business.
func Example() {
	var (
		ctx      context.Context // the replica's lifetime
		st       store.Store
		agent    a2asrv.AgentExecutor
		replica  = "replica-1"
		logger   = slog.Default()
		isAdmin  = func(context.Context) bool { return false }
		g, gctx  = errgroup.WithContext(ctx)
		notifier = a2astore.NewNotifier(st)
	)
	g.Go(func() error { return notifier.Run(gctx) })

	tasks := a2astore.NewTaskStore(st, a2astore.TaskStoreOptions{IsAdmin: isAdmin, Logger: logger})
	work := a2astore.NewWorkQueue(st, a2astore.WorkQueueOptions{Owner: replica, Notifier: notifier, Logger: logger})
	events := a2astore.NewEvents(st, a2astore.EventsOptions{Notifier: notifier, Logger: logger})
	handler := a2asrv.NewHandler(agent,
		a2asrv.WithPushNotifications(a2astore.NewPushConfigs(st, logger), nil /* a push.Sender */),
		a2asrv.WithClusterMode(a2asrv.ClusterConfig{
			TaskStore:    tasks,
			WorkQueue:    workqueue.NewPullQueue(work, nil),
			QueueManager: eventqueue.NewPullQueueManager(events.Provider, eventqueue.PullConfig{PollInterval: 10 * time.Millisecond}),
		}))
	_ = handler // served over JSON-RPC, REST and gRPC

	// Finished tasks' event logs go after a while; the tasks stay.
	g.Go(func() error {
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-t.C:
				if _, err := tasks.SweepEvents(gctx, time.Now().Add(-24*time.Hour)); err != nil {
					logger.Warn("sweeping A2A task events failed", "error", err)
				}
			}
		}
	})
	// On shutdown: stop claiming work, then stop the rest.
	defer work.Close()
	_ = g.Wait()
}
