package relay

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/parleyhq/parley/a2a/compat"
	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/store"
)

// deniedOtherCallersTask is the audit reason of a call refused because its
// task is another caller's.
const deniedOtherCallersTask = "the task belongs to another caller"

// A2A JSON-RPC methods whose params name a task in "id" (A2A 0.3 and 1.0);
// push notification methods name it in "taskId", except in 0.3's get,
// list and delete.
var (
	taskInID = map[string]bool{
		"tasks/get": true, "tasks/cancel": true, "tasks/resubscribe": true,
		"tasks/pushNotificationConfig/get": true, "tasks/pushNotificationConfig/list": true,
		"tasks/pushNotificationConfig/delete": true,
		"GetTask":                             true, "CancelTask": true, "SubscribeToTask": true,
	}
	taskInMessage = map[string]bool{
		"message/send": true, "message/stream": true, "SendMessage": true, "SendStreamingMessage": true,
	}
)

// RequestTaskID is the task a JSON-RPC request (decoded, in either A2A
// version) names, or "": what the relay, which passes requests on
// undecoded, notes for the call's audit record.
func RequestTaskID(req map[string]any) string {
	method, _ := req["method"].(string)
	params, _ := req["params"].(map[string]any)
	if params == nil {
		return ""
	}
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	switch {
	case taskInMessage[method]:
		msg, _ := params["message"].(map[string]any)
		if msg == nil {
			return ""
		}
		return str(msg, "taskId")
	case taskInID[method]:
		return str(params, "id")
	default:
		return str(params, "taskId")
	}
}

// NoteRequestTask notes the task a relayed JSON-RPC request names for the
// call's audit record (audit.NoteTask).
func NoteRequestTask(ctx context.Context, req map[string]any) {
	if id := RequestTaskID(req); id != "" {
		audit.NoteTask(ctx, id)
	}
}

// noteTask notes a task seen in a relayed answer for the call's audit
// record (audit.NoteTask).
func noteTask(ctx context.Context, id string) { audit.NoteTask(ctx, id) }

// noteRelayFailure notes, for the call's audit record, that the relay
// refused a call (the caller may not message the agent) or that it
// failed, naming the cause (the relay's cause codes: unreachable,
// agent_error, …).
func noteRelayFailure(ctx context.Context, cause string) {
	if cause == causeForbidden {
		audit.NoteDenied(ctx, "the caller may not message the agent")
		return
	}
	audit.NoteFailed(ctx, cause)
}

// Parley calls a relayed agent with its own credentials, so the agent sees
// one client and cannot tell Parley's callers apart: the relay must. It
// applies the rule of the gateway's own face (package a2a) to
// the record it keeps of relayed tasks (store.RelayedTask, whose Caller is
// who sent the call the task was first seen in): a call naming a task
// recorded for another caller is answered "task not found", in the
// caller's version and as a relayed agent's not-found reads, is noted as
// denied for the audit record, naming the task, and is not forwarded. An
// administrator (Options.IsAdmin) reaches every task, as on the own
// face.
//
// A task with no record is forwarded. The relay records tasks in the
// background, so a record can lag the answer that named the task; but it
// is queued before that answer is written, and the check first waits for
// the saves of the task queued on this gateway instance (recorder.await),
// so that a caller who sends a message and at once asks for its task finds
// the record, and the task's ID cannot have reached anyone through this
// instance before its record is in the store. What stays unrecorded is a
// task created at the agent directly, one whose record was dropped (the
// recording queue was full; the log says so), or one relayed moments ago
// by another instance sharing the store. Refusing those would lock their
// owners out of them for good (a task's record is made only from an answer
// Parley relays); forwarding them lets a caller who knows such a task's ID
// (an ID it was not given through Parley) reach it, as it could at the
// agent itself, and the first caller a relayed answer names such a task to
// is recorded as its caller. When the record cannot be read, the call is
// refused rather than forwarded unchecked. In no-auth mode every caller is
// an administrator (auth.IsAdmin), as on the own face.

// relayTaskNotFound is the message of the answer to a call on another
// caller's task: a2a-go's own for an unknown task.
const relayTaskNotFound = "task not found"

