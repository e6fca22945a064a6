package relay

// The REST relay's message:send, relayed by the JSON-RPC relay.
//
// A2A 1.0's REST POST /message:send carries a SendMessageRequest, the same
// document as the params of a JSON-RPC SendMessage. The REST face relays
// it through the JSON-RPC relay's own call (call.run: the agent's lookup,
// Authorize, the endpoint, the caller in the message's metadata, the task
// ownership check, the push-callback guard, translation for 0.3 agents,
// recording and the audit notes), its JSON-RPC answer captured and
// written in REST form, instead of through a2a-go's REST handler, the
// forwarder and a typed client (forward.go): the JSON-RPC relay passes
// the request and the answer on as bytes, decoded once, where the typed
// path decodes and encodes each of them twice more (issue 14: relay CPU).
//
// Only what the JSON-RPC relay answers as the REST path would takes this
// path; the rest goes the typed way, decided before anything is called
// (restSendable): 0.3 REST (under /v1) and streaming are not sent here;
// a body the typed path reads otherwise (not JSON, not an object, no
// message object, a member named twice in spellings a lenient decoder
// takes for one, or a name outside ASCII, which Go's decoder folds in
// ways the relay's checks do not) goes there, as does a call to an agent
// whose card lists no JSON-RPC interface Parley relays (the pool then
// calls it over another binding).
//
// What still reads differently, with the same HTTP status and error kind:
// the message of a failure to reach the agent ("is unreachable" rather
// than the pool's "could not be reached"); and a request the agent (or the
// translation for a 0.3 agent) refuses where a2a-go's REST handler would
// have refused to decode it (a part of no known kind: 400 from both, the
// reason PARSE_ERROR or INVALID_PARAMS), since the relay passes the body
// on rather than decode it into SDK types.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/parleyhq/parley/a2a/compat"
	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/internal/jsonscan"
)

// restSendPath is message:send under the REST face's root (A2A 1.0).
const restSendPath = "/message:send"

// restSendID is the JSON-RPC id of a wrapped message:send: the answer is
// captured, so no caller ever sees it.
var restSendID = json.Number("1")

// restSendPrefix and restSendSuffix wrap a SendMessageRequest into a
// JSON-RPC SendMessage request.
var (
	restSendPrefix = []byte(`{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":`)
	restSendSuffix = []byte(`}`)
)

// isRESTSend reports whether a REST call is A2A 1.0's message:send:
// rest is the path under the agent's REST base. A 1.0 request may leave
// the A2A-Version header out (the REST root is 1.0's); one naming another
// version is not taken here.
func isRESTSend(r *http.Request, rest string) bool {
	if r.Method != http.MethodPost || rest != restSendPath {
		return false
	}
	v := r.Header.Get(compat.HeaderVersion)
	return v == "" || compat.ParseVersion(v) == compat.V10
}

// sendREST relays a REST message:send to the named agent through the
// JSON-RPC relay (see above), and reports whether it did. When it did not,
// nothing was written or called, and body is the request's body as it
// came, for the REST handler to read.
func (rl *Relay) sendREST(w http.ResponseWriter, r *http.Request, name string) (done bool, body io.ReadCloser) {
	raw, err := readSized(r.Body, r.ContentLength, rl.opts.MaxBodyBytes)
	replay := func() io.ReadCloser {
		// What was read, then what was not: the REST handler reads the
		// body as it came, and refuses it (too large, cut short, not
		// JSON) as it always has.
		return struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(raw), r.Body), r.Body}
	}
	if err != nil || int64(len(raw)) > rl.opts.MaxBodyBytes {
		return false, replay()
	}
	parsed, err := compat.DecodeJSON(raw)
	params, _ := parsed.(map[string]any)
	if err != nil || !restSendable(params) {
		return false, replay()
	}
	ctx := r.Context()
	answer := &capturedAnswer{header: http.Header{}}
	c := &call{rl: rl, w: answer, r: r, name: name, cv: compat.V10, method: "SendMessage", id: restSendID}
	agent, err := rl.agents.get(ctx, name)
	if err == nil {
		if len(rl.agentEndpoints(agent)) == 0 {
			return false, replay() // the forwarder's client reaches it otherwise
		}
		c.agent = &agent
		name = agent.Name
	}
	// As the forwarder notes its calls: the relayed agent, as registered.
	audit.NoteTarget(ctx, audit.ActionA2ARelay, name)
	_ = r.Body.Close()

	wrapped := make([]byte, 0, len(restSendPrefix)+len(raw)+len(restSendSuffix))
	wrapped = append(append(append(wrapped, restSendPrefix...), raw...), restSendSuffix...)
	req := map[string]any{"jsonrpc": "2.0", "id": restSendID, "method": "SendMessage", "params": params}
	c.run(wrapped, req)
	rl.writeRESTSend(w, c, answer)
	return true, nil
}

