// Package compat holds the part of A2A 0.3 / 1.0 compatibility that
// a2a-go v2.4.0 does not provide: translating A2A JSON-RPC between protocol
// 1.0 (a2a-go v2, @a2a-js/sdk 1.x) and protocol 0.3 (a2a-go v0.3, and v2's
// a2acompat/a2av0) as JSON, for the relay, and bounding the error texts
// Parley shows its callers.
//
// a2a-go v2.4.0 covers the rest, and Parley uses it for that: a2av0 serves
// A2A 0.3 from a 1.0 request handler over JSON-RPC and REST
// (a2av0.NewJSONRPCHandler, a2av0.NewRESTHandler; a2agrpc/v0 for gRPC),
// calls 0.3 agents (a2av0.NewJSONRPCTransport, a2av0.NewRESTTransport),
// converts 0.3 values to 1.0 and back (a2av0.ToV1Task, FromV1Message and
// the like), parses 0.3 cards (a2av0.NewAgentCardParser) and serves cards
// both generations read (a2av0.NewAgentCardProducer). The gateway's own A2A
// face (package a2a) and the agent pool (a2a/agentpool) are built on those.
// What stays here, and why:
//
//   - Translating JSON-RPC requests, answers and stream events
//     ([RequestTo03], [RequestTo10], [ResponseTo03], [ResponseTo10],
//     [StreamEventTo03], [StreamEventTo10]; rpc.go, objects.go, tables.go)
//     and agent cards ([CardTo10], [CardTo03], [CardWith10],
//     [CardInterfaces]; card.go) as JSON. The relay (a2a/relay) forwards a
//     caller's JSON-RPC to a registered agent without decoding it into the
//     SDK's types, so that fields and extensions it does not know pass
//     through unchanged; when the caller and the agent speak different
//     versions it must translate that JSON, and a2av0's converters work
//     on the SDK's types (decoding into them drops whatever they lack),
//     while its JSON-RPC codec is internal (internal/jsonrpc).
//   - Telling versions apart and answering in the caller's
//     ([DetectVersion], [ParseVersion], [ErrorResponse], [Error], the Code
//     constants; this file): the relay answers errors of its own (an
//     unknown agent, a refused callback, a timeout) before any SDK
//     handler is involved, and a2a-go renders JSON-RPC errors only
//     internally.
//   - [PushNotificationURLs] (push.go): the relay checks the callback URLs
//     of a raw request of either version, under every spelling a lenient
//     decoder reads, before forwarding it to an agent; a2a-go's own guard
//     (push.NewHTTPPushSender) covers only the notifications it sends
//     itself.
//   - [SafeErrorText] (sanitize.go): bounds and rewords error texts sent to
//     callers (no 100 KB echoes of an ID, no Go type names); a2a-go passes
//     error messages through as they are. The gateway's own face, the
//     agent pool and the relay all use it.
//
// Translation is faithful where the two versions have the same concept and
// documented where they do not:
//
//   - 1.0 ListTasks has no 0.3 method: translating it to 0.3 fails with
//     [CodeUnsupportedOperation].
//   - 1.0 "tenant" has no 0.3 field and is dropped.
//   - 1.0 filename/mediaType on text and data parts have no 0.3 field and are
//     dropped; on file parts they become file.name/file.mimeType.
//   - 1.0 data parts may hold any JSON value; 0.3 data parts hold objects.
//     Non-object values travel as {"value": v} with metadata
//     "data_part_compat": true, the convention @a2a-js/sdk's own compat
//     layer uses, and are unwrapped on the way back.
//   - 0.3 status-update "final" does not exist in 1.0 (the stream simply
//     ends); going to 0.3 it is derived from the state.
//   - 0.3 push authentication has a list of schemes, 1.0 has one; the first
//     one is kept.
//   - 0.3 tasks/get and tasks/resubscribe "metadata" have no 1.0 field.
//   - Error codes are the same in both versions; 1.0 adds -32008
//     (extension support required) and -32009 (version not supported),
//     passed to 0.3 callers unchanged. 1.0 error data is a list of
//     google.rpc details (ErrorInfo), 0.3 error data an object: both are
//     converted so that a round trip is lossless.
//   - a2a-go v0.3's tasks/resubscribe starts with the next event, not with the
//     Task snapshot 1.0 SubscribeToTask promises; translation cannot add
//     state it does not see (@a2a-js/sdk 1.3.0 copes with it).
//
// The tables were read off @a2a-js/sdk 1.3.0 and a2a-go v0.3.3 and are
// checked against real traffic recorded from @a2a-js/sdk 1.3.0 and 0.3.14
// (testdata/wire, with the script that recorded it).
package compat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Version is an A2A protocol generation.
type Version string