// checkTask decides whether the caller may reach the task the relayed
// request names (ids: relayTaskIDs of the caller's request and of the
// agent's), answering the caller when it may not. It reports whether the
// request may be forwarded.
func (c *call) checkTask(ids []string) bool {
	ctx := c.r.Context()
	switch len(ids) {
	case 0:
		return true
	case 1:
	default:
		// Each spelling may be read by some agent: the request is
		// ambiguous, and checking one ID would let another through.
		c.fail(compat.CodeInvalidParams, causeAmbiguousTask, "the request names more than one task (in fields spelled differently): name the task once")
		return false
	}
	id := ids[0]
	audit.NoteTask(ctx, id)
	rl := c.rl
	ok, err := rl.taskAllowed(ctx, c.name, c.caller, id)
	switch {
	case err != nil:
		if ctx.Err() != nil {
			return false // the caller went away: nobody to answer
		}
		rl.log.ErrorContext(ctx, "relay: reading the task's owner", "agent", c.name, "task", audit.BoundID(id), "caller", c.caller, "err", err)
		c.fail(compat.CodeInternalError, causeTaskRecords, "agent %q: Parley could not check whose task this is; try again later", c.name)
		return false
	case !ok:
		rl.log.InfoContext(ctx, "relay: call refused: another caller's task", "agent", c.name, "method", c.method, "task", audit.BoundID(id), "caller", c.caller)
		audit.NoteDenied(ctx, deniedOtherCallersTask)
		c.answer(c.taskNotFound())
		return false
	}
	return true
}

// taskAllowed reports whether the caller may reach the agent's task (see
// checkTask): yes for an administrator, a task with no record, or when
// nothing is recorded; an error when the record cannot be read.
func (rl *Relay) taskAllowed(ctx context.Context, agent, caller, id string) (bool, error) {
	if rl.rec == nil {
		return true, nil // nothing is recorded: no caller can be told from another
	}
	if rl.opts.IsAdmin != nil && rl.opts.IsAdmin(ctx) {
		return true, nil
	}
	lookCtx, cancel := context.WithTimeout(ctx, rl.opts.Timeout)
	defer cancel()
	err := rl.rec.await(lookCtx, agent, id)
	var rec store.RelayedTask
	if err == nil {
		rec, err = rl.opts.Tasks.GetRelayedTask(lookCtx, agent, id)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return true, nil // unrecorded: see above
	case err != nil:
		return false, err
	}
	return rec.Caller == caller, nil
}

// listedTaskVisible reports whether a task an agent listed stays in the
// caller's ListTasks answer (see ownTasksOnly): not when it is recorded
// for another caller, nor when its record cannot be read.
func (rl *Relay) listedTaskVisible(ctx context.Context, agent, caller, id string) bool {
	if rl.rec == nil || id == "" || (rl.opts.IsAdmin != nil && rl.opts.IsAdmin(ctx)) {
		return true
	}
	lookCtx, cancel := context.WithTimeout(ctx, rl.opts.Timeout)
	defer cancel()
	rec, err := rl.opts.Tasks.GetRelayedTask(lookCtx, agent, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return true
	case err != nil:
		rl.log.ErrorContext(ctx, "relay: reading a listed task's owner; leaving it out", "agent", agent, "task", audit.BoundID(id), "caller", caller, "err", err)
		return false
	}
	return rec.Caller == caller
}

// ownTasksOnly takes the tasks recorded for other callers out of an
// agent's answer to ListTasks (A2A 1.0): the agent lists every task Parley
// started there, whoever asked for it. Tasks with no record stay, as a call
// naming one is forwarded; a task whose record cannot be read goes. A
// totalSize is lowered by the tasks taken out of this page (the agent's
// other pages are not known). It returns the answer and whether it
// changed.
func (c *call) ownTasksOnly(answer map[string]any) (map[string]any, bool) {
	ctx := c.r.Context()
	rl := c.rl
	if rl.rec == nil || (rl.opts.IsAdmin != nil && rl.opts.IsAdmin(ctx)) {
		return answer, false
	}
	result, _ := answer["result"].(map[string]any)
	tasks, _ := result["tasks"].([]any)
	kept := make([]any, 0, len(tasks))
	for _, v := range tasks {
		t, _ := v.(map[string]any)
		id, _ := t["id"].(string)
		if rl.listedTaskVisible(ctx, c.name, c.caller, id) {
			kept = append(kept, v)
		}
	}
	dropped := len(tasks) - len(kept)
	if dropped == 0 {
		return answer, false
	}
	out, res := maps.Clone(answer), maps.Clone(result)
	res["tasks"] = kept
	for _, k := range []string{"totalSize", "total_size"} {
		if n, ok := res[k].(json.Number); ok {
			if total, err := n.Int64(); err == nil {
				res[k] = json.Number(strconv.FormatInt(max(total-int64(dropped), int64(len(kept))), 10))
			}
		}
	}
	out["result"] = res
	return out, true
}

// taskNotFound is the answer a relayed agent's "task not found" gets: the
// agent's name in front, its data as agentError renders it.
func (c *call) taskNotFound() []byte {
	answer := c.agentError(c.id, map[string]any{
		"code":    json.Number(strconv.Itoa(compat.CodeTaskNotFound)),
		"message": relayTaskNotFound,
		"data":    map[string]any{"error": relayTaskNotFound},
	})
	b, err := compat.EncodeJSON(answer)
	if err != nil { // not for these values
		return compat.ErrorResponse(c.cv, c.id, &compat.Error{Code: compat.CodeTaskNotFound, Message: relayTaskNotFound})
	}
	return b
}

