// Package a2astore puts the A2A SDK's cluster mode (a2asrv.WithClusterMode)
// on Parley's store, so that every gateway replica can run, stream, cancel
// and read any task of the gateway's own A2A server:
//
//   - TaskStore is the SDK's taskstore.Store over store.A2ATasks: versioned
//     tasks whose every write logs the event that caused it.
//   - PushConfigs is the SDK's push.ConfigStore over store.A2APushConfigs.
//   - WorkQueue is a workqueue.ReadWriter (for workqueue.NewPullQueue) over
//     store.A2AWorkQueue: executions and cancelations held under leases.
//   - Events is an eventqueue.PullerProvider (for
//     eventqueue.NewPullQueueManager) reading the task event logs.
//   - Notifier turns the store's change feed into wake-ups for the work
//     queue and the event pullers, which otherwise fall back to polling.
//
// It depends on the SDK and the store only, not on package a2a.
package a2astore
