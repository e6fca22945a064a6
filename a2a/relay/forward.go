package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
	"github.com/a2aproject/a2a-go/v2/a2asrv"

	"github.com/parleyhq/parley/a2a/agentpool"
	"github.com/parleyhq/parley/a2a/compat"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/store"
)

// Clients hands out a2a-go v2 clients for the registered agents:
// agentpool.Pool, which speaks to A2A 1.0 agents on JSON-RPC, REST and
// gRPC and to 0.3 agents through a2av0, with the gateway's outbound
// credentials and every dial through the registry's guard.
type Clients interface {
	Client(ctx context.Context, name string) (*a2aclient.Client, agentcards.Agent, error)
}

// forwarder is an a2asrv.RequestHandler that relays every call to one
// registered agent through a pooled client (Options.Clients), so that the
// SDK's server bindings (REST of both versions, gRPC 1.0) serve the
// relay: the caller's binding and version are the SDK's to read and
// write, the agent's the pool's. The agent is name, or when name is
// empty the one the request's context names (withAgent: the REST
// binding, one handler for every agent).
//
// It applies the JSON-RPC relay's rules (see Relay): the caller may
// message the agent (Options.Authorize), push-notification callbacks pass
// the guard, a call naming another caller's task is answered "task not
// found" and not forwarded, ListTasks keeps the caller's tasks, every task
// seen is recorded for its caller, the message carries the caller in its
// metadata, and the call's audit record is noted (task, refusal, failure,
// and the agent: audit.NoteTarget). Errors name the agent, in the
// caller's terms.
type forwarder struct {
	rl   *Relay
	name string
}

var _ a2asrv.RequestHandler = forwarder{}

type agentKey struct{}

// withAgent names the agent the forwarder without a name relays to.
func withAgent(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, agentKey{}, name)
}

// fcall is one forwarded call, once the agent is known and the caller may
// message it.
type fcall struct {
	rl     *Relay
	name   string // as registered
	caller string
	method string // the A2A 1.0 method, for logs
	client *a2aclient.Client
}

// begin finds the agent and its client and checks that the caller may
// message it. ctx is for the call to the agent: the caller's tenant
// (naming the agent to the gateway) does not go on to it.
func (f forwarder) begin(ctx context.Context, method string) (context.Context, *fcall, error) {
	rl := f.rl
	name := f.name
	if name == "" {
		name, _ = ctx.Value(agentKey{}).(string)
	}
	// The agent's records and the audit name the agent as the caller did
	// until it is found; the audit record of a relayed gRPC call was begun
	// as a call of the gateway's own face.
	audit.NoteTarget(ctx, audit.ActionA2ARelay, name)
	c := &fcall{rl: rl, name: name, caller: rl.callerOf(ctx), method: method}
	if rl.opts.Clients == nil {
		return ctx, c, c.refuse(ctx, a2a.ErrUnsupportedOperation, causeNoInterface, "agent %q: Parley relays it over JSON-RPC only", name)
	}
	agent, err := rl.agents.get(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return ctx, c, c.refuse(ctx, a2a.ErrInvalidRequest, causeNotRegistered, "agent %q is not registered with Parley", name)
	}
	if err != nil {
		rl.log.ErrorContext(ctx, "relay: agent registry", "agent", name, "err", err)
		return ctx, c, c.refuse(ctx, a2a.ErrInternalError, causeRegistry, "agent %q: the agent registry is unavailable", name)
	}
	c.name = agent.Name
	audit.NoteTarget(ctx, audit.ActionA2ARelay, agent.Name)
	if rl.opts.Authorize != nil {
		if err := rl.opts.Authorize(ctx, agent.Name); err != nil {
			return ctx, c, c.refuse(ctx, a2a.ErrUnauthorized, causeForbidden, "agent %q: not allowed: %v", c.name, err)
		}
	}
	client, _, err := rl.opts.Clients.Client(ctx, agent.Name)
	if err != nil {
		rl.log.WarnContext(ctx, "relay: no client for the agent", "agent", c.name, "method", method, "caller", c.caller, "err", err)
		return ctx, c, c.refuse(ctx, a2a.ErrUnsupportedOperation, causeNoInterface, "agent %q offers no A2A interface Parley can relay", c.name)
	}
	c.client = client
	// An empty tenant, present: the client's tenant decorator then adds
	// none of its own (a2aclient reads a2a.TenantFrom).
	out := a2a.AttachTenant(ctx, "")
	if params := rl.outboundParams(ctx); len(params) > 0 {
		out = a2aclient.AttachServiceParams(out, params)
	}
	return out, c, nil
}