// relayTaskIDs lists the tasks a relayed request (decoded, in A2A version
// v) names, where an agent may read one: params.id (tasks/get, cancel,
// resubscribe; 0.3's push config get, list and delete), params.taskId
// (push configs) or params.message.taskId (a message continuing a task).
// Each field is read under every spelling an agent may accept for it: any
// case (Go's encoding/json matches member names ignoring case) and with
// underscores (A2A 1.0's proto-JSON accepts snake_case), so that no
// spelling slips past the check. Empty IDs and IDs that are not strings
// name no task.
func relayTaskIDs(v compat.Version, req map[string]any) []string {
	method, _ := req["method"].(string)
	params, _ := req["params"].(map[string]any)
	if params == nil {
		return nil
	}
	var ids []string
	add := func(o map[string]any, name string) {
		for k, val := range o {
			if id, ok := val.(string); ok && id != "" && foldName(k) == name && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	switch compat.Method10(method) {
	case "SendMessage", "SendStreamingMessage":
		for k, val := range params {
			if msg, ok := val.(map[string]any); ok && foldName(k) == "message" {
				add(msg, "taskid")
			}
		}
	case "GetTask", "CancelTask", "SubscribeToTask":
		add(params, "id")
	case "CreateTaskPushNotificationConfig":
		add(params, "taskid")
	case "GetTaskPushNotificationConfig", "ListTaskPushNotificationConfigs", "DeleteTaskPushNotificationConfig":
		add(params, "taskid")
		// 0.3 names the task in id; 1.0 names the config there, unless the
		// params are in 0.3's shape (which compat passes on as they are).
		if v == compat.V03 || hasMember(params, "pushnotificationconfigid") {
			add(params, "id")
		}
	}
	return ids
}

// hasMember reports whether o has a member spelled as foldName gives name.
func hasMember(o map[string]any, name string) bool {
	for k := range o {
		if foldName(k) == name {
			return true
		}
	}
	return false
}

// mergeIDs adds the IDs of b missing from a.
func mergeIDs(a, b []string) []string {
	for _, id := range b {
		if !slices.Contains(a, id) {
			a = append(a, id)
		}
	}
	return a
}

// foldName is a member name as a lenient decoder matches it: lower case,
// without underscores.
func foldName(k string) string { return strings.ToLower(strings.ReplaceAll(k, "_", "")) }

// envelopeMembers are the JSON-RPC envelope's members.
var envelopeMembers = []string{"jsonrpc", "id", "method", "params"}

// misspelledEnvelope returns a member of a JSON-RPC request that a lenient
// decoder would take for an envelope member it is not ("Method",
// "PARAMS"), or "". Such a request means one thing to Parley and maybe
// another to the agent (which method, which task), so the relay refuses
// it.
func misspelledEnvelope(req map[string]any) string {
	for k := range req {
		if f := foldName(k); slices.Contains(envelopeMembers, f) && k != f {
			return k
		}
	}
	return ""
}

// ambiguousMember returns a member name in v (a request's params, decoded)
// that the relay's checks and the agent's decoder could read differently,
// or "". The relay finds task IDs, push callbacks and the message it
// writes the caller into by member name, folding ASCII case and
// underscores as lenient decoders do; but Go's encoding/json also folds
// some letters outside ASCII ("ſ" is "s" to it, "K" is "k"), and keeps the
// last of two names it takes for one. So refused are: a member name
// outside ASCII, two names one ignoring case and underscores, and the
// message under another spelling than "message" or its snake case (the
// caller is written into "message" only). The contents of metadata and
// of data parts are the caller's own, not A2A's, and are not looked into.
func ambiguousMember(v any) string {
	switch v := v.(type) {
	case map[string]any:
		if k, ok := firstUnplain(v); !ok {
			return k
		}
		for k, val := range v {
			if foldName(k) == "message" && k != "message" {
				return k
			}
			if k == "metadata" || k == "data" {
				continue
			}
			if bad := ambiguousMember(val); bad != "" {
				return bad
			}
		}
	case []any:
		for _, val := range v {
			if bad := ambiguousMember(val); bad != "" {
				return bad
			}
		}
	}
	return ""
}

// firstUnplain is plainMembers, naming the member that fails it.
func firstUnplain(o map[string]any) (string, bool) {
	seen := make([]string, 0, len(o))
	for k := range o {
		for i := 0; i < len(k); i++ {
			if k[i] >= 0x80 {
				return k, false
			}
		}
		for _, s := range seen {
			if sameMember(s, k) {
				return k, false
			}
		}
		seen = append(seen, k)
	}
	return "", true
}
