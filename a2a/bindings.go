package a2a

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2acompat/a2av0"
	"github.com/a2aproject/a2a-go/v2/a2asrv"

	"github.com/parleyhq/parley/a2a/compat"
)

// newJSONRPCHandler serves both versions of A2A JSON-RPC on one path. A
// request says its version in the A2A-Version header (A2A 1.0 §3.2.5:
// absent means 0.3); a client that leaves the header out but calls a 1.0
// method (SendMessage rather than message/send) is taken at its word, as
// 0.3's method names all hold a slash and 1.0's none.
func newJSONRPCHandler(h a2asrv.RequestHandler, maxBody int64) http.Handler {
	v10 := a2asrv.NewJSONRPCHandler(h)
	v03 := a2av0.NewJSONRPCHandler(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get(a2ago.SvcParamVersion); v != "" {
			if strings.HasPrefix(v, "0.") {
				v03.ServeHTTP(w, r)
			} else {
				v10.ServeHTTP(w, r)
			}
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) || int64(len(body)) > maxBody {
			writeTooLarge(w, maxBody, true)
			return
		}
		if err != nil {
			// A body cut short: the handler answers it as the parse error
			// it is.
			body = nil
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var env struct {
			Method string `json:"method"`
		}
		if json.Unmarshal(body, &env) == nil && env.Method != "" && !strings.Contains(env.Method, "/") {
			v10.ServeHTTP(w, r)
			return
		}
		v03.ServeHTTP(w, r)
	})
}

// NewRESTHandler serves both versions of the A2A HTTP+JSON binding on one
// base: 0.3 under /v1 (where 0.3 clients put every path), 1.0 at the root.
// The gateway's own face serves it, and the relay each agent's REST face.
func NewRESTHandler(h a2asrv.RequestHandler) http.Handler {
	v10 := a2asrv.NewRESTHandler(h)
	v03 := a2av0.NewRESTHandler(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, a2av0.RESTPathPrefix+"/") {
			v03.ServeHTTP(w, r)
			return
		}
		v10.ServeHTTP(w, r)
	})
}

// limitBody refuses a request body over max bytes, in the binding's
// error form and naming the limit: at once when its length is announced,
// and as it is read otherwise (the SDK answers the cut body as a parse
// error, which cleanAnswers rewords). No binding reads an unbounded body
// into memory.
func limitBody(max int64, rpc bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			writeTooLarge(w, max, rpc)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		next.ServeHTTP(w, r)
	})
}

func tooLargeText(max int64) string {
	return fmt.Sprintf("the request body is larger than the %d bytes the gateway accepts", max)
}

// writeTooLarge answers a body over the limit with 413: a JSON-RPC invalid
// request, or a REST error in the form of A2A 1.0's.
func writeTooLarge(w http.ResponseWriter, max int64, rpc bool) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusRequestEntityTooLarge)
	if rpc {
		_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": nil,
			"error": map[string]any{"code": -32600, "message": tooLargeText(max)}})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": http.StatusRequestEntityTooLarge, "status": "INVALID_ARGUMENT", "message": tooLargeText(max)}})
}

// cleanAnswers puts the error answers the SDK writes itself, before any
// interceptor runs (a body it could not decode, a parameter of the wrong
// type), in the caller's terms: their texts pass compat.SafeErrorText,
// which rewords Go's JSON errors ("json: cannot unmarshal number into Go
// struct field GetTaskRequest.id of type a2a.TaskID") and bounds what a
// caller sent, and a body cut at the limit is said to be too large,
// naming the limit. Streams pass through as they are written.
func cleanAnswers(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bw := &bufferedAnswer{w: w}
		next.ServeHTTP(bw, r)
		if bw.streaming {
			return
		}
		body := bw.buf.Bytes()
		if answer, ok := cleanErrorAnswer(body, bw.status, max); ok {
			body = answer
			w.Header().Del("Content-Length")
		}
		if bw.status != 0 {
			w.WriteHeader(bw.status)
		}
		_, _ = w.Write(body)
	})
}

