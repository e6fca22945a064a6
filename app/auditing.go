package app

import (
	"net/http"
	"strings"

	"github.com/parleyhq/parley/a2a"
	"github.com/parleyhq/parley/a2a/relay"
	"github.com/parleyhq/parley/adminapi"
	"github.com/parleyhq/parley/audit"
)

// What the gateway's HTTP endpoints record in the audit log (tool calls are
// recorded by mcpbridge.AuditMiddleware, denials by the auth hooks).

// a2aSends are the JSON-RPC methods that send an agent a message, in both
// A2A versions.
var a2aSends = map[string]bool{
	"message/send": true, "message/stream": true, "SendMessage": true, "SendStreamingMessage": true,
}

// describeA2A records calls to the gateway's own A2A endpoint: messages as
// a2a.message, other methods (tasks/get, cancel, …) as a2a.call. The a2a
// server notes the task of each call, and its refusal or failure, in the
// record (audit.NoteTask, NoteDenied, NoteFailed). The record of a call
// that may write (a2aWrites) is committed with its first store write.
func describeA2A(_ *http.Request, method string) (audit.Entry, bool) {
	return a2aEntry(method), method != ""
}

// describeA2AGRPC records the gRPC calls of the gateway's own A2A server
// exactly as describeA2A records their JSON-RPC twins; calls of other
// services (health, reflection) are not recorded.
func describeA2AGRPC(fullMethod string) (audit.Entry, string, bool) {
	method := a2a.GRPCMethod(fullMethod)
	return a2aEntry(method), method, method != ""
}

// describeA2AREST records the REST calls of the gateway's own A2A server
// exactly as describeA2A records their JSON-RPC twins (a2a.RESTMethod; r's
// path is relative to a2a.RESTPath).
func describeA2AREST(r *http.Request, _ string) (audit.Entry, bool) {
	method := a2a.RESTMethod(r.Method, r.URL.Path)
	e := a2aEntry(method)
	e.Method = method // a REST body names no method: the record says it
	return e, method != ""
}

// a2aReads are the JSON-RPC methods that change nothing, in both A2A
// versions: their records are queued for the next group commit rather
// than waited for (audit.Entry.Read).
var a2aReads = map[string]bool{
	"tasks/get": true, "GetTask": true, "ListTasks": true, "GetExtendedAgentCard": true, "agent/getAuthenticatedExtendedCard": true,
	"tasks/pushNotificationConfig/get": true, "tasks/pushNotificationConfig/list": true,
	"GetTaskPushNotificationConfig": true, "ListTaskPushNotificationConfigs": true,
	// The gRPC spellings (a2a.GRPCMethod, the 1.0 gRPC method).
	"tasks/list": true, "ListTaskPushNotificationConfig": true,
}

// a2aWrites are the methods of the gateway's own A2A server that change
// its store, in both A2A versions: a message saves its task (and runs a
// tool), a cancel saves the task canceled, a push notification config is
// set or deleted. Their record is committed in the transaction of the
// call's first store write (audit.Entry.WithWrite), so that an
// acknowledged change and its record commit together or not at all; a
// call that then fails is recorded a second time, and one that wrote
// nothing (refused, failed first) after it, as any other.
var a2aWrites = map[string]bool{
	"message/send": true, "message/stream": true, "SendMessage": true, "SendStreamingMessage": true,
	"tasks/cancel": true, "CancelTask": true,
	"tasks/pushNotificationConfig/set": true, "CreateTaskPushNotificationConfig": true,
	"tasks/pushNotificationConfig/delete": true, "DeleteTaskPushNotificationConfig": true,
}

func a2aEntry(method string) audit.Entry {
	action := "a2a.call"
	if a2aSends[method] {
		action = audit.ActionA2AMessage
	}
	return audit.Entry{Action: action, Target: "parley", Read: a2aReads[method], WithWrite: a2aWrites[method]}
}

// describeRelay records every JSON-RPC call relayed to an agent, once it
// has been answered. Not WithWrite: what a relayed call changes is the
// agent's, outside the store, and the relay's own bookkeeping of the task
// (relay.Relay's recorder) is written after the call, off its context, so
// there is no write of the call's to commit the record with.
func describeRelay(r *http.Request, method string) (audit.Entry, bool) {
	name, sub, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, relay.Path+"/"), "/")
	if rest, ok := strings.CutPrefix(sub, "rest"); ok && (rest == "" || strings.HasPrefix(rest, "/")) {
		// The relay's REST face: the JSON-RPC twin of the REST call.
		method = a2a.RESTMethod(r.Method, rest)
	}
	return audit.Entry{Action: audit.ActionA2ARelay, Target: name, Method: method, Read: a2aReads[method]}, method != "" && name != ""
}

// describeAdmin records changes to the agent registry, and to the
// registered upstreams (describeUpstreamAdmin).
func describeAdmin(r *http.Request, _ string) (audit.Entry, bool) {
	if rest, ok := strings.CutPrefix(r.URL.Path, adminapi.UpstreamsPath); ok {
		return describeUpstreamAdmin(r, rest)
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/v1/agents")
	if !ok {
		return audit.Entry{}, false
	}
	name, sub, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
	var action string
	switch {
	case r.Method == http.MethodPost && name == "":
		action = audit.ActionAgentRegister
	case r.Method == http.MethodPut && sub == "":
		action = audit.ActionAgentReplace
	case r.Method == http.MethodDelete && sub == "":
		action = audit.ActionAgentRemove
	case r.Method == http.MethodPost && sub == "approve":
		action = audit.ActionAgentApprove
	case r.Method == http.MethodPost && sub == "refetch":
		action = "agent.refetch"
	default:
		return audit.Entry{}, false
	}
	// Committed with the registry's write: a change and its record
	// together or not at all.
	return audit.Entry{Action: action, Target: name, WithWrite: true}, true
}