// The versions this package translates between.
const (
	V03 Version = "0.3"
	V10 Version = "1.0"
)

// Supported reports whether v is one of the versions this package speaks.
func (v Version) Supported() bool { return v == V03 || v == V10 }

// HTTP headers that differ between the versions.
const (
	// HeaderVersion carries the protocol version of a 1.0 request. A request
	// without it is a 0.3 request.
	HeaderVersion = "A2A-Version"
	// HeaderExtensions lists requested/activated extensions in 1.0.
	HeaderExtensions = "A2A-Extensions"
	// HeaderExtensions03 lists requested/activated extensions in 0.3.
	HeaderExtensions03 = "X-A2A-Extensions"
)

// ParseVersion maps an A2A-Version header value to a Version: an empty
// value is 0.3 (the 1.0 spec's rule for a missing header), any 0.x is 0.3,
// any 1.x is 1.0. Anything else is returned as given; it is not Supported.
func ParseVersion(header string) Version {
	h := strings.TrimSpace(header)
	if h == "" {
		return V03
	}
	major, _, _ := strings.Cut(h, ".")
	switch n, err := strconv.Atoi(major); {
	case err != nil:
		return Version(h)
	case n == 0:
		return V03
	case n == 1:
		return V10
	default:
		return Version(h)
	}
}

// DetectVersion tells which protocol generation a JSON-RPC request speaks.
//
// The method name decides when it belongs to exactly one generation (the
// body's shape follows its method naming: "message/send" is 0.3 whatever the
// header says, "SendMessage" is 1.0). Otherwise the A2A-Version header
// decides, and a request with neither is 0.3. An A2A-Version this package
// does not speak (say "2.0") is returned as is: check Supported.
func DetectVersion(r *http.Request, body []byte) Version {
	if m := peekMethod(body); m != "" {
		if _, ok := methods03to10[m]; ok {
			return V03
		}
		if isMethod10(m) {
			return V10
		}
	}
	if r == nil {
		return V03
	}
	return ParseVersion(r.Header.Get(HeaderVersion))
}

// peekMethod returns the "method" member of a JSON-RPC request, or "".
func peekMethod(body []byte) string {
	var env struct {
		Method any `json:"method"`
	}
	if json.Unmarshal(body, &env) != nil {
		return ""
	}
	s, _ := env.Method.(string)
	return s
}

// JSON-RPC and A2A error codes (identical in 0.3 and 1.0 unless noted).
const (
	CodeParseError                   = -32700
	CodeInvalidRequest               = -32600
	CodeMethodNotFound               = -32601
	CodeInvalidParams                = -32602
	CodeInternalError                = -32603
	CodeTaskNotFound                 = -32001
	CodeTaskNotCancelable            = -32002
	CodePushNotificationNotSupported = -32003
	CodeUnsupportedOperation         = -32004
	CodeContentTypeNotSupported      = -32005
	CodeInvalidAgentResponse         = -32006
	CodeExtendedCardNotConfigured    = -32007
	CodeExtensionSupportRequired     = -32008 // 1.0 only
	CodeVersionNotSupported          = -32009 // 1.0 only
)

