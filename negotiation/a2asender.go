package negotiation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"

	"github.com/parleyhq/parley/agentcards"
)

// Clients hands out A2A clients (a2a-go v2) for registered agents:
// *agentpool.Pool, which presents the gateway's own credentials to each
// agent and speaks A2A 0.3 to the agents that only speak that. It is an
// interface so that the engine does not link the pool's transports (gRPC
// among them) nor any A2A server.
type Clients interface {
	Client(ctx context.Context, name string) (*a2aclient.Client, agentcards.Agent, error)
}

// A2ASender sends turns as blocking SendMessage calls (message/send to an
// A2A 0.3 agent), and polls GetTask when an agent answers with a task
// that has not ended.
type A2ASender struct {
	clients Clients
	poll    time.Duration
}

// NewA2ASender returns a Sender over clients.
func NewA2ASender(clients Clients) *A2ASender {
	return &A2ASender{clients: clients, poll: 200 * time.Millisecond}
}

var _ Sender = (*A2ASender)(nil)

// a2aAnswers are the errors that are an agent's A2A error answer (an
// invalid reply), as opposed to not reaching it.
var a2aAnswers = []error{
	a2a.ErrParseError, a2a.ErrInvalidRequest, a2a.ErrMethodNotFound, a2a.ErrInvalidParams,
	a2a.ErrInternalError, a2a.ErrServerError, a2a.ErrTaskNotFound, a2a.ErrTaskNotCancelable,
	a2a.ErrPushNotificationNotSupported, a2a.ErrUnsupportedOperation, a2a.ErrUnsupportedContentType,
	a2a.ErrInvalidAgentResponse, a2a.ErrExtendedCardNotConfigured, a2a.ErrExtensionSupportRequired,
	a2a.ErrVersionNotSupported, a2a.ErrUnauthenticated, a2a.ErrUnauthorized,
}

func isAnswer(err error) bool {
	for _, e := range a2aAnswers {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// withExtension asks for the negotiation extension on calls made with
// ctx: a2a-go sends it in A2A-Extensions to an A2A 1.0 agent, and its 0.3
// transports rename that to X-A2A-Extensions, as NEGOTIATION.md says.
func withExtension(ctx context.Context) context.Context {
	return a2aclient.AttachServiceParams(ctx, a2aclient.ServiceParams{a2a.SvcParamExtensions: {ExtensionURI}})
}

// Send implements Sender.
func (s *A2ASender) Send(ctx context.Context, agent string, out Outgoing) (Reply, error) {
	client, _, err := s.clients.Client(ctx, agent)
	if err != nil {
		return Reply{}, fmt.Errorf("%w: agent %q: %w", ErrTransport, agent, err)
	}
	var turn map[string]any
	data, err := json.Marshal(out.Turn)
	if err != nil {
		return Reply{}, err
	}
	if err := json.Unmarshal(data, &turn); err != nil {
		return Reply{}, err
	}
	msg := a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart(out.Text), a2a.NewDataPart(turn))
	msg.ID, msg.ContextID, msg.Extensions, msg.Metadata = out.MessageID, out.ContextID, []string{ExtensionURI}, out.Metadata
	ctx = withExtension(ctx)
	// Blocking: A2A 1.0's default (ReturnImmediately false), which the 0.3
	// transports send as blocking: true.
	res, err := client.SendMessage(ctx, &a2a.SendMessageRequest{Message: msg, Config: &a2a.SendMessageConfig{}})
	if err != nil {
		if isAnswer(err) {
			return Reply{Problem: "the agent answered with an error: " + err.Error()}, nil
		}
		return Reply{}, fmt.Errorf("%w: agent %q: %w", ErrTransport, agent, err)
	}
	switch r := res.(type) {
	case *a2a.Message:
		return Reply{Data: moveData(r.Parts)}, nil
	case *a2a.Task:
		return s.awaitTask(ctx, client, r)
	default:
		return Reply{Problem: fmt.Sprintf("the agent answered with %T, not a message or a task", res)}, nil
	}
}

// stateName is a task state as NEGOTIATION.md names it (A2A 0.3's
// "input-required", not 1.0's "TASK_STATE_INPUT_REQUIRED").
func stateName(s a2a.TaskState) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(string(s), "TASK_STATE_")), "_", "-")
}

// awaitTask polls a task until it ends and reads the move from it.
func (s *A2ASender) awaitTask(ctx context.Context, client *a2aclient.Client, task *a2a.Task) (Reply, error) {
	for {
		switch task.Status.State {
		case a2a.TaskStateCompleted:
			rep := Reply{TaskID: string(task.ID)}
			if task.Status.Message != nil {
				rep.Data = moveData(task.Status.Message.Parts)
			}
			for i := len(task.Artifacts) - 1; i >= 0 && rep.Data == nil; i-- {
				if task.Artifacts[i] != nil {
					rep.Data = moveData(task.Artifacts[i].Parts)
				}
			}
			return rep, nil
		case a2a.TaskStateFailed, a2a.TaskStateRejected, a2a.TaskStateCanceled:
			return Reply{TaskID: string(task.ID), Forfeit: true, Problem: fmt.Sprintf("the task ended %s", stateName(task.Status.State))}, nil
		case a2a.TaskStateInputRequired, a2a.TaskStateAuthRequired:
			return Reply{TaskID: string(task.ID), Problem: fmt.Sprintf("the task stopped at %s; a turn must be answered with a move", stateName(task.Status.State))}, nil
		}
		t := time.NewTimer(s.poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return Reply{}, ctx.Err()
		case <-t.C:
		}
		next, err := client.GetTask(ctx, &a2a.GetTaskRequest{ID: task.ID})
		if err != nil {
			if isAnswer(err) {
				return Reply{TaskID: string(task.ID), Problem: "tasks/get answered with an error: " + err.Error()}, nil
			}
			return Reply{}, fmt.Errorf("%w: polling task %s: %w", ErrTransport, task.ID, err)
		}
		task = next
	}
}

// moveData returns the last data part typed as a move, else the last data
// part, else nil.
func moveData(parts a2a.ContentParts) json.RawMessage {
	var last json.RawMessage
	for _, p := range parts {
		if p == nil {
			continue
		}
		d, ok := p.Content.(a2a.Data)
		if !ok {
			continue
		}
		raw, err := json.Marshal(d.Value)
		if err != nil {
			continue
		}
		if m, ok := d.Value.(map[string]any); ok && m["type"] == MoveType {
			last = raw
			continue
		}
		if last == nil {
			last = raw
		}
	}
	return last
}