// forwardedParams are the caller's service parameters (HTTP headers, gRPC
// metadata) the agent gets, as the JSON-RPC relay passes them on (see
// outboundHeaders): the extensions asked for and the trace context. Never
// credentials, cookies or anything else of the caller's.
var forwardedParams = []string{a2a.SvcParamExtensions, compat.HeaderExtensions03, "Traceparent", "Tracestate"}

// outboundParams are the service parameters of the call to the agent:
// forwardedParams, in the spelling the pool's transports translate for the
// agent's version, and the request's ID (Options.RequestID, else the
// caller's X-Request-Id).
func (rl *Relay) outboundParams(ctx context.Context) a2aclient.ServiceParams {
	out := a2aclient.ServiceParams{}
	var in *a2asrv.ServiceParams
	if cc, ok := a2asrv.CallContextFrom(ctx); ok {
		in = cc.ServiceParams()
	}
	for _, k := range forwardedParams {
		if v, ok := in.Get(k); ok && len(v) > 0 {
			if k == compat.HeaderExtensions03 {
				k = a2a.SvcParamExtensions
			}
			out.Append(k, v...)
		}
	}
	id := ""
	if rl.opts.RequestID != nil {
		id = rl.opts.RequestID(ctx)
	}
	if id == "" {
		if v, ok := in.Get("X-Request-Id"); ok && len(v) > 0 {
			id = v[0]
		}
	}
	if id != "" {
		out.Append("X-Request-Id", id)
	}
	return out
}

// refuse notes the call as refused or failed for its audit record and
// returns the error the caller gets.
func (c *fcall) refuse(ctx context.Context, kind error, cause, format string, args ...any) error {
	noteRelayFailure(ctx, cause)
	msg := fmt.Sprintf(format, args...)
	return a2a.NewError(kind, msg).WithDetails(map[string]any{"agent": c.name, "cause": cause})
}

// a2aErrors are the A2A errors an agent's answer may carry, kept as the
// caller's error's kind.
var a2aErrors = []error{
	a2a.ErrTaskNotFound, a2a.ErrTaskNotCancelable, a2a.ErrPushNotificationNotSupported,
	a2a.ErrUnsupportedOperation, a2a.ErrUnsupportedContentType, a2a.ErrInvalidAgentResponse,
	a2a.ErrExtendedCardNotConfigured, a2a.ErrExtensionSupportRequired, a2a.ErrVersionNotSupported,
	a2a.ErrInvalidParams, a2a.ErrInvalidRequest, a2a.ErrMethodNotFound, a2a.ErrParseError,
	a2a.ErrUnauthenticated, a2a.ErrUnauthorized, a2a.ErrServerError, a2a.ErrInternalError,
}

