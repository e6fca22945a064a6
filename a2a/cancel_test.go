package a2a

import (
	"sync"
	"testing"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"
)

// TestCancelRunningTask: on every binding, a task whose tool call is in
// flight is cancelled by its caller: the answer and a later get say
// canceled, and the stream that started it ends with canceled.
func TestCancelRunningTask(t *testing.T) {
	tools := blockingTools{release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(tools.release) }) }
	t.Cleanup(release) // never released otherwise: the tool call ends with its context
	g := startGateway(t, func(o *Options) { o.Tools = tools })
	for _, b := range bindings {
		t.Run(b.name, func(t *testing.T) {
			c := g.client(t, b, "alice")
			req := &a2ago.SendMessageRequest{Message: a2ago.NewMessage(a2ago.MessageRoleUser, a2ago.NewDataPart(map[string]any{"tool": "echo"}))}
			var states []a2ago.TaskState
			var id a2ago.TaskID
			for ev, err := range c.SendStreamingMessage(t.Context(), req) {
				if err != nil {
					t.Fatalf("stream: %v (after %v)", err, states)
				}
				switch ev := ev.(type) {
				case *a2ago.Task:
					id = ev.ID
					states = append(states, ev.Status.State)
				case *a2ago.TaskStatusUpdateEvent:
					states = append(states, ev.Status.State)
					if ev.Status.State != a2ago.TaskStateWorking {
						continue
					}
					// The tool call is in flight.
					task, err := c.CancelTask(t.Context(), &a2ago.CancelTaskRequest{ID: id})
					if err != nil {
						t.Fatalf("CancelTask of a running task: %v", err)
					}
					if task.Status.State != a2ago.TaskStateCanceled {
						t.Errorf("CancelTask answered state %s, want canceled", task.Status.State)
					}
				}
			}
			if len(states) == 0 || states[len(states)-1] != a2ago.TaskStateCanceled {
				t.Errorf("stream states = %v, want it to end canceled", states)
			}
			got, err := c.GetTask(t.Context(), &a2ago.GetTaskRequest{ID: id})
			if err != nil || got.Status.State != a2ago.TaskStateCanceled {
				t.Errorf("GetTask after cancel = %v, %v; want canceled", got, err)
			}
		})
	}
}
