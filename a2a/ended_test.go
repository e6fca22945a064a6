package a2a

import (
	"errors"
	"testing"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/parleyhq/parley/mcpbridge"
)

// TestSubscribeToEndedTask: subscribing to a task that has ended answers
// UnsupportedOperationError (A2A 1.0 §3.1.6), on every binding and in both
// versions, and nothing else; another caller's ended task stays not found.
func TestSubscribeToEndedTask(t *testing.T) {
	g := startGateway(t)
	for _, b := range bindings {
		t.Run(b.name, func(t *testing.T) {
			c := g.client(t, b, "alice")
			task := send(t, c, toolMessage(mcpbridge.ToolSaveTicket, map[string]any{
				"customer": "ACME Corp", "category": "billing", "summary": "Charged twice",
			}))
			if !task.Status.State.Terminal() {
				t.Fatalf("task state %s, want an ended task", task.Status.State)
			}
			var events int
			var subErr error
			for ev, err := range c.SubscribeToTask(t.Context(), &a2ago.SubscribeToTaskRequest{ID: task.ID}) {
				if err != nil {
					subErr = err
					break
				}
				if ev != nil {
					events++
				}
			}
			if !errors.Is(subErr, a2ago.ErrUnsupportedOperation) || events != 0 {
				t.Errorf("subscribe to an ended task: %d events, error %v; want no event and UnsupportedOperationError", events, subErr)
			}
			bob := g.client(t, b, "bob")
			for _, err := range bob.SubscribeToTask(t.Context(), &a2ago.SubscribeToTaskRequest{ID: task.ID}) {
				if !isNotFound(err) {
					t.Errorf("another caller subscribing to the ended task: %v, want task not found", err)
				}
				break
			}
		})
	}
}
