package compat

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
)

// Options configure MiddlewareWith.
type Options struct {
	// MaxBodyBytes bounds a request body (default 8 MiB).
	MaxBodyBytes int64
	// Methods10 serves 1.0 methods that have no 0.3 equivalent (ListTasks)
	// instead of answering them with CodeUnsupportedOperation. The function
	// gets the request and its raw 1.0 params and returns the 1.0 result
	// (any JSON-encodable value, json.RawMessage included) or an error
	// (an *Error is sent as is, anything else as an internal error).
	Methods10 map[string]func(r *http.Request, params json.RawMessage) (any, error)
}

// Middleware lets a 0.3 JSON-RPC handler (a2a-go's a2asrv.NewJSONRPCHandler)
// answer A2A 1.0 callers too. See MiddlewareWith.
func Middleware(next http.Handler) http.Handler { return MiddlewareWith(next, Options{}) }

// MiddlewareWith returns a handler that, for a POST carrying a 1.0 JSON-RPC
// request (see DetectVersion), rewrites the body to 0.3 (RequestTo03), copies
// A2A-Extensions to X-A2A-Extensions, calls next, and rewrites next's answer
// back to 1.0: a JSON response as a whole (ResponseTo10), a text/event-stream
// response event by event as next writes it (StreamEventTo10), flushing after
// each event, never holding more than the event being written. 0.3 requests
// and everything that is not a POST go to next untouched. Malformed JSON is
// answered with a JSON-RPC parse error, a version it does not speak with
// CodeVersionNotSupported.
//
// Put it outside whatever builds the a2a-go CallContext from the request
// headers, so that the copied extensions header is seen.
func MiddlewareWith(next http.Handler, opts Options) http.Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 8 << 20
	}
	return &middleware{next: next, opts: opts}
}

type middleware struct {
	next http.Handler
	opts Options
}

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Body == nil {
		m.next.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, m.opts.MaxBodyBytes))
	_ = r.Body.Close()
	headerVersion := ParseVersion(r.Header.Get(HeaderVersion))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeJSON(w, http.StatusRequestEntityTooLarge, ErrorResponse(headerVersion, nil, errorf(CodeInvalidRequest, "request body larger than %d bytes", m.opts.MaxBodyBytes)))
			return
		}
		writeJSON(w, http.StatusBadRequest, ErrorResponse(headerVersion, nil, errorf(CodeParseError, "reading the request: %v", err)))
		return
	}
	parsed, err := decode(body)
	if err != nil {
		writeJSON(w, http.StatusOK, ErrorResponse(headerVersion, nil, errorf(CodeParseError, "invalid JSON: %v", err)))
		return
	}
	var id any
	if req, ok := parsed.(obj); ok {
		id = req["id"]
	}
	v := DetectVersion(r, body)
	if !v.Supported() {
		writeJSON(w, http.StatusOK, ErrorResponse(V10, id, errorf(CodeVersionNotSupported, "A2A-Version %q is not supported (supported: 0.3, 1.0)", string(v))))
		return
	}
	if v == V03 {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		// Untranslated, but its errors bounded like every other's.
		tw := &responseWriter10{w: w, v: V03, id: id}
		tw.sse.translate = tw.translateEvent
		m.next.ServeHTTP(tw, r)
		tw.finish()
		return
	}

	method := canonical10(peekMethod(body))
	if h := m.opts.Methods10[method]; h != nil {
		m.serveNative(w, r, h, parsed, id)
		return
	}
	body03, err := RequestTo03(body)
	if err != nil {
		writeJSON(w, http.StatusOK, ErrorResponse(V10, id, AsError(err)))
		return
	}
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body03))
	r2.ContentLength = int64(len(body03))
	r2.Header.Del("Content-Length")
	if ext := r.Header.Values(HeaderExtensions); len(ext) > 0 && len(r.Header.Values(HeaderExtensions03)) == 0 {
		r2.Header[http.CanonicalHeaderKey(HeaderExtensions03)] = ext
	}
	tw := &responseWriter10{w: w, v: V10, method: method, id: id}
	tw.sse.translate = tw.translateEvent
	m.next.ServeHTTP(tw, r2)
	tw.finish()
}

func (m *middleware) serveNative(w http.ResponseWriter, r *http.Request, h func(*http.Request, json.RawMessage) (any, error), parsed any, id any) {
	var params json.RawMessage
	if req, ok := parsed.(obj); ok && req["params"] != nil {
		params, _ = encode(req["params"])
	}
	result, err := h(r, params)
	if err != nil {
		writeJSON(w, http.StatusOK, ErrorResponse(V10, id, AsError(err)))
		return
	}
	b, err := encode(obj{"jsonrpc": "2.0", "id": id, "result": result})
	if err != nil {
		writeJSON(w, http.StatusOK, ErrorResponse(V10, id, errorf(CodeInternalError, "encoding the result: %v", err)))
		return
	}
	writeJSON(w, http.StatusOK, b)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func isEventStream(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = strings.TrimSpace(strings.Split(contentType, ";")[0])
	}
	return strings.EqualFold(mt, "text/event-stream")
}