// failed turns what the agent's client returned into the caller's error:
// the agent's own A2A error keeps its kind, its text bounded and prefixed
// with the agent's name (agentpool.CallError); an agent that could not be
// reached, or did not answer in time, is an internal error saying so.
// The detail goes to the log.
func (c *fcall) failed(ctx, callCtx context.Context, err error) error {
	if errors.Is(context.Cause(callCtx), errRelayTimeout) {
		c.rl.log.WarnContext(ctx, "relay: agent timed out", "agent", c.name, "method", c.method, "caller", c.caller, "timeout", c.rl.opts.Timeout)
		return c.refuse(ctx, a2a.ErrInternalError, causeTimeout, "agent %q did not answer within %s", c.name, c.rl.opts.Timeout)
	}
	if ctx.Err() != nil {
		return ctx.Err() // the caller went away: nobody to answer
	}
	shown := agentpool.CallError(c.name, err)
	if errors.Is(shown, agentpool.ErrAgentUnreachable) {
		c.rl.log.WarnContext(ctx, "relay: agent unreachable", "agent", c.name, "method", c.method, "caller", c.caller, "err", err)
		return c.refuse(ctx, a2a.ErrInternalError, causeUnreachable, "%s", shown.Error())
	}
	c.rl.log.DebugContext(ctx, "relay: agent error", "agent", c.name, "method", c.method, "caller", c.caller, "err", err)
	kind := a2a.ErrInternalError
	for _, k := range a2aErrors {
		if errors.Is(err, k) {
			kind = k
			break
		}
	}
	if kind == a2a.ErrTaskNotFound {
		// The same answer as checkTask's refusal of another caller's task,
		// whatever the agent's words: else they would tell that caller the
		// task exists.
		noteRelayFailure(ctx, causeAgentError)
		return c.taskNotFound()
	}
	return c.refuse(ctx, kind, causeAgentError, "%s", shown.Error())
}

// bounded is ctx bounded by the relay's timeout, the cause saying so.
func (c *fcall) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, c.rl.opts.Timeout, errRelayTimeout)
}

// checkTask answers whether the caller may reach the task (see Relay):
// nil, or the caller's error.
func (c *fcall) checkTask(ctx context.Context, id a2a.TaskID) error {
	if id == "" {
		return nil
	}
	audit.NoteTask(ctx, string(id))
	ok, err := c.rl.taskAllowed(ctx, c.name, c.caller, string(id))
	switch {
	case err != nil:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.rl.log.ErrorContext(ctx, "relay: reading the task's owner", "agent", c.name, "task", audit.BoundID(string(id)), "caller", c.caller, "err", err)
		return c.refuse(ctx, a2a.ErrInternalError, causeTaskRecords, "agent %q: Parley could not check whose task this is; try again later", c.name)
	case !ok:
		c.rl.log.InfoContext(ctx, "relay: call refused: another caller's task", "agent", c.name, "method", c.method, "task", audit.BoundID(string(id)), "caller", c.caller)
		audit.NoteDenied(ctx, deniedOtherCallersTask)
		return c.taskNotFound()
	}
	return nil
}

// taskNotFound is the one answer to a call on a task the caller cannot
// reach, whether the agent has no such task or it is another caller's.
func (c *fcall) taskNotFound() error {
	return a2a.NewError(a2a.ErrTaskNotFound, fmt.Sprintf("agent %q: %s", c.name, relayTaskNotFound)).WithDetails(map[string]any{"agent": c.name})
}

// checkCallback refuses a push-notification callback URL the guard does
// not allow (see Relay.checkCallbacks).
func (c *fcall) checkCallback(ctx context.Context, cfg *a2a.PushConfig) error {
	if cfg == nil || cfg.URL == "" {
		return nil
	}
	lookCtx, cancel := context.WithTimeout(ctx, c.rl.opts.Timeout)
	defer cancel()
	err := c.rl.opts.Guard.CheckURL(lookCtx, cfg.URL)
	if err == nil {
		return nil
	}
	c.rl.log.WarnContext(ctx, "relay: push-notification callback refused", "agent", c.name, "method", c.method, "caller", c.caller, "url", cfg.URL, "err", err)
	return c.refuse(ctx, a2a.ErrInvalidParams, causeCallback, "the push-notification callback URL %q is not allowed: %s", cfg.URL, callbackReason(err))
}

// seen notes and records a task an answer or event is about.
func (c *fcall) seen(ctx context.Context, id a2a.TaskID, contextID string, state a2a.TaskState) {
	if id == "" {
		return
	}
	noteTask(ctx, string(id))
	c.rl.record(store.RelayedTask{Agent: c.name, TaskID: string(id), ContextID: contextID, Caller: c.caller,
		State: state03(string(state)), UpdatedAt: c.rl.opts.Now()})
}

