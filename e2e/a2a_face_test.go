package e2e

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
	"github.com/a2aproject/a2a-go/v2/a2aclient/agentcard"
	grpcv1 "github.com/a2aproject/a2a-go/v2/a2agrpc/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/parleyhq/parley/store/postgres/pgtest"
)

// The gateway's own A2A face, driven by the a2a-go v2 client (A2A 1.0) as
// an SDK user would: the card resolved from the base URL, the client made
// from one of the card's interfaces. The JavaScript SDKs are in
// a2ajs_test.go.

// a2aFaceClient resolves the gateway's card from base and makes a client
// on the card's A2A 1.0 interface of binding (JSONRPC, HTTP+JSON or
// GRPC), and only that one, so that the test knows what it went over.
func a2aFaceClient(t *testing.T, base string, binding a2ago.TransportProtocol) *a2aclient.Client {
	t.Helper()
	ctx := t.Context()
	card, err := agentcard.NewResolver(nil).Resolve(ctx, base)
	if err != nil {
		t.Fatalf("resolve the agent card from %s: %v", base, err)
	}
	i := slices.IndexFunc(card.SupportedInterfaces, func(i *a2ago.AgentInterface) bool {
		return i.ProtocolBinding == binding && i.ProtocolVersion == a2ago.Version
	})
	if i < 0 {
		t.Fatalf("the card has no %s %s interface: %+v", binding, a2ago.Version, card.SupportedInterfaces)
	}
	client, err := a2aclient.NewFromEndpoints(ctx, card.SupportedInterfaces[i:i+1],
		grpcv1.WithGRPCTransport(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatalf("a2a-go client on %s %s: %v", binding, card.SupportedInterfaces[i].URL, err)
	}
	t.Cleanup(func() { _ = client.Destroy() })
	return client
}

// toolMessage is a message calling one of the workspace skill's tools.
func toolMessage(tool string, args map[string]any) *a2ago.SendMessageRequest {
	return &a2ago.SendMessageRequest{Message: a2ago.NewMessage(a2ago.MessageRoleUser,
		a2ago.NewDataPart(map[string]any{"tool": tool, "arguments": args}))}
}

// sendTool sends a tool call and returns the task it ended in.
func sendTool(t *testing.T, c *a2aclient.Client, tool string, args map[string]any) *a2ago.Task {
	t.Helper()
	res, err := c.SendMessage(t.Context(), toolMessage(tool, args))
	if err != nil {
		t.Fatalf("SendMessage %s: %v", tool, err)
	}
	task, ok := res.(*a2ago.Task)
	if !ok {
		t.Fatalf("SendMessage %s answered %T, want a task", tool, res)
	}
	return task
}

// artifactData is the data part of a task's one artifact, named after the
// tool.
func artifactData(t *testing.T, task *a2ago.Task, tool string) map[string]any {
	t.Helper()
	if len(task.Artifacts) != 1 || task.Artifacts[0].Name != tool {
		t.Fatalf("task %s: artifacts %+v, want one named %s", task.ID, task.Artifacts, tool)
	}
	for _, p := range task.Artifacts[0].Parts {
		if d, ok := p.Data().(map[string]any); ok {
			return d
		}
	}
	t.Fatalf("task %s: artifact %s has no data part", task.ID, tool)
	return nil
}

// eventShape names a stream event as the tests compare streams:
// "task:<state>", "status:<state>", "artifact:<name>".
func eventShape(ev a2ago.Event) string {
	switch ev := ev.(type) {
	case *a2ago.Task:
		return "task:" + stateWord(ev.Status.State)
	case *a2ago.TaskStatusUpdateEvent:
		return "status:" + stateWord(ev.Status.State)
	case *a2ago.TaskArtifactUpdateEvent:
		return "artifact:" + ev.Artifact.Name
	case *a2ago.Message:
		return "message"
	}
	return fmt.Sprintf("%T", ev)
}

func stateWord(s a2ago.TaskState) string {
	return map[a2ago.TaskState]string{
		a2ago.TaskStateSubmitted: "submitted", a2ago.TaskStateWorking: "working", a2ago.TaskStateCompleted: "completed",
		a2ago.TaskStateCanceled: "canceled", a2ago.TaskStateFailed: "failed", a2ago.TaskStateRejected: "rejected",
		a2ago.TaskStateInputRequired: "input-required", a2ago.TaskStateAuthRequired: "auth-required",
	}[s]
}

// runningWait starts wait_for_ticket on ticket (saved first), which stays
// working until the ticket is resolved or a minute passes: a task that
// runs while the test subscribes to it and cancels it. It returns at once
// (returnImmediately) with the task.
func runningWait(t *testing.T, c *a2aclient.Client, ticket string, push *a2ago.PushConfig) *a2ago.Task {
	t.Helper()
	sendTool(t, c, "save_ticket", map[string]any{"ticket_id": ticket, "customer": "acme", "category": "billing"})
	req := toolMessage("wait_for_ticket", map[string]any{"ticket_id": ticket, "statuses": []any{"resolved"}, "timeout_seconds": 60})
	req.Config = &a2ago.SendMessageConfig{ReturnImmediately: true, PushConfig: push}
	res, err := c.SendMessage(t.Context(), req)
	if err != nil {
		t.Fatalf("SendMessage wait_for_ticket: %v", err)
	}
	task, ok := res.(*a2ago.Task)
	if !ok || task.Status.State.Terminal() {
		t.Fatalf("SendMessage wait_for_ticket (returnImmediately) = %+v, want a task that has not ended", res)
	}
	return task
}

// subscribeUntilWorking subscribes to a task and returns once it has seen
// the task working, with a channel that gets the rest of the stream's
// events (see eventShape) and is then closed, and one that gets the
// stream's error, if any, and is then closed.
func subscribeUntilWorking(t *testing.T, c *a2aclient.Client, id a2ago.TaskID) (rest <-chan string, errc <-chan error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	shapes := make(chan string, 64)
	errs := make(chan error, 1)
	go func() {
		defer close(errs)
		defer close(shapes)
		for ev, err := range c.SubscribeToTask(ctx, &a2ago.SubscribeToTaskRequest{ID: id}) {
			if err != nil {
				errs <- err
				return
			}
			shapes <- eventShape(ev)
		}
	}()
	var seen []string
	for s := range shapes {
		seen = append(seen, s)
		if s == "task:working" || s == "status:working" {
			return shapes, errs
		}
	}
	t.Fatalf("task %s: the subscription ended (%v) before the task was working: %v", id, <-errs, seen)
	return nil, nil
}

// TestA2AGoGRPCClient drives the gateway's gRPC binding (lf.a2a.v1, A2A 1.0)
// with the a2a-go v2 client, on the interface the card names: a blocking
// send, a get, a stream, and the cancellation of a running task; an ended
// task can be neither cancelled nor subscribed to.
func TestA2AGoGRPCClient(t *testing.T) {
	dir := t.TempDir()
	p := start(t, dir, cleanEnv(),
		"--listen", "127.0.0.1:0",
		"--grpc-listen", "127.0.0.1:0",
		"--store", "sqlite://"+filepath.Join(dir, "parley.db"),
	)
	c := a2aFaceClient(t, "http://"+p.addr(t), a2ago.TransportProtocolGRPC)

	saved := sendTool(t, c, "save_ticket", map[string]any{"ticket_id": "T-GRPC-1", "customer": "acme", "category": "billing"})
	if saved.Status.State != a2ago.TaskStateCompleted {
		t.Fatalf("save_ticket over gRPC: state %s (%+v)", saved.Status.State, saved.Status.Message)
	}
	if d := artifactData(t, saved, "save_ticket"); d["created"] != true {
		t.Errorf("save_ticket over gRPC: artifact data %v, want created: true", d)
	}

	got, err := c.GetTask(t.Context(), &a2ago.GetTaskRequest{ID: saved.ID})
	if err != nil {
		t.Fatalf("GetTask over gRPC: %v", err)
	}
	if diff := cmp.Diff([]any{saved.ID, saved.ContextID, saved.Status.State, len(got.Artifacts)},
		[]any{got.ID, got.ContextID, got.Status.State, 1}); diff != "" {
		t.Errorf("GetTask over gRPC (-sent +got):\n%s", diff)
	}

	var shapes []string
	var opened *a2ago.Task
	for ev, err := range c.SendStreamingMessage(t.Context(), toolMessage("get_ticket", map[string]any{"ticket_id": "T-GRPC-1"})) {
		if err != nil {
			t.Fatalf("SendStreamingMessage over gRPC: %v (after %v)", err, shapes)
		}
		if task, ok := ev.(*a2ago.Task); ok && opened == nil {
			opened = task
		}
		shapes = append(shapes, eventShape(ev))
	}
	// The task first, then working, the artifact, completed; a stream joins
	// the task as stored (tasks run through the work queue), so when the
	// replica running it was quicker the stream opens with the task as it
	// then stood, holding what it had, and the events after it finish it.
	tail := []string{"status:working", "artifact:get_ticket", "status:completed"}
	if len(shapes) < 2 || !strings.HasPrefix(shapes[0], "task:") ||
		!slices.Equal(shapes[1:], tail[len(tail)-min(len(tail), len(shapes)-1):]) {
		t.Errorf("SendStreamingMessage over gRPC: events %v, want task, then the end of %v", shapes, tail)
	} else if !slices.Contains(shapes, "artifact:get_ticket") && (opened == nil || len(opened.Artifacts) != 1) {
		t.Errorf("SendStreamingMessage over gRPC: no artifact, neither as an event nor in the task the stream opened with")
	}

	// A running task is cancelled: the answer, the stream and a later get
	// say canceled.
	running := runningWait(t, c, "T-GRPC-2", nil)
	rest, errc := subscribeUntilWorking(t, c, running.ID)
	canceled, err := c.CancelTask(t.Context(), &a2ago.CancelTaskRequest{ID: running.ID})
	if err != nil {
		t.Fatalf("CancelTask over gRPC: %v", err)
	}
	if canceled.Status.State != a2ago.TaskStateCanceled {
		t.Errorf("CancelTask over gRPC answered state %s, want canceled", canceled.Status.State)
	}
	var after []string
	for s := range rest {
		after = append(after, s)
	}
	if err := <-errc; err != nil {
		t.Errorf("the subscription ended with %v", err)
	}
	if len(after) == 0 || after[len(after)-1] != "status:canceled" {
		t.Errorf("the subscription's events after working = %v, want them to end with status:canceled", after)
	}
	if got, err := c.GetTask(t.Context(), &a2ago.GetTaskRequest{ID: running.ID}); err != nil || got.Status.State != a2ago.TaskStateCanceled {
		t.Errorf("GetTask after cancel = %+v, %v; want canceled", got, err)
	}
	// An ended task cannot be cancelled.
	if _, err := c.CancelTask(t.Context(), &a2ago.CancelTaskRequest{ID: saved.ID}); !errors.Is(err, a2ago.ErrTaskNotCancelable) {
		t.Errorf("CancelTask of a completed task over gRPC: %v, want TaskNotCancelableError", err)
	}
	// Nor subscribed to (A2A 1.0 §3.1.6).
	var subErr error
	var subEvents []string
	for ev, err := range c.SubscribeToTask(t.Context(), &a2ago.SubscribeToTaskRequest{ID: saved.ID}) {
		if err != nil {
			subErr = err
			break
		}
		subEvents = append(subEvents, eventShape(ev))
	}
	if !errors.Is(subErr, a2ago.ErrUnsupportedOperation) || len(subEvents) != 0 {
		t.Errorf("SubscribeToTask of a completed task over gRPC: events %v, error %v; want no events and UnsupportedOperationError", subEvents, subErr)
	}
}

// TestA2AAcrossReplicas: two gateway processes on one PostgreSQL store
// serve one A2A face. Replica B starts only once a task is running on
// replica A (so A's work queue took it, and A runs it): B fetches the task
// (GetTask), follows it (SubscribeToTask, through the event log in the
// store) and cancels it, and A's own subscription and a get on A see it
// cancelled. A task started on A and completed is fetched from B, too.
func TestA2AAcrossReplicas(t *testing.T) {
	dbURL := pgtest.NewSchema(t)
	replica := func() *a2aclient.Client {
		p := start(t, t.TempDir(), cleanEnv("PARLEY_STORE="+dbURL, "PARLEY_MCP_STATE_KEY=shared-secret-for-replicas"),
			"--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0")
		return a2aFaceClient(t, "http://"+p.addr(t), a2ago.TransportProtocolJSONRPC)
	}
	a := replica()
	saved := sendTool(t, a, "save_ticket", map[string]any{"ticket_id": "T-REPL-1", "customer": "acme", "category": "billing"})
	running := runningWait(t, a, "T-REPL-2", nil)
	restA, errcA := subscribeUntilWorking(t, a, running.ID)
	b := replica()

	got, err := b.GetTask(t.Context(), &a2ago.GetTaskRequest{ID: saved.ID})
	if err != nil {
		t.Fatalf("GetTask on replica B of a task A ran: %v", err)
	}
	if diff := cmp.Diff([]any{saved.ID, saved.ContextID, "completed", artifactData(t, saved, "save_ticket")},
		[]any{got.ID, got.ContextID, stateWord(got.Status.State), artifactData(t, got, "save_ticket")}); diff != "" {
		t.Errorf("the completed task on B (-A's answer +B's):\n%s", diff)
	}
	if got, err := b.GetTask(t.Context(), &a2ago.GetTaskRequest{ID: running.ID}); err != nil || got.Status.State != a2ago.TaskStateWorking {
		t.Errorf("GetTask on B of the task running on A = %+v, %v; want working", got, err)
	}

	restB, errcB := subscribeUntilWorking(t, b, running.ID)
	canceled, err := b.CancelTask(t.Context(), &a2ago.CancelTaskRequest{ID: running.ID})
	if err != nil {
		t.Fatalf("CancelTask on B of the task running on A: %v", err)
	}
	if canceled.Status.State != a2ago.TaskStateCanceled {
		t.Errorf("CancelTask on B answered state %s, want canceled", canceled.Status.State)
	}
	for _, sub := range []struct {
		name string
		rest <-chan string
		errc <-chan error
	}{{"B", restB, errcB}, {"A", restA, errcA}} {
		var after []string
		for s := range sub.rest {
			after = append(after, s)
		}
		if err := <-sub.errc; err != nil {
			t.Errorf("%s's subscription ended with %v", sub.name, err)
		}
		if len(after) == 0 || after[len(after)-1] != "status:canceled" {
			t.Errorf("%s's subscription after working = %v, want it to end with status:canceled", sub.name, after)
		}
	}
	if got, err := a.GetTask(t.Context(), &a2ago.GetTaskRequest{ID: running.ID}); err != nil || got.Status.State != a2ago.TaskStateCanceled {
		t.Errorf("GetTask on A after B cancelled = %+v, %v; want canceled", got, err)
	}
}

// TestA2ATaskSurvivesRestart: a task is kept in the store, so the gateway
// answers for it after a restart (SIGTERM, then a new process on the same
// SQLite file), and lists it.
func TestA2ATaskSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0", "--store", "sqlite://" + filepath.Join(dir, "parley.db")}
	first := start(t, dir, cleanEnv(), args...)
	c := a2aFaceClient(t, "http://"+first.addr(t), a2ago.TransportProtocolJSONRPC)
	saved := sendTool(t, c, "save_ticket", map[string]any{"ticket_id": "T-RESTART-1", "customer": "acme", "category": "billing"})
	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := first.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("the first gateway exited with status %d:\n%s", code, first.logs)
	}

	second := start(t, dir, cleanEnv(), args...)
	c = a2aFaceClient(t, "http://"+second.addr(t), a2ago.TransportProtocolJSONRPC)
	got, err := c.GetTask(t.Context(), &a2ago.GetTaskRequest{ID: saved.ID})
	if err != nil {
		t.Fatalf("GetTask after the restart: %v", err)
	}
	if diff := cmp.Diff([]any{saved.ID, saved.ContextID, "completed", artifactData(t, saved, "save_ticket")},
		[]any{got.ID, got.ContextID, stateWord(got.Status.State), artifactData(t, got, "save_ticket")}); diff != "" {
		t.Errorf("the task after the restart (-before +after):\n%s", diff)
	}
	list, err := c.ListTasks(t.Context(), &a2ago.ListTasksRequest{})
	if err != nil {
		t.Fatalf("ListTasks after the restart: %v", err)
	}
	var ids []a2ago.TaskID
	for _, task := range list.Tasks {
		ids = append(ids, task.ID)
	}
	if diff := cmp.Diff([]a2ago.TaskID{saved.ID}, ids); diff != "" {
		t.Errorf("ListTasks after the restart (-want +got):\n%s", diff)
	}
}
