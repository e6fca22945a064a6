// Package jsonrpcedge checks JSON-RPC 2.0 envelopes at the edge of the
// gateway, before any protocol handler (go-sdk's MCP server, a2a-go, the
// A2A relay) decodes them, so that every JSON-RPC endpoint refuses the
// same malformed messages in the same words.
//
// It exists because the handlers behind it are lenient in ways a caller
// cannot see: they decode numeric ids as IEEE doubles, so an id such as
// 1.5 or 9007199254740993 comes back as 1 or 9007199254740992, and go-sdk
// takes an object with an id but no method for a response to one of its
// own requests and answers 202 with nothing. The edge refuses such
// messages with a JSON-RPC error (-32600 invalid request, -32700 parse
// error) instead, echoing the request's id verbatim when it has a valid
// one and null otherwise.
//
// The checks are about the envelope only (jsonrpc, id, method, params,
// result, error); what a method's params mean is the handler's business.
package jsonrpcedge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/parleyhq/parley/internal/jsonscan"
)

// JSON-RPC error codes the edge answers with.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
)

// MaxSafeID is the largest magnitude a numeric id may have: the largest
// integer an IEEE double (a JavaScript number, and what the handlers
// behind the edge decode ids into) holds exactly.
const MaxSafeID = 1<<53 - 1

// Options say which messages an endpoint accepts beyond single requests
// and notifications.
type Options struct {
	// Batch accepts a JSON array of messages (MCP before 2025-06-18).
	Batch bool
	// Responses accepts messages without a method that carry a result or
	// an error: a client answering the server's own requests (MCP
	// elicitation and sampling).
	Responses bool
}

// Error is a refused message: what to answer the caller with.
type Error struct {
	// Code is CodeParseError or CodeInvalidRequest.
	Code int
	// Message says what was wrong, in the caller's terms.
	Message string
	// ID is the request's id as sent, when it had a valid one; nil
	// otherwise (answered as null).
	ID json.RawMessage
}

func (e *Error) Error() string { return e.Message }

// member is one member of a JSON-RPC object as far as the checks need it:
// the first byte of its value, and the value itself for scalars (ids,
// method names, the version), which are short. Objects and arrays (params,
// results) are not copied.
type member struct {
	kind byte
	raw  []byte
}

func (m *member) UnmarshalJSON(b []byte) error {
	m.kind = b[0]
	if m.kind != '{' && m.kind != '[' {
		m.raw = bytes.Clone(b)
	}
	return nil
}

// The members a JSON-RPC 2.0 message may have. Member names are
// case-sensitive; a name that differs from one of these only in case is
// refused, because encoding/json (a2a-go) would match it case-insensitively
// while the edge and go-sdk would not, letting a message past the checks
// that a handler then reads differently.
var members = [...]string{"jsonrpc", "id", "method", "params", "result", "error"}

// Check validates body as the JSON-RPC message (or, with opts.Batch, the
// batch) a JSON-RPC endpoint receives, and returns nil or what to answer.
func Check(body []byte, opts Options) *Error {
	_, e := check(body, opts)
	return e
}

// check is Check that also returns the method member of a single
// message, as sent (a JSON string, quotes and escapes included), or nil.
func check(body []byte, opts Options) (method []byte, _ *Error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, &Error{Code: CodeParseError, Message: "parse error: the request body is empty; send a JSON-RPC request"}
	}
	// JSON text is UTF-8 (RFC 8259 §8.1). The handlers behind the edge
	// decode with encoding/json, which silently turns invalid bytes and
	// unpaired surrogate escapes into U+FFFD: the text a caller sent would
	// be stored as something else. Refuse it here, once for every
	// endpoint, rather than in each handler.
	if e := checkText(body); e != nil {
		return nil, e
	}
	switch trimmed[0] {
	case '{':
		msg, err := decodeObject(body)
		if err != nil {
			return nil, err
		}
		if e := checkMessage(msg, opts); e != nil {
			return nil, e
		}
		return msg["method"].raw, nil
	case '[':
		var batch []json.RawMessage
		if err := json.Unmarshal(body, &batch); err != nil {
			return nil, parseError(err)
		}
		if !opts.Batch {
			return nil, invalid(nil, "batch requests are not supported here: send one JSON-RPC request per HTTP request")
		}
		if len(batch) == 0 {
			return nil, invalid(nil, "the batch is empty: send at least one JSON-RPC request")
		}
		for i, raw := range batch {
			e := checkElement(raw, opts)
			if e != nil {
				// One answer for the whole batch, which is refused as a
				// unit: nothing in it was run.
				e.ID = nil
				e.Message = fmt.Sprintf("batch element %d: %s", i, e.Message)
				return nil, e
			}
		}
		return nil, nil
	default:
		if !json.Valid(body) {
			return nil, &Error{Code: CodeParseError, Message: "parse error: the request body is not valid JSON"}
		}
		return nil, invalid(nil, "a JSON-RPC request must be a JSON object")
	}
}

