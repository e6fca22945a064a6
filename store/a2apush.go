package store

import (
	"context"
	"encoding/json"
)

// A2APushConfig is a push notification configuration of an A2A task.
// Config is the whole configuration as JSON, owned by the A2A layer.
type A2APushConfig struct {
	TaskID string
	ID     string
	Config json.RawMessage
}

// A2APushConfigs keeps the push notification configurations of the
// gateway's own A2A tasks, so that whichever replica runs a task notifies
// every webhook its callers registered.
type A2APushConfigs interface {
	// SaveA2APushConfig creates the configuration id of the task, or
	// replaces it (it keeps its place in the listing order).
	SaveA2APushConfig(ctx context.Context, taskID, id string, config []byte) error
	// GetA2APushConfig returns one configuration; ErrNotFound if there is
	// none.
	GetA2APushConfig(ctx context.Context, taskID, id string) (A2APushConfig, error)
	// ListA2APushConfigs returns the task's configurations in the order
	// they were created; none (not an error) for an unknown task.
	ListA2APushConfigs(ctx context.Context, taskID string) ([]A2APushConfig, error)
	// DeleteA2APushConfig deletes one configuration; deleting one that is
	// absent is not an error.
	DeleteA2APushConfig(ctx context.Context, taskID, id string) error
	// DeleteA2APushConfigs deletes all of the task's configurations.
	DeleteA2APushConfigs(ctx context.Context, taskID string) error
}
