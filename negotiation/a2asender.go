package negotiation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	a2ago "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2aclient"

	"github.com/parleyhq/parley/a2a/a2aext"
	"github.com/parleyhq/parley/agentcards"
)

// Clients hands out A2A clients for registered agents: *a2a.ClientPool,
// which presents the gateway's own credentials to each agent.
type Clients interface {
	Client(ctx context.Context, name string) (*a2aclient.Client, agentcards.Agent, error)
}

// A2ASender sends turns as blocking message/send calls (SendMessage to an
// A2A 1.0 agent, through the pool's translation), and polls tasks/get
// when an agent answers with a task that has not ended.
type A2ASender struct {
	clients Clients
	poll    time.Duration
}

// NewA2ASender returns a Sender over clients.
func NewA2ASender(clients Clients) *A2ASender {
	return &A2ASender{clients: clients, poll: 200 * time.Millisecond}
}

var _ Sender = (*A2ASender)(nil)

// a2aAnswers are the errors that are an agent's JSON-RPC error answer (an
// invalid reply), as opposed to not reaching it.
var a2aAnswers = []error{
	a2ago.ErrParseError, a2ago.ErrInvalidRequest, a2ago.ErrMethodNotFound, a2ago.ErrInvalidParams,
	a2ago.ErrInternalError, a2ago.ErrServerError, a2ago.ErrTaskNotFound, a2ago.ErrTaskNotCancelable,
	a2ago.ErrPushNotificationNotSupported, a2ago.ErrUnsupportedOperation, a2ago.ErrUnsupportedContentType,
	a2ago.ErrInvalidAgentResponse,
}

func isAnswer(err error) bool {
	for _, e := range a2aAnswers {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Send implements Sender.
func (s *A2ASender) Send(ctx context.Context, agent string, out Outgoing) (Reply, error) {
	client, _, err := s.clients.Client(ctx, agent)
	if err != nil {
		return Reply{}, fmt.Errorf("%w: agent %q: %w", ErrTransport, agent, err)
	}
	var turn map[string]any
	data, _ := json.Marshal(out.Turn)
	if err := json.Unmarshal(data, &turn); err != nil {
		return Reply{}, err
	}
	msg := a2ago.NewMessage(a2ago.MessageRoleUser, a2ago.TextPart{Text: out.Text}, a2ago.DataPart{Data: turn})
	msg.ID, msg.ContextID, msg.Extensions, msg.Metadata = out.MessageID, out.ContextID, []string{ExtensionURI}, out.Metadata
	blocking := true
	ctx = a2aext.WithExtensions(ctx, ExtensionURI)
	res, err := client.SendMessage(ctx, &a2ago.MessageSendParams{Message: msg, Config: &a2ago.MessageSendConfig{Blocking: &blocking}})
	if err != nil {
		if isAnswer(err) {
			return Reply{Problem: "the agent answered with an error: " + err.Error()}, nil
		}
		return Reply{}, fmt.Errorf("%w: agent %q: %w", ErrTransport, agent, err)
	}
	switch r := res.(type) {
	case *a2ago.Message:
		return Reply{Data: moveData(r.Parts)}, nil
	case *a2ago.Task:
		return s.awaitTask(ctx, client, r)
	default:
		return Reply{Problem: fmt.Sprintf("the agent answered with %T, not a message or a task", res)}, nil
	}
}

// awaitTask polls a task until it ends and reads the move from it.
func (s *A2ASender) awaitTask(ctx context.Context, client *a2aclient.Client, task *a2ago.Task) (Reply, error) {
	for {
		switch task.Status.State {
		case a2ago.TaskStateCompleted:
			rep := Reply{TaskID: string(task.ID)}
			if task.Status.Message != nil {
				rep.Data = moveData(task.Status.Message.Parts)
			}
			for i := len(task.Artifacts) - 1; i >= 0 && rep.Data == nil; i-- {
				rep.Data = moveData(task.Artifacts[i].Parts)
			}
			return rep, nil
		case a2ago.TaskStateFailed, a2ago.TaskStateRejected, a2ago.TaskStateCanceled:
			return Reply{TaskID: string(task.ID), Forfeit: true, Problem: fmt.Sprintf("the task ended %s", task.Status.State)}, nil
		case a2ago.TaskStateInputRequired, a2ago.TaskStateAuthRequired:
			return Reply{TaskID: string(task.ID), Problem: fmt.Sprintf("the task stopped at %s; a turn must be answered with a move", task.Status.State)}, nil
		}
		t := time.NewTimer(s.poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return Reply{}, ctx.Err()
		case <-t.C:
		}
		next, err := client.GetTask(a2aext.WithExtensions(ctx, ExtensionURI), &a2ago.TaskQueryParams{ID: task.ID})
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
func moveData(parts a2ago.ContentParts) json.RawMessage {
	var last json.RawMessage
	for _, p := range parts {
		var d map[string]any
		switch v := p.(type) {
		case a2ago.DataPart:
			d = v.Data
		case *a2ago.DataPart:
			d = v.Data
		default:
			continue
		}
		raw, err := json.Marshal(d)
		if err != nil {
			continue
		}
		if d["type"] == MoveType {
			last = raw
			continue
		}
		if last == nil {
			last = raw
		}
	}
	return last
}