// responseWriter10 turns next's 0.3 answer into an answer of version v:
// translated to 1.0, or for a 0.3 caller left as it is; either way its
// errors pass SafeErrorText (sanitizeAnswer).
type responseWriter10 struct {
	w      http.ResponseWriter
	v      Version
	method string // 1.0 method name
	id     any

	wroteHeader bool
	status      int
	stream      bool
	buf         bytes.Buffer // a non-stream body, translated in finish
	sse         sseTranslator
	writeErr    error
}

func (t *responseWriter10) Header() http.Header { return t.w.Header() }

// Unwrap lets http.ResponseController reach the real writer (deadlines).
func (t *responseWriter10) Unwrap() http.ResponseWriter { return t.w }

func (t *responseWriter10) WriteHeader(code int) {
	if t.wroteHeader {
		return
	}
	if code >= 100 && code < 200 { // informational: pass on, not final
		t.w.WriteHeader(code)
		return
	}
	t.wroteHeader = true
	t.status = code
	h := t.w.Header()
	if isEventStream(h.Get("Content-Type")) {
		t.stream = true
		h.Del("Content-Length")
		if t.v == V10 {
			mirrorExtensions(h)
		}
		t.w.WriteHeader(code)
	}
}

func (t *responseWriter10) Write(p []byte) (int, error) {
	if !t.wroteHeader {
		t.WriteHeader(http.StatusOK)
	}
	if !t.stream {
		return t.buf.Write(p)
	}
	if t.writeErr != nil {
		return 0, t.writeErr
	}
	if err := t.sse.feed(p, t.emit); err != nil {
		t.writeErr = err
		return 0, err
	}
	return len(p), nil
}

func (t *responseWriter10) emit(event []byte) error {
	if _, err := t.w.Write(event); err != nil {
		return err
	}
	if f, ok := t.w.(http.Flusher); ok {
		f.Flush()
	}
	return nil
}

// Flush is what a2a-go's SSE writer calls after each event; events are
// already flushed as they complete, so this only passes the call on.
func (t *responseWriter10) Flush() {
	if !t.stream {
		return
	}
	if f, ok := t.w.(http.Flusher); ok {
		f.Flush()
	}
}

func (t *responseWriter10) translateEvent(data []byte) []byte {
	if t.v == V03 {
		return sanitizeAnswer(data)
	}
	out, err := StreamEventTo10(t.method, data)
	if err != nil {
		return ErrorResponse(V10, t.id, errorf(CodeInternalError, "translating an event to A2A 1.0: %v", AsError(err).Message))
	}
	return sanitizeAnswer(out)
}

func (t *responseWriter10) finish() {
	if t.stream {
		if t.writeErr == nil {
			_ = t.sse.close(t.emit)
		}
		return
	}
	status := t.status
	if status == 0 {
		status = http.StatusOK
	}
	if t.v == V03 {
		raw := t.buf.Bytes()
		if body := bytes.TrimSpace(raw); len(body) > 0 {
			if out := sanitizeAnswer(body); !bytes.Equal(out, body) {
				raw = append(out, '\n')
				t.w.Header().Del("Content-Length")
			}
		}
		t.w.WriteHeader(status)
		_, _ = t.w.Write(raw)
		return
	}
	body := bytes.TrimSpace(t.buf.Bytes())
	var out []byte
	switch {
	case len(body) == 0 && status == http.StatusOK:
		// a2a-go writes nothing for a call without a result
		// (tasks/pushNotificationConfig/delete); 1.0 expects result null.
		out, _ = encode(obj{"jsonrpc": "2.0", "id": t.id, "result": nil})
	case len(body) == 0:
		t.w.WriteHeader(status)
		return
	default:
		var err error
		out, err = ResponseTo10(t.method, body)
		if err != nil {
			if status != http.StatusOK { // not a JSON-RPC answer (a plain HTTP error): keep it
				t.w.WriteHeader(status)
				_, _ = t.w.Write(t.buf.Bytes())
				return
			}
			out = ErrorResponse(V10, t.id, errorf(CodeInternalError, "translating the response to A2A 1.0: %v", AsError(err).Message))
		}
		out = sanitizeAnswer(out)
	}
	h := t.w.Header()
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	h.Del("Content-Length")
	mirrorExtensions(h)
	t.w.WriteHeader(status)
	_, _ = t.w.Write(append(out, '\n'))
}

// mirrorExtensions copies activated extensions from the 0.3 header to the 1.0
// one on a response.
func mirrorExtensions(h http.Header) {
	if ext := h.Values(HeaderExtensions03); len(ext) > 0 && len(h.Values(HeaderExtensions)) == 0 {
		h[http.CanonicalHeaderKey(HeaderExtensions)] = ext
	}
}