// cleanErrorAnswer rewrites the texts of an error answer (a JSON-RPC one
// with an "error" member, or any answer of status 400 or more); ok is
// false for any other answer, which is left as it is.
func cleanErrorAnswer(body []byte, status int, max int64) ([]byte, bool) {
	var doc map[string]any
	if json.Unmarshal(body, &doc) != nil {
		return nil, false
	}
	if _, rpcError := doc["error"]; !rpcError && status < 400 {
		return nil, false
	}
	too := tooLargeText(max)
	var clean func(v any) any
	clean = func(v any) any {
		switch v := v.(type) {
		case string:
			if strings.Contains(v, "request body too large") {
				return too
			}
			return compat.SafeErrorText(v)
		case map[string]any:
			for k, e := range v {
				v[k] = clean(e)
			}
		case []any:
			for i, e := range v {
				v[i] = clean(e)
			}
		}
		return v
	}
	for k, v := range doc {
		if k != "id" && k != "jsonrpc" {
			doc[k] = clean(v)
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, false
	}
	return append(out, '\n'), true
}

// bufferedAnswer holds a handler's answer until it is complete, unless it
// turns out to be a stream (text/event-stream), which is passed on as it
// is written.
type bufferedAnswer struct {
	w         http.ResponseWriter
	buf       bytes.Buffer
	status    int
	decided   bool
	streaming bool
}

func (b *bufferedAnswer) Header() http.Header { return b.w.Header() }

func (b *bufferedAnswer) decide() {
	if b.decided {
		return
	}
	b.decided = true
	if strings.HasPrefix(b.w.Header().Get("Content-Type"), "text/event-stream") {
		b.streaming = true
		if b.status != 0 {
			b.w.WriteHeader(b.status)
		}
	}
}

func (b *bufferedAnswer) WriteHeader(status int) {
	if b.decided {
		if b.streaming {
			b.w.WriteHeader(status)
		}
		return
	}
	b.status = status
	b.decide()
}

func (b *bufferedAnswer) Write(p []byte) (int, error) {
	b.decide()
	if b.streaming {
		return b.w.Write(p)
	}
	return b.buf.Write(p)
}

// Flush passes a stream's events on at once (the SDK flushes after each).
func (b *bufferedAnswer) Flush() {
	b.decide()
	if f, ok := b.w.(http.Flusher); ok && b.streaming {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (deadlines).
func (b *bufferedAnswer) Unwrap() http.ResponseWriter { return b.w }

// grpcMethods are the JSON-RPC twins of the A2A 0.3 gRPC methods (service
// a2a.v1.A2AService); the 1.0 service's methods are named as their
// JSON-RPC twins already.
var grpcMethods = map[string]string{
	"SendMessage":                      "message/send",
	"SendStreamingMessage":             "message/stream",
	"GetTask":                          "tasks/get",
	"ListTasks":                        "tasks/list",
	"CancelTask":                       "tasks/cancel",
	"TaskSubscription":                 "tasks/resubscribe",
	"CreateTaskPushNotificationConfig": "tasks/pushNotificationConfig/set",
	"GetTaskPushNotificationConfig":    "tasks/pushNotificationConfig/get",
	"ListTaskPushNotificationConfig":   "tasks/pushNotificationConfig/list",
	"DeleteTaskPushNotificationConfig": "tasks/pushNotificationConfig/delete",
	"GetAgentCard":                     "agent/getAuthenticatedExtendedCard",
}

const (
	grpcService10 = "/lf.a2a.v1.A2AService/"
	grpcService03 = "/a2a.v1.A2AService/"
)

// GRPCMethod names the A2A JSON-RPC method a gRPC call of the A2A service
// is the twin of, in the call's protocol version (fullMethod is the gRPC
// method's full name, as interceptors see it), so that what is said about
// calls (the audit log) reads the same on every binding; "" for a method
// of another service.
func GRPCMethod(fullMethod string) string {
	if m, ok := strings.CutPrefix(fullMethod, grpcService10); ok {
		return m
	}
	if m, ok := strings.CutPrefix(fullMethod, grpcService03); ok {
		return grpcMethods[m]
	}
	return ""
}

// RESTMethod names the A2A JSON-RPC method a REST request is the twin of,
// in the request's protocol version, from its HTTP method and its path
// relative to RESTPath; "" for a path that is no A2A operation.
func RESTMethod(httpMethod, path string) string {
	rest, v03 := strings.CutPrefix(path, a2av0.RESTPathPrefix+"/")
	if !v03 {
		rest = strings.TrimPrefix(path, "/")
	}
	var m string
	switch {
	case httpMethod == http.MethodPost && rest == "message:send":
		m = "SendMessage"
	case httpMethod == http.MethodPost && rest == "message:stream":
		m = "SendStreamingMessage"
	case httpMethod == http.MethodGet && rest == "tasks":
		m = "ListTasks"
	case httpMethod == http.MethodGet && v03 && rest == "card", httpMethod == http.MethodGet && rest == "extendedAgentCard":
		m = "GetExtendedAgentCard"
	case strings.HasPrefix(rest, "tasks/"):
		task := strings.TrimPrefix(rest, "tasks/")
		id, sub, hasSub := strings.Cut(task, "/")
		switch {
		case !hasSub && strings.HasSuffix(id, ":cancel") && httpMethod == http.MethodPost:
			m = "CancelTask"
		case !hasSub && strings.HasSuffix(id, ":subscribe"):
			m = "SubscribeToTask"
		case !hasSub && httpMethod == http.MethodGet:
			m = "GetTask"
		case strings.HasPrefix(sub, "pushNotificationConfigs"):
			_, cfg, named := strings.Cut(sub, "/")
			switch {
			case httpMethod == http.MethodPost:
				m = "CreateTaskPushNotificationConfig"
			case httpMethod == http.MethodDelete:
				m = "DeleteTaskPushNotificationConfig"
			case httpMethod == http.MethodGet && named && cfg != "":
				m = "GetTaskPushNotificationConfig"
			case httpMethod == http.MethodGet:
				m = "ListTaskPushNotificationConfigs"
			}
		}
	}
	if m == "" || !v03 {
		return m
	}
	return restMethods03[m]
}

// restMethods03 are the 0.3 JSON-RPC names of the REST operations.
var restMethods03 = map[string]string{
	"SendMessage":                      "message/send",
	"SendStreamingMessage":             "message/stream",
	"ListTasks":                        "tasks/list",
	"GetExtendedAgentCard":             "agent/getAuthenticatedExtendedCard",
	"CancelTask":                       "tasks/cancel",
	"SubscribeToTask":                  "tasks/resubscribe",
	"GetTask":                          "tasks/get",
	"CreateTaskPushNotificationConfig": "tasks/pushNotificationConfig/set",
	"DeleteTaskPushNotificationConfig": "tasks/pushNotificationConfig/delete",
	"GetTaskPushNotificationConfig":    "tasks/pushNotificationConfig/get",
	"ListTaskPushNotificationConfigs":  "tasks/pushNotificationConfig/list",
}