// seenEvent records what a streamed event (or a send's result) says of
// its task.
func (c *fcall) seenEvent(ctx context.Context, ev a2a.Event) {
	switch e := ev.(type) {
	case *a2a.Task:
		c.seen(ctx, e.ID, e.ContextID, e.Status.State)
	case *a2a.TaskStatusUpdateEvent:
		c.seen(ctx, e.TaskID, e.ContextID, e.Status.State)
	}
}

// sendRequest is the request the agent gets: its tenant cleared and the
// caller in the message's metadata (see withCaller). The caller's request
// is not changed.
func (c *fcall) sendRequest(ctx context.Context, req *a2a.SendMessageRequest) *a2a.SendMessageRequest {
	out := *req
	out.Tenant = ""
	if req.Message != nil {
		msg := *req.Message
		md := maps.Clone(msg.Metadata)
		if md == nil {
			md = map[string]any{}
		}
		md[auth.MetadataKey] = map[string]any{"caller": c.caller, "via": "parley"}
		if p, ok := auth.FromContext(ctx); ok {
			md = auth.WithOnBehalfOf(md, p)
		}
		msg.Metadata = md
		out.Message = &msg
	}
	return &out
}

// checkSend applies the checks of a message: the task it continues, the
// callback it sets.
func (c *fcall) checkSend(ctx context.Context, req *a2a.SendMessageRequest) error {
	if req.Message != nil {
		if err := c.checkTask(ctx, req.Message.TaskID); err != nil {
			return err
		}
	}
	if req.Config != nil {
		return c.checkCallback(ctx, req.Config.PushConfig)
	}
	return nil
}

// check is what a call checks before it is forwarded (the task it names,
// the callback it sets); ctx is the caller's.
type check func(ctx context.Context, c *fcall) error

// onTask is the check of a call naming a task.
func onTask(id a2a.TaskID) check {
	return func(ctx context.Context, c *fcall) error { return c.checkTask(ctx, id) }
}

// unary forwards a call the agent answers once: begin, check (nil: none),
// call the agent within the relay's timeout (callCtx, which carries the
// caller's context's values), its failure in the caller's terms. The call
// is returned for what the method does with the answer.
func unary[T any](ctx context.Context, f forwarder, method string, chk check, call func(callCtx context.Context, c *fcall) (T, error)) (T, *fcall, error) {
	var zero T
	out, c, err := f.begin(ctx, method)
	if err != nil {
		return zero, nil, err
	}
	if chk != nil {
		if err := chk(ctx, c); err != nil {
			return zero, nil, err
		}
	}
	callCtx, cancel := c.bounded(out)
	defer cancel()
	res, err := call(callCtx, c)
	if err != nil {
		return zero, nil, c.failed(ctx, callCtx, err)
	}
	return res, c, nil
}

// unaryTask is unary for a call answered with a task (or a message), the
// task seen for the caller.
func unaryTask[T a2a.Event](ctx context.Context, f forwarder, method string, chk check, call func(callCtx context.Context, c *fcall) (T, error)) (T, error) {
	res, c, err := unary(ctx, f, method, chk, call)
	if err != nil {
		return res, err
	}
	c.seenEvent(ctx, res)
	return res, nil
}

// streaming forwards a call the agent answers with a stream: begin, check,
// then the agent's stream (open) passed on (see fcall.stream).
func streaming(ctx context.Context, f forwarder, method string, chk check, open func(callCtx context.Context, c *fcall) iter.Seq2[a2a.Event, error]) iter.Seq2[a2a.Event, error] {
	return func(yield func(a2a.Event, error) bool) {
		out, c, err := f.begin(ctx, method)
		if err == nil && chk != nil {
			err = chk(ctx, c)
		}
		if err != nil {
			yield(nil, err)
			return
		}
		c.stream(ctx, out, yield, func(callCtx context.Context) iter.Seq2[a2a.Event, error] { return open(callCtx, c) })
	}
}

// SendMessage implements a2asrv.RequestHandler.
func (f forwarder) SendMessage(ctx context.Context, req *a2a.SendMessageRequest) (a2a.SendMessageResult, error) {
	checkSend := func(ctx context.Context, c *fcall) error { return c.checkSend(ctx, req) }
	return unaryTask(ctx, f, "SendMessage", checkSend, func(callCtx context.Context, c *fcall) (a2a.SendMessageResult, error) {
		return c.client.SendMessage(callCtx, c.sendRequest(ctx, req))
	})
}