func checkElement(raw json.RawMessage, opts Options) *Error {
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return invalid(nil, "a JSON-RPC request must be a JSON object")
	}
	msg, err := decodeObject(raw)
	if err != nil {
		return err
	}
	return checkMessage(msg, opts)
}

func decodeObject(b []byte) (map[string]member, *Error) {
	if msg, ok := scanObject(b); ok {
		return msg, nil
	}
	var msg map[string]member
	if err := json.Unmarshal(b, &msg); err != nil {
		return nil, parseError(err)
	}
	return msg, nil
}

// scanObject is decodeObject's fast path, for a valid object whose member
// names hold no escape, and whose envelope members are named once and
// exactly: those members as encoding/json would decode them, without
// decoding the rest (params, results), which encoding/json does at a cost
// several times a scan's. Other members are left out: the checks read
// only the envelope's, and its names are what a misspelt name is checked
// against here. Anything else (ok false) is decoded, for encoding/json's
// rules and error messages (FuzzScanObject).
func scanObject(b []byte) (msg map[string]member, ok bool) {
	if !json.Valid(b) {
		return nil, false
	}
	msg = make(map[string]member, len(members))
	ok = jsonscan.Members(b, func(name, value []byte) bool {
		if bytes.IndexByte(name, '\\') >= 0 {
			return false
		}
		for _, known := range members {
			if string(name) == known {
				if _, twice := msg[known]; twice {
					return false
				}
				m := member{kind: value[0]}
				if m.kind != '{' && m.kind != '[' {
					m.raw = value
				}
				msg[known] = m
				return true
			}
			if strings.EqualFold(string(name), known) {
				return false // checkMessage's error, from the decoded names
			}
		}
		return true // not an envelope member: nothing checks it
	})
	return msg, ok
}

func parseError(err error) *Error {
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return &Error{Code: CodeParseError, Message: fmt.Sprintf("parse error: the request body is not valid JSON (at byte %d)", syntax.Offset)}
	}
	return &Error{Code: CodeParseError, Message: "parse error: the request body is not valid JSON"}
}

func invalid(id json.RawMessage, msg string) *Error {
	return &Error{Code: CodeInvalidRequest, Message: "invalid request: " + msg, ID: id}
}

func checkMessage(msg map[string]member, opts Options) *Error {
	// The id first: every later error echoes it when it is valid.
	var id json.RawMessage
	idm, hasID := msg["id"]
	if hasID {
		if reason := checkID(idm); reason != "" {
			return invalid(nil, reason)
		}
		id = idm.raw
	}
	for name := range msg {
		for _, known := range members {
			if name != known && strings.EqualFold(name, known) {
				return invalid(id, fmt.Sprintf("member %q is not JSON-RPC: member names are case-sensitive (%q)", truncate(name), known))
			}
		}
	}
	if v, ok := msg["jsonrpc"]; !ok || string(v.raw) != `"2.0"` {
		return invalid(id, `"jsonrpc" must be "2.0"`)
	}
	method, hasMethod := msg["method"]
	_, hasResult := msg["result"]
	_, hasError := msg["error"]
	if !hasMethod {
		switch {
		case !opts.Responses:
			return invalid(id, `"method" is missing`)
		case !hasResult && !hasError:
			return invalid(id, `"method" is missing: a request needs a method, and a response a result or an error`)
		case hasResult && hasError:
			return invalid(id, `a response carries either "result" or "error", not both`)
		case !hasID:
			return invalid(nil, `a response needs the "id" of the request it answers`)
		case has(msg, "params"):
			return invalid(id, `"method" is missing: a response carries no "params"`)
		}
		return nil
	}
	if method.kind != '"' {
		return invalid(id, `"method" must be a string`)
	}
	if !nonEmptyString(method.raw) {
		return invalid(id, `"method" must be a non-empty string`)
	}
	if hasResult || hasError {
		return invalid(id, `a request carries no "result" or "error"`)
	}
	if p, ok := msg["params"]; ok && p.kind != '{' && p.kind != '[' && p.kind != 'n' {
		return invalid(id, `"params" must be an object or an array`)
	}
	return nil
}

