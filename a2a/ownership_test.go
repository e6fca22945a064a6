package a2a

import (
	"context"
	"errors"
	"net/http"
	"testing"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
	"github.com/a2aproject/a2a-go/v2/a2asrv/push"

	"github.com/parleyhq/parley/mcpbridge"
)

// withPush gives a test gateway push notifications: an in-memory config
// store, the given delivery client and callback check.
func withPush(client *http.Client, check func(context.Context, string) error) gatewayOptions {
	return func(o *Options) {
		o.PushConfigs = push.NewInMemoryStore()
		o.PushClient = client
		o.CheckCallback = check
	}
}

// ownedCall is one call on a task, as a caller other than its owner would
// make it.
type ownedCall struct {
	name string
	call func(ctx context.Context, c *a2aclient.Client, id a2ago.TaskID) error
}

var ownedCalls = []ownedCall{
	{"get", func(ctx context.Context, c *a2aclient.Client, id a2ago.TaskID) error {
		_, err := c.GetTask(ctx, &a2ago.GetTaskRequest{ID: id})
		return err
	}},
	{"cancel", func(ctx context.Context, c *a2aclient.Client, id a2ago.TaskID) error {
		_, err := c.CancelTask(ctx, &a2ago.CancelTaskRequest{ID: id})
		return err
	}},
	{"subscribe", func(ctx context.Context, c *a2aclient.Client, id a2ago.TaskID) error {
		for _, err := range c.SubscribeToTask(ctx, &a2ago.SubscribeToTaskRequest{ID: id}) {
			if err != nil {
				return err
			}
		}
		return errors.New("the subscription ended without an error")
	}},
	{"continue with a message", func(ctx context.Context, c *a2aclient.Client, id a2ago.TaskID) error {
		msg := toolMessage(mcpbridge.ToolGetStatus, nil)
		msg.Message.TaskID = id
		_, err := c.SendMessage(ctx, msg)
		return err
	}},
	{"create push config", func(ctx context.Context, c *a2aclient.Client, id a2ago.TaskID) error {
		_, err := c.CreateTaskPushConfig(ctx, &a2ago.PushConfig{TaskID: id, URL: "http://127.0.0.1:1/hook"})
		return err
	}},
	{"get push config", func(ctx context.Context, c *a2aclient.Client, id a2ago.TaskID) error {
		_, err := c.GetTaskPushConfig(ctx, &a2ago.GetTaskPushConfigRequest{TaskID: id, ID: "cfg-1"})
		return err
	}},
	{"list push configs", func(ctx context.Context, c *a2aclient.Client, id a2ago.TaskID) error {
		_, err := c.ListTaskPushConfigs(ctx, &a2ago.ListTaskPushConfigRequest{TaskID: id})
		return err
	}},
	{"delete push config", func(ctx context.Context, c *a2aclient.Client, id a2ago.TaskID) error {
		return c.DeleteTaskPushConfig(ctx, &a2ago.DeleteTaskPushConfigRequest{TaskID: id, ID: "cfg-1"})
	}},
}

// TestTaskOwnership: a caller reaches only the tasks it started: another
// caller's task answers "task not found" to every call that names it, on
// every binding; an administrator reaches it.
func TestTaskOwnership(t *testing.T) {
	g := startGateway(t, withPush(&http.Client{}, func(context.Context, string) error { return nil }))
	for _, b := range bindings {
		t.Run(b.name, func(t *testing.T) {
			alice := g.client(t, b, "alice")
			task := send(t, alice, toolMessage(mcpbridge.ToolSaveTicket, map[string]any{"customer": "Owned"}))
			// alice's config, which the others must not reach either.
			if _, err := alice.CreateTaskPushConfig(t.Context(), &a2ago.PushConfig{TaskID: task.ID, ID: "cfg-1", URL: "http://127.0.0.1:1/hook"}); err != nil {
				t.Fatalf("alice's CreateTaskPushConfig: %v", err)
			}
			for _, user := range []string{"bob", ""} {
				c := g.client(t, b, user)
				for _, call := range ownedCalls {
					if err := call.call(t.Context(), c, task.ID); !isNotFound(err) {
						t.Errorf("caller %q, %s on alice's task: %v, want task not found", user, call.name, err)
					}
				}
			}
			root := g.client(t, b, "root")
			got, err := root.GetTask(t.Context(), &a2ago.GetTaskRequest{ID: task.ID})
			if err != nil || got.ID != task.ID {
				t.Errorf("administrator's GetTask of alice's task = %v, %v", got, err)
			}
			cfgs, err := root.ListTaskPushConfigs(t.Context(), &a2ago.ListTaskPushConfigRequest{TaskID: task.ID})
			if err != nil || len(cfgs) != 1 || cfgs[0].ID != "cfg-1" {
				t.Errorf("administrator's ListTaskPushConfigs of alice's task = %v, %v; want alice's config", cfgs, err)
			}
			// The task is finished: not cancelable, but found.
			if _, err := root.CancelTask(t.Context(), &a2ago.CancelTaskRequest{ID: task.ID}); err == nil || isNotFound(err) {
				t.Errorf("administrator's CancelTask of alice's completed task = %v, want not cancelable", err)
			}
		})
	}
}
