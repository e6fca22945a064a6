package a2a

import (
	"path/filepath"
	"testing"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/parleyhq/parley/mcpbridge"
)

// TestTasksSurviveRestart: on every binding, a task finished through one
// server is read after that server and its store are closed and a new
// server is opened on the same SQLite file: whole, with its owner (who
// alone reaches it still).
func TestTasksSurviveRestart(t *testing.T) {
	for _, b := range bindings {
		t.Run(b.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "parley.db")
			st := openStore(t, path)
			first := startDurableGateway(t, st, wiring{})
			task := send(t, first.client(t, b, "alice"),
				toolMessage(mcpbridge.ToolSaveTicket, map[string]any{"customer": "Persisted"}))
			if task.Status.State != a2ago.TaskStateCompleted {
				t.Fatalf("state = %s (%s)", task.Status.State, statusText(task.Status))
			}
			first.stop()
			if err := st.Close(); err != nil {
				t.Fatalf("closing the first store: %v", err)
			}

			second := startDurableGateway(t, openStore(t, path), wiring{})
			got, err := second.client(t, b, "alice").GetTask(t.Context(), &a2ago.GetTaskRequest{ID: task.ID})
			if err != nil {
				t.Fatalf("GetTask after restart: %v", err)
			}
			data, _ := artifactData(t, got, mcpbridge.ToolSaveTicket)
			ticket, _ := data["ticket"].(map[string]any)
			if ticket["customer"] != "Persisted" || got.ID != task.ID || got.ContextID != task.ContextID {
				t.Errorf("after restart task = %+v, data %v; want task %s in context %s with the ticket of Persisted",
					got, data, task.ID, task.ContextID)
			}
			// The owner survives too: another caller still finds nothing.
			if _, err := second.client(t, b, "bob").GetTask(t.Context(), &a2ago.GetTaskRequest{ID: task.ID}); !isNotFound(err) {
				t.Errorf("bob's GetTask of alice's task after restart: %v, want task not found", err)
			}
		})
	}
}