// nonEmptyString reports whether raw, a JSON string, holds at least one
// character; decoded only if it has an escape.
func nonEmptyString(raw []byte) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return len(raw) > 2
	}
	var s string
	return json.Unmarshal(raw, &s) == nil && s != ""
}

func has(msg map[string]member, name string) bool { _, ok := msg[name]; return ok }

// checkID returns why id is not one the gateway can echo exactly, or "".
func checkID(id member) string {
	switch id.kind {
	case '"':
		return ""
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		if bytes.ContainsAny(id.raw, ".eE") {
			return fmt.Sprintf("id %s is not a whole number: a numeric id must be an integer written without fraction or exponent (or use a string id)", truncate(string(id.raw)))
		}
		n, err := strconv.ParseInt(string(id.raw), 10, 64)
		if err != nil || n > MaxSafeID || n < -MaxSafeID {
			return fmt.Sprintf("id %s is too large: a numeric id must lie between -%d and %d, which JSON numbers hold exactly (or use a string id)", truncate(string(id.raw)), MaxSafeID, MaxSafeID)
		}
		return ""
	case 'n', 0:
		return "id must be a string or an integer, not null"
	default:
		return "id must be a string or an integer"
	}
}

// truncate keeps a caller's value short enough to quote in an error.
func truncate(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// checkText refuses a body that is not valid UTF-8, or that has a \u
// escape for half of a surrogate pair without its other half (I-JSON,
// RFC 7493 §2.1).
func checkText(body []byte) *Error {
	if !utf8.Valid(body) {
		off := 0
		for off < len(body) {
			r, size := utf8.DecodeRune(body[off:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			off += size
		}
		return &Error{Code: CodeParseError, Message: fmt.Sprintf("parse error: the request body is not valid UTF-8 (at byte %d)", off)}
	}
	for i := 0; ; {
		j := bytes.IndexByte(body[i:], '\\')
		if j < 0 {
			return nil
		}
		i += j
		if i+1 >= len(body) {
			return nil // json.Unmarshal reports the broken escape
		}
		if body[i+1] != 'u' {
			i += 2 // \\, \" and the like: the escaped byte is not a backslash that starts an escape
			continue
		}
		r, ok := hex4(body, i+2)
		switch {
		case !ok:
			return nil // not a valid escape: the JSON check says so
		case r >= 0xD800 && r <= 0xDBFF:
			// A high surrogate must be followed at once by \u and a
			// low one.
			lo, ok := rune(0), false
			if i+7 < len(body) && body[i+6] == '\\' && body[i+7] == 'u' {
				lo, ok = hex4(body, i+8)
			}
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return unpaired(body, i)
			}
			i += 12
		case r >= 0xDC00 && r <= 0xDFFF:
			return unpaired(body, i)
		default:
			i += 6
		}
	}
}

func unpaired(body []byte, at int) *Error {
	return &Error{Code: CodeParseError, Message: fmt.Sprintf("parse error: %s at byte %d is half of a UTF-16 surrogate pair without its other half; text must be valid Unicode", body[at:at+6], at)}
}

// hex4 reads the four hex digits of a \u escape at b[at:].
func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c-'a') + 10
		case c >= 'A' && c <= 'F':
			r |= rune(c-'A') + 10
		default:
			return 0, false
		}
	}
	return r, true
}