// SendStreamingMessage implements a2asrv.RequestHandler: the agent's
// events are passed on one by one as they arrive.
func (f forwarder) SendStreamingMessage(ctx context.Context, req *a2a.SendMessageRequest) iter.Seq2[a2a.Event, error] {
	checkSend := func(ctx context.Context, c *fcall) error { return c.checkSend(ctx, req) }
	return streaming(ctx, f, "SendStreamingMessage", checkSend, func(callCtx context.Context, c *fcall) iter.Seq2[a2a.Event, error] {
		return c.client.SendStreamingMessage(callCtx, c.sendRequest(callCtx, req))
	})
}

// SubscribeToTask implements a2asrv.RequestHandler.
func (f forwarder) SubscribeToTask(ctx context.Context, req *a2a.SubscribeToTaskRequest) iter.Seq2[a2a.Event, error] {
	r := *req
	r.Tenant = ""
	return streaming(ctx, f, "SubscribeToTask", onTask(req.ID), func(callCtx context.Context, c *fcall) iter.Seq2[a2a.Event, error] {
		return c.client.SubscribeToTask(callCtx, &r)
	})
}

// stream passes on the agent's stream event by event. The relay's timeout
// bounds the wait for the first event only: the stream itself may last as
// long as the task.
func (c *fcall) stream(ctx, out context.Context, yield func(a2a.Event, error) bool, open func(context.Context) iter.Seq2[a2a.Event, error]) {
	callCtx, cancel := context.WithCancelCause(out)
	defer cancel(nil)
	timer := time.AfterFunc(c.rl.opts.Timeout, func() { cancel(errRelayTimeout) })
	defer timer.Stop()
	for ev, err := range open(callCtx) {
		timer.Stop()
		if err != nil {
			yield(nil, c.failed(ctx, callCtx, err))
			return
		}
		c.seenEvent(ctx, ev)
		if !yield(ev, nil) {
			return
		}
	}
	if errors.Is(context.Cause(callCtx), errRelayTimeout) {
		// The client ended the stream quietly on the cancellation.
		yield(nil, c.failed(ctx, callCtx, context.Cause(callCtx)))
	}
}

// GetTask implements a2asrv.RequestHandler.
func (f forwarder) GetTask(ctx context.Context, req *a2a.GetTaskRequest) (*a2a.Task, error) {
	r := *req
	r.Tenant = ""
	return unaryTask(ctx, f, "GetTask", onTask(req.ID), func(callCtx context.Context, c *fcall) (*a2a.Task, error) {
		return c.client.GetTask(callCtx, &r)
	})
}

// CancelTask implements a2asrv.RequestHandler.
func (f forwarder) CancelTask(ctx context.Context, req *a2a.CancelTaskRequest) (*a2a.Task, error) {
	r := *req
	r.Tenant = ""
	return unaryTask(ctx, f, "CancelTask", onTask(req.ID), func(callCtx context.Context, c *fcall) (*a2a.Task, error) {
		return c.client.CancelTask(callCtx, &r)
	})
}

// ListTasks implements a2asrv.RequestHandler: the answer keeps only the
// caller's tasks (see Relay).
func (f forwarder) ListTasks(ctx context.Context, req *a2a.ListTasksRequest) (*a2a.ListTasksResponse, error) {
	r := *req
	r.Tenant = ""
	resp, c, err := unary(ctx, f, "ListTasks", nil, func(callCtx context.Context, c *fcall) (*a2a.ListTasksResponse, error) {
		return c.client.ListTasks(callCtx, &r)
	})
	if err != nil {
		return nil, err
	}
	kept := make([]*a2a.Task, 0, len(resp.Tasks))
	for _, t := range resp.Tasks {
		if t != nil && c.rl.listedTaskVisible(ctx, c.name, c.caller, string(t.ID)) {
			kept = append(kept, t)
		}
	}
	if dropped := len(resp.Tasks) - len(kept); dropped > 0 {
		cp := *resp
		cp.Tasks = kept
		cp.TotalSize = max(resp.TotalSize-dropped, len(kept))
		resp = &cp
	}
	return resp, nil
}