// restSendable reports whether a message:send request (decoded; nil if it
// is not an object) reads the same to the JSON-RPC relay's checks as to
// the typed path: its message an object, and neither it nor the message
// holding a member name outside ASCII or two names a lenient decoder takes
// for one ("taskId" and "TaskId" or "task_id"; Go's encoding/json keeps
// the last of them, the relay's checks might read another).
func restSendable(params map[string]any) bool {
	msg, ok := params["message"].(map[string]any)
	return ok && plainMembers(params) && plainMembers(msg)
}

// plainMembers reports whether o's member names are ASCII and distinct
// ignoring case and underscores.
func plainMembers(o map[string]any) bool {
	_, ok := firstUnplain(o)
	return ok
}

// sameMember reports whether two ASCII member names are one ignoring case
// and underscores (foldName, without its allocations).
func sameMember(a, b string) bool {
	i, j := 0, 0
	for {
		for i < len(a) && a[i] == '_' {
			i++
		}
		for j < len(b) && b[j] == '_' {
			j++
		}
		if i == len(a) || j == len(b) {
			return i == len(a) && j == len(b)
		}
		x, y := a[i], b[j]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
		i, j = i+1, j+1
	}
}

// capturedAnswer is the ResponseWriter a wrapped call answers into: its
// JSON-RPC answer is written to the caller in REST form (writeRESTSend).
type capturedAnswer struct {
	header http.Header
	status int
	body   []byte
}

func (a *capturedAnswer) Header() http.Header { return a.header }

func (a *capturedAnswer) WriteHeader(status int) {
	if a.status == 0 {
		a.status = status
	}
}

func (a *capturedAnswer) Write(p []byte) (int, error) {
	a.body = append(a.body, p...)
	return len(p), nil
}