// Error is a JSON-RPC error. Translation functions return it (wrapped in
// nothing) so that a caller can answer with it as is.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

func (e *Error) Error() string { return fmt.Sprintf("a2a compat: %s (%d)", e.Message, e.Code) }

func errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError returns err as a JSON-RPC *Error, wrapping foreign errors as
// internal errors.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternalError, Message: err.Error()}
}

// ErrorResponse renders a JSON-RPC error response for the given request id
// (nil for unknown) in the shape of version v: for 1.0, A2A codes carry a
// google.rpc.ErrorInfo detail. Its message and the strings in its data are
// bounded by SafeErrorText.
func ErrorResponse(v Version, id any, e *Error) []byte {
	errObj := obj{"code": json.Number(strconv.Itoa(e.Code)), "message": e.Message}
	if e.Data != nil {
		errObj["data"] = e.Data
	}
	var data any
	if v == V10 {
		data = errorData03to10(e.Code, errObj["data"])
	} else {
		data = errorData10to03(e.Code, errObj["data"])
	}
	if data != nil {
		errObj["data"] = data
	} else {
		delete(errObj, "data")
	}
	sanitizeErrorObject(errObj)
	b, err := EncodeJSON(obj{"jsonrpc": "2.0", "id": id, "error": errObj})
	if err != nil { // id was not JSON-encodable
		b, _ = EncodeJSON(obj{"jsonrpc": "2.0", "id": nil, "error": errObj})
	}
	return b
}

// ---------------------------------------------------------------- JSON helpers

// obj is a decoded JSON object.
type obj = map[string]any

// DecodeJSON parses exactly one JSON value, keeping numbers as json.Number so
// that ids, metadata and the like survive unchanged.
func DecodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return v, nil
}

// EncodeJSON renders v compactly, without HTML escaping.
func EncodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// get10 reads a field of a 1.0 (proto-JSON) object, which parsers must
// accept under its lowerCamel name or its original snake_case name.
func get10(o obj, name string) (any, bool) {
	if v, ok := o[name]; ok && v != nil {
		return v, true
	}
	if sn := snake(name); sn != name {
		if v, ok := o[sn]; ok && v != nil {
			return v, true
		}
	}
	return nil, false
}

func snake(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
			b.WriteRune(r + ('a' - 'A'))
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// get03 reads a field of a 0.3 object (null counts as absent).
func get03(o obj, name string) (any, bool) {
	v, ok := o[name]
	return v, ok && v != nil
}

type getter func(obj, string) (any, bool)

// copyFields copies the named fields from src to dst when present.
func copyFields(dst, src obj, get getter, names ...string) {
	for _, n := range names {
		if v, ok := get(src, n); ok {
			dst[n] = v
		}
	}
}

// copyNonEmpty copies the named fields when present and not "", [], {} or
// false: the proto-JSON rule for default values.
func copyNonEmpty(dst, src obj, get getter, names ...string) {
	for _, n := range names {
		if v, ok := get(src, n); ok && !isEmpty(v) {
			dst[n] = v
		}
	}
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case []any:
		return len(x) == 0
	}
	return false
}

func asObj(v any, what string) (obj, error) {
	o, ok := v.(obj)
	if !ok {
		return nil, errorf(CodeInvalidParams, "%s must be an object", what)
	}
	return o, nil
}

func asList(v any, what string) ([]any, error) {
	if v == nil {
		return nil, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, errorf(CodeInvalidParams, "%s must be an array", what)
	}
	return l, nil
}

func asString(v any) (string, bool) {
	s, ok := v.(string)
	return s, ok
}

// number normalizes a proto-JSON integer (which may arrive as a string).
func number(v any) any {
	if s, ok := v.(string); ok {
		if _, err := strconv.ParseInt(s, 10, 64); err == nil {
			return json.Number(s)
		}
	}
	return v
}
