package a2a

import (
	"fmt"
	"strings"
	"testing"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/mcpbridge"
)

// TestWorkspaceSkill drives the workspace skill end to end with a2a-go
// v2's client over each binding in each protocol version: blocking send,
// streaming send, get, cancel, list, and rejected messages.
func TestWorkspaceSkill(t *testing.T) {
	for _, b := range bindings {
		t.Run(b.name, func(t *testing.T) {
			g := startGateway(t)
			c := g.client(t, b, "alice")
			bob := g.client(t, b, "bob")
			ctx := t.Context()

			var ticketID string
			var saved *a2ago.Task
			t.Run("blocking send", func(t *testing.T) {
				saved = send(t, c, toolMessage(mcpbridge.ToolSaveTicket, map[string]any{
					"customer": "ACME Corp", "category": "billing", "summary": "Charged twice", "refund_amount": 120,
				}))
				data, text := artifactData(t, saved, mcpbridge.ToolSaveTicket)
				ticket, _ := data["ticket"].(map[string]any)
				ticketID, _ = ticket["id"].(string)
				if data["created"] != true || ticketID == "" || ticket["customer"] != "ACME Corp" {
					t.Fatalf("save_ticket data = %v", data)
				}
				if !strings.Contains(text, ticketID) {
					t.Errorf("artifact text %q lacks the ticket ID", text)
				}
				got := send(t, c, toolMessage(mcpbridge.ToolGetTicket, map[string]any{"ticket_id": ticketID}))
				data, _ = artifactData(t, got, mcpbridge.ToolGetTicket)
				if data["id"] != ticketID || data["category"] != "billing" || data["refund_amount"] != 120.0 {
					t.Errorf("get_ticket data = %v", data)
				}
				// The write went through MCP in the caller's name.
				hist, err := g.st.TicketHistory(ctx, ticketID)
				if err != nil || len(hist) != 1 || hist[0].Actor != "a2a:alice" {
					t.Errorf("ticket history = %+v, %v; want one entry by a2a:alice", hist, err)
				}
			})
			if saved == nil {
				t.FailNow()
			}

			t.Run("tool error fails the task", func(t *testing.T) {
				task := send(t, c, toolMessage(mcpbridge.ToolGetTicket, map[string]any{"ticket_id": "T-404"}))
				if task.Status.State != a2ago.TaskStateFailed {
					t.Fatalf("state = %s, want failed", task.Status.State)
				}
				if msg := statusText(task.Status); !strings.Contains(msg, "get_ticket failed") || !strings.Contains(msg, "T-404") {
					t.Errorf("status message = %q", msg)
				}
			})

			rejected := []struct {
				name string
				msg  *a2ago.SendMessageRequest
				want string
			}{
				{"unknown tool", toolMessage("launch_rockets", nil), `no tool "launch_rockets"`},
				{"no tool call", &a2ago.SendMessageRequest{Message: a2ago.NewMessage(a2ago.MessageRoleUser, a2ago.NewTextPart("hello"))}, "no tool call"},
				{"arguments not an object", &a2ago.SendMessageRequest{Message: a2ago.NewMessage(a2ago.MessageRoleUser,
					a2ago.NewDataPart(map[string]any{"tool": "get_ticket", "arguments": "T-1"}))}, "must be a JSON object"},
			}
			for _, tt := range rejected {
				t.Run("rejected: "+tt.name, func(t *testing.T) {
					task := send(t, c, tt.msg)
					msg := statusText(task.Status)
					if task.Status.State != a2ago.TaskStateRejected || !strings.Contains(msg, tt.want) {
						t.Errorf("state = %s, message %q; want rejected with %q", task.Status.State, msg, tt.want)
					}
					if !strings.Contains(msg, "get_ticket") || !strings.Contains(msg, "save_ticket") {
						t.Errorf("message %q does not list the tools", msg)
					}
				})
			}

			t.Run("a JSON text part works too", func(t *testing.T) {
				task := send(t, c, &a2ago.SendMessageRequest{Message: a2ago.NewMessage(a2ago.MessageRoleUser,
					a2ago.NewTextPart(`{"tool": "get_ticket", "arguments": {"ticket_id": "`+ticketID+`"}}`))})
				if data, _ := artifactData(t, task, mcpbridge.ToolGetTicket); data["id"] != ticketID {
					t.Errorf("data = %v", data)
				}
			})

			t.Run("streaming send", func(t *testing.T) {
				var kinds []string
				var artifact *a2ago.TaskArtifactUpdateEvent
				for ev, err := range c.SendStreamingMessage(ctx, toolMessage(mcpbridge.ToolGetTicket, map[string]any{"ticket_id": ticketID})) {
					if err != nil {
						t.Fatalf("SendStreamingMessage: %v", err)
					}
					switch ev := ev.(type) {
					case *a2ago.Task:
						kinds = append(kinds, "task:"+string(ev.Status.State))
					case *a2ago.TaskStatusUpdateEvent:
						kinds = append(kinds, "status:"+string(ev.Status.State))
					case *a2ago.TaskArtifactUpdateEvent:
						kinds = append(kinds, "artifact")
						artifact = ev
					default:
						kinds = append(kinds, fmt.Sprintf("%T", ev))
					}
				}
				want := []string{"task:" + string(a2ago.TaskStateSubmitted), "status:" + string(a2ago.TaskStateWorking),
					"artifact", "status:" + string(a2ago.TaskStateCompleted)}
				if diff := cmp.Diff(want, kinds); diff != "" {
					t.Fatalf("events (-want +got):\n%s", diff)
				}
				data, _ := partsData(artifact.Artifact.Parts)
				if data["id"] != ticketID || artifact.Artifact.Name != mcpbridge.ToolGetTicket {
					t.Errorf("streamed artifact = %+v", artifact.Artifact)
				}
			})

			t.Run("get", func(t *testing.T) {
				task, err := c.GetTask(ctx, &a2ago.GetTaskRequest{ID: saved.ID})
				if err != nil {
					t.Fatalf("GetTask: %v", err)
				}
				data, _ := artifactData(t, task, mcpbridge.ToolSaveTicket)
				if data["ticket"].(map[string]any)["id"] != ticketID {
					t.Errorf("data = %v", data)
				}
				if owner, err := g.tasks.Owner(ctx, string(task.ID)); err != nil || owner != "alice" {
					t.Errorf("owner = %q, %v; want alice", owner, err)
				}
				if _, err := c.GetTask(ctx, &a2ago.GetTaskRequest{ID: "no-such-task"}); !isNotFound(err) {
					t.Errorf("GetTask of an unknown task = %v, want task not found", err)
				}
			})

			t.Run("cancel", func(t *testing.T) {
				// A finished task cannot be cancelled; the answer says so.
				_, err := c.CancelTask(ctx, &a2ago.CancelTaskRequest{ID: saved.ID})
				if err == nil {
					t.Fatal("CancelTask of a completed task succeeded")
				}
				if isNotFound(err) {
					t.Errorf("CancelTask of the caller's own completed task = %v, want not cancelable", err)
				}
				if _, err := c.CancelTask(ctx, &a2ago.CancelTaskRequest{ID: "no-such-task"}); !isNotFound(err) {
					t.Errorf("CancelTask of an unknown task = %v, want task not found", err)
				}
			})

			t.Run("list", func(t *testing.T) {
				bobs := send(t, bob, toolMessage(mcpbridge.ToolGetStatus, nil))
				res, err := c.ListTasks(ctx, &a2ago.ListTasksRequest{})
				if !b.hasList() {
					if err == nil {
						t.Errorf("ListTasks over a binding without it answered %v", res)
					}
					return
				}
				if err != nil {
					t.Fatalf("ListTasks: %v", err)
				}
				ids := map[a2ago.TaskID]bool{}
				for _, task := range res.Tasks {
					ids[task.ID] = true
				}
				if !ids[saved.ID] || ids[bobs.ID] {
					t.Errorf("alice's list = %v; want her task %s and not bob's %s", ids, saved.ID, bobs.ID)
				}
				res, err = bob.ListTasks(ctx, &a2ago.ListTasksRequest{})
				if err != nil {
					t.Fatalf("bob's ListTasks: %v", err)
				}
				if len(res.Tasks) != 1 || res.Tasks[0].ID != bobs.ID {
					t.Errorf("bob's list = %+v, want only his task %s", res.Tasks, bobs.ID)
				}
			})
		})
	}
}