// writeRESTSend writes a wrapped call's JSON-RPC answer as a2a-go's REST
// handler writes message:send's: the result (a SendMessageResponse,
// {"task": …} or {"message": …}) as the body of a 200, an error in the
// form of A2A 1.0's REST errors (writeRESTFailure).
func (rl *Relay) writeRESTSend(w http.ResponseWriter, c *call, answer *capturedAnswer) {
	if ext := answer.header.Values(compat.HeaderExtensions); len(ext) > 0 {
		w.Header()[http.CanonicalHeaderKey(compat.HeaderExtensions)] = ext
	}
	body := bytes.TrimSpace(answer.body)
	if len(body) == 0 {
		return // the caller went away (callFailed): nobody to answer
	}
	result, errObj, ok := answerMembers(body)
	if !ok || errObj != nil || result == nil {
		// Read it whole: an escaped member name, an error, or no answer.
		result = nil
		parsed, _ := compat.DecodeJSON(body)
		doc, _ := parsed.(map[string]any)
		if e, isErr := doc["error"].(map[string]any); isErr {
			rl.writeRESTFailure(w, c, e)
			return
		}
		if res, hasResult := doc["result"]; hasResult {
			result, _ = compat.EncodeJSON(res)
		}
		if result == nil {
			// Nothing the relay passes on as an answer: the agent
			// streamed its answer to a call that wants one (copyStream
			// passed the stream on, its tasks recorded), or answered an
			// error that is not an object.
			msg := fmt.Sprintf("agent %q answered with something that is not an A2A answer", c.name)
			if isEventStream(answer.header.Get("Content-Type")) {
				msg = fmt.Sprintf("agent %q answered with a stream where one answer was due", c.name)
			}
			c.cause = causeBadResponse
			noteRelayFailure(c.r.Context(), causeBadResponse)
			rl.writeRESTFailure(w, c, map[string]any{"code": json.Number(strconv.Itoa(compat.CodeInvalidAgentResponse)), "message": msg})
			return
		}
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	w.WriteHeader(http.StatusOK)
	// result is in the captured answer, done with: the line's end may
	// overwrite what followed it there.
	_, _ = w.Write(append(result, '\n'))
}

// answerMembers finds the "result" and "error" members of a JSON-RPC
// answer, a JSON object the relay decoded or encoded (so valid JSON),
// without decoding it again: the spans of their values, the last of each
// as a decoder keeps. ok is false, to read it otherwise, when it is not an
// object or a member's name holds an escape.
func answerMembers(b []byte) (result, errObj []byte, ok bool) {
	ok = jsonscan.Members(b, func(name, value []byte) bool {
		if bytes.IndexByte(name, '\\') >= 0 {
			return false
		}
		switch string(name) {
		case "result":
			result = value
		case "error":
			errObj = value
		}
		return true
	})
	if !ok {
		return nil, nil, false
	}
	return result, errObj, true
}

// restStatus is how A2A 1.0's REST binding answers an error of one kind:
// its HTTP status and the google.rpc status name, as a2a-go v2.4.0 maps
// them (internal/rest: errorMappings).
type restStatus struct {
	kind error
	http int
	grpc string
}

// restStatuses are the REST answers to the JSON-RPC error codes (A2A 1.0's
// and a2a-go's, whose JSON-RPC binding maps the same kinds to these
// codes: internal/jsonrpc). Any other code is an internal error.
var restStatuses = map[int]restStatus{
	compat.CodeParseError:                   {a2a.ErrParseError, http.StatusBadRequest, "INVALID_ARGUMENT"},
	compat.CodeInvalidRequest:               {a2a.ErrInvalidRequest, http.StatusBadRequest, "INVALID_ARGUMENT"},
	compat.CodeMethodNotFound:               {a2a.ErrMethodNotFound, http.StatusNotImplemented, "UNIMPLEMENTED"},
	compat.CodeInvalidParams:                {a2a.ErrInvalidParams, http.StatusBadRequest, "INVALID_ARGUMENT"},
	compat.CodeInternalError:                {a2a.ErrInternalError, http.StatusInternalServerError, "INTERNAL"},
	-32000:                                  {a2a.ErrServerError, http.StatusInternalServerError, "INTERNAL"},
	compat.CodeTaskNotFound:                 {a2a.ErrTaskNotFound, http.StatusNotFound, "NOT_FOUND"},
	compat.CodeTaskNotCancelable:            {a2a.ErrTaskNotCancelable, http.StatusBadRequest, "FAILED_PRECONDITION"},
	compat.CodePushNotificationNotSupported: {a2a.ErrPushNotificationNotSupported, http.StatusBadRequest, "FAILED_PRECONDITION"},
	compat.CodeUnsupportedOperation:         {a2a.ErrUnsupportedOperation, http.StatusBadRequest, "FAILED_PRECONDITION"},
	compat.CodeContentTypeNotSupported:      {a2a.ErrUnsupportedContentType, http.StatusBadRequest, "INVALID_ARGUMENT"},
	compat.CodeInvalidAgentResponse:         {a2a.ErrInvalidAgentResponse, http.StatusInternalServerError, "INTERNAL"},
	compat.CodeExtendedCardNotConfigured:    {a2a.ErrExtendedCardNotConfigured, http.StatusBadRequest, "FAILED_PRECONDITION"},
	compat.CodeExtensionSupportRequired:     {a2a.ErrExtensionSupportRequired, http.StatusBadRequest, "FAILED_PRECONDITION"},
	compat.CodeVersionNotSupported:          {a2a.ErrVersionNotSupported, http.StatusBadRequest, "FAILED_PRECONDITION"},
	-31401:                                  {a2a.ErrUnauthenticated, http.StatusUnauthorized, "UNAUTHENTICATED"},
	-31403:                                  {a2a.ErrUnauthorized, http.StatusForbidden, "PERMISSION_DENIED"},
}

// restForbidden is the answer to a caller who may not message the agent:
// the JSON-RPC relay says invalid request, the REST face (the forwarder)
// permission denied.
var restForbidden = restStatus{a2a.ErrUnauthorized, http.StatusForbidden, "PERMISSION_DENIED"}

// writeRESTFailure writes a JSON-RPC error (e: its code and message) as
// the REST face's typed path writes the same failure (a2a-go's REST
// handler, the forwarder's error: google.rpc.Status, AIP-193): the HTTP
// and gRPC status of its kind (restStatuses; a call refused because the
// caller may not message the agent is permission denied, as there), its
// message, and as details the forwarder's (the agent, and the cause of a
// failure but "task not found", which reads the same whoever's the task
// is) and an ErrorInfo naming the kind's reason, with the time.
func (rl *Relay) writeRESTFailure(w http.ResponseWriter, c *call, e map[string]any) {
	code := compat.CodeInternalError
	if n, ok := e["code"].(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			code = int(i)
		}
	}
	st, ok := restStatuses[code]
	if !ok {
		st = restStatuses[compat.CodeInternalError]
	}
	cause := c.cause // the relay's own failure, else the agent's error
	switch {
	case cause == causeForbidden:
		st = restForbidden
	case code == compat.CodeTaskNotFound:
		cause = ""
	case cause == "":
		cause = causeAgentError
	}
	msg, _ := e["message"].(string)
	if msg == "" {
		msg = st.kind.Error()
	}
	about := map[string]any{"@type": structType, "agent": c.name}
	if cause != "" {
		about["cause"] = cause
	}
	info := map[string]any{"@type": errorInfoType, "reason": a2a.ErrorReason(st.kind), "domain": a2a.ProtocolDomain,
		"metadata": map[string]string{"timestamp": rl.opts.Now().UTC().Format(time.RFC3339)}}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	w.WriteHeader(st.http)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": restErrorBody{Code: st.http, Status: st.grpc, Message: msg, Details: []any{about, info}}})
}

const (
	errorInfoType = "type.googleapis.com/google.rpc.ErrorInfo"
	structType    = "type.googleapis.com/google.protobuf.Struct"
)

// restErrorBody is google.rpc.Status in JSON, its members in their order.
type restErrorBody struct {
	Code    int    `json:"code"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Details []any  `json:"details"`
}