// GetTaskPushConfig implements a2asrv.RequestHandler.
func (f forwarder) GetTaskPushConfig(ctx context.Context, req *a2a.GetTaskPushConfigRequest) (*a2a.PushConfig, error) {
	r := *req
	r.Tenant = ""
	cfg, _, err := unary(ctx, f, "GetTaskPushNotificationConfig", onTask(req.TaskID), func(callCtx context.Context, c *fcall) (*a2a.PushConfig, error) {
		return c.client.GetTaskPushConfig(callCtx, &r)
	})
	return cfg, err
}

// ListTaskPushConfigs implements a2asrv.RequestHandler.
func (f forwarder) ListTaskPushConfigs(ctx context.Context, req *a2a.ListTaskPushConfigRequest) (*a2a.ListTaskPushConfigResponse, error) {
	r := *req
	r.Tenant = ""
	cfgs, _, err := unary(ctx, f, "ListTaskPushNotificationConfigs", onTask(req.TaskID), func(callCtx context.Context, c *fcall) ([]*a2a.PushConfig, error) {
		return c.client.ListTaskPushConfigs(callCtx, &r)
	})
	if err != nil {
		return nil, err
	}
	return &a2a.ListTaskPushConfigResponse{Configs: cfgs}, nil
}

// CreateTaskPushConfig implements a2asrv.RequestHandler.
func (f forwarder) CreateTaskPushConfig(ctx context.Context, req *a2a.PushConfig) (*a2a.PushConfig, error) {
	checkConfig := func(ctx context.Context, c *fcall) error {
		if err := c.checkTask(ctx, req.TaskID); err != nil {
			return err
		}
		return c.checkCallback(ctx, req)
	}
	r := *req
	r.Tenant = ""
	cfg, _, err := unary(ctx, f, "CreateTaskPushNotificationConfig", checkConfig, func(callCtx context.Context, c *fcall) (*a2a.PushConfig, error) {
		return c.client.CreateTaskPushConfig(callCtx, &r)
	})
	return cfg, err
}

// DeleteTaskPushConfig implements a2asrv.RequestHandler.
func (f forwarder) DeleteTaskPushConfig(ctx context.Context, req *a2a.DeleteTaskPushConfigRequest) error {
	r := *req
	r.Tenant = ""
	_, _, err := unary(ctx, f, "DeleteTaskPushNotificationConfig", onTask(req.TaskID), func(callCtx context.Context, c *fcall) (struct{}, error) {
		return struct{}{}, c.client.DeleteTaskPushConfig(callCtx, &r)
	})
	return err
}

// GetExtendedAgentCard implements a2asrv.RequestHandler: the agent's
// card, rewritten as the relay serves it (its interfaces the relay's).
func (f forwarder) GetExtendedAgentCard(ctx context.Context, req *a2a.GetExtendedAgentCardRequest) (*a2a.AgentCard, error) {
	r := *req
	r.Tenant = ""
	card, c, err := unary(ctx, f, "GetExtendedAgentCard", nil, func(callCtx context.Context, c *fcall) (*a2a.AgentCard, error) {
		return c.client.GetExtendedAgentCard(callCtx, &r)
	})
	if err != nil {
		return nil, err
	}
	doc, err := json.Marshal(card)
	if err == nil {
		doc, err = c.rl.rewriteCard(doc, c.name)
	}
	if err == nil {
		doc, err = compat.CardTo10(doc)
	}
	var rewritten a2a.AgentCard
	if err == nil {
		err = json.Unmarshal(doc, &rewritten)
	}
	if err != nil {
		c.rl.log.ErrorContext(ctx, "relay: extended agent card", "agent", c.name, "err", err)
		return nil, c.refuse(ctx, a2a.ErrInvalidAgentResponse, causeBadResponse, "agent %q: its extended card cannot be rewritten", c.name)
	}
	return &rewritten, nil
}
