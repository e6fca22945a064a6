package audit

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/parleyhq/parley/internal/httpstatus"
)

// Describe says what an HTTP request does, for its audit record: the entry
// (Action and Target at least) and whether to record it at all. method is
// the JSON-RPC method when the body is a JSON-RPC request, else "".
type Describe func(r *http.Request, method string) (Entry, bool)

// maxPeek bounds how much of a body the middleware reads to find a
// JSON-RPC method; larger bodies are recorded without it.
const maxPeek = 1 << 20

// peekMethod is the "method" of a JSON-RPC request's body, or "".
func peekMethod(head []byte) string {
	var rpc struct {
		Method string `json:"method"`
	}
	if json.Unmarshal(head, &rpc) != nil {
		return ""
	}
	return rpc.Method
}

// Middleware appends one record per request that describe accepts, once
// the handler has answered: outcome OK for 2xx answers, Denied for 401 and
// 403, Error otherwise, unless the handler noted worse (NoteDenied,
// NoteFailed: a JSON-RPC error answered with 200, a task of another
// caller's answered "not found"); the task the handler noted (NoteTask)
// goes into the record's links. The JSON-RPC method, the HTTP status and
// the reason noted are in the detail. Put it inside the auth middleware so
// that records name the caller. The record of an entry marked Read is
// queued (Record); any other is committed before the middleware returns
// (Append). An entry marked WithWrite is committed with the request's
// first store write, if it makes one (Log.Intend): with outcome OK and
// the detail "committed_write": "true", at the time of the write. If the
// request then fails, a second record says so ("after_committed_write"
// in its detail): the change stands, and so does its record.
func Middleware(log *Log, describe Describe) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			method := ""
			if b, ok := r.Body.(interface{ Unread() []byte }); ok && r.Method == http.MethodPost {
				// The JSON-RPC edge in front read the body already
				// (jsonrpcedge.Body): peek at its bytes where they are,
				// leaving the body as it is, rather than read and copy them
				// and hide the edge's body from the handler.
				head := b.Unread()
				if len(head) > maxPeek {
					head = head[:maxPeek]
				}
				method = peekMethod(head)
			} else if r.Method == http.MethodPost && r.Body != nil {
				head, err := io.ReadAll(io.LimitReader(r.Body, maxPeek))
				if err == nil {
					method = peekMethod(head)
				}
				r.Body = struct {
					io.Reader
					io.Closer
				}{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
			}
			entry, ok := describe(r, method)
			if entry.Method != "" {
				method = entry.Method
			}
			if !ok {
				next.ServeHTTP(w, r)
				return
			}
			var detail map[string]string
			if method != "" {
				detail = map[string]string{"method": method}
			}
			ctx, call := log.BeginCall(r.Context(), entry, detail)
			sw := &httpstatus.Recorder{ResponseWriter: w}
			next.ServeHTTP(sw, r.WithContext(ctx))
			outcome := Error
			switch {
			case sw.Status == 0 || sw.Status < 300:
				outcome = OK
			case sw.Status == http.StatusUnauthorized || sw.Status == http.StatusForbidden:
				outcome = Denied
			}
			detail = map[string]string{"http_status": strconv.Itoa(max(sw.Status, http.StatusOK))}
			if method != "" {
				detail["method"] = method
			}
			// Logs its own failures. An answer the handler did not flush
			// (one that fits the server's buffer) reaches the client only
			// after this returns: a write's record is committed by then.
			call.End(r.Context(), outcome, detail)
		})
	}
}
