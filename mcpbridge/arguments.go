package mcpbridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/internal/textcheck"
)

// Tool arguments are checked as the client wrote them, before anything
// decodes them: decoding silently turns invalid UTF-8 and unpaired
// surrogate escapes into U+FFFD (so the workspace would store text the
// client never sent), and fails on a number no float64 holds (1e309) or
// an integer no int64 holds with a message about Go types, or, on the
// 2026-07-28 path, before the call reaches a tool at all ("failed to
// extract name from parameters").

// toolArgs remembers the input schema of each of Parley's own tools, to
// know which arguments are integers.
type toolArgs struct {
	mu      sync.Mutex
	schemas map[string]*jsonschema.Schema
}

func (a *toolArgs) add(name string, s *jsonschema.Schema) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.schemas == nil {
		a.schemas = map[string]*jsonschema.Schema{}
	}
	a.schemas[name] = s
}

func (a *toolArgs) schema(name string) *jsonschema.Schema {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.schemas[name]
}

// check says what is wrong with a tool's raw arguments, in the caller's
// terms, naming the argument; nil if nothing is. It leaves everything else
// (syntax, types, required arguments) to the schema validation that
// follows.
func (a *toolArgs) check(tool string, raw json.RawMessage) error {
	if len(raw) == 0 || plain(raw) {
		return nil
	}
	return a.checkTokens(tool, raw)
}

// checkTokens is check, token by token.
func (a *toolArgs) checkTokens(tool string, raw json.RawMessage) error {
	schema := a.schema(tool)
	err := textcheck.Walk(raw, func(t textcheck.Token) error {
		switch v := t.Value.(type) {
		case string:
			return textcheck.Intact(t.Raw, v)
		case json.Number:
			return checkNumber(v, isInteger(schema, t.Path))
		}
		return nil
	})
	var pe *textcheck.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("argument %s", pe)
	}
	return nil // not JSON: the SDK says so
}

// plain reports whether raw holds nothing check could refuse, without the
// cost of walking its tokens: it is valid UTF-8 without a backslash, so
// every string decodes to exactly its text, and has no number outside a
// string. (Without escapes, every quote starts or ends a string.) Most
// calls' arguments are like this: {"ticket_id":"T-1001"}.
func plain(raw []byte) bool {
	if !utf8.Valid(raw) {
		return false
	}
	inString := false
	for _, c := range raw {
		switch {
		case c == '\\':
			return false
		case c == '"':
			inString = !inString
		case !inString && (c == '-' || '0' <= c && c <= '9'):
			return false
		}
	}
	return true
}

// isInteger reports whether the tool's schema makes the argument at path
// an integer (Parley's tools have integers at the top level only).
func isInteger(s *jsonschema.Schema, path string) bool {
	if s == nil {
		return false
	}
	p := s.Properties[path]
	return p != nil && (p.Type == "integer" || slices.Contains(p.Types, "integer"))
}

func checkNumber(n json.Number, integer bool) error {
	if integer {
		_, err := strconv.ParseInt(string(n), 10, 64)
		switch {
		case errors.Is(err, strconv.ErrRange):
			return fmt.Errorf("%s is out of range: whole numbers here go up to %d", n, int64(1<<63-1))
		case err != nil:
			return fmt.Errorf("%s must be a whole number written without a fraction or exponent, such as 3", n)
		}
		return nil
	}
	if _, err := strconv.ParseFloat(string(n), 64); errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("%s is out of range: the largest number accepted is %g", n, math.MaxFloat64)
	}
	return nil
}

// argumentsMiddleware refuses a tools/call whose arguments toolArgs.check
// finds wrong, as a tool error, before the SDK decodes them. It serves
// every transport, also the in-process one the A2A skill uses.
func (b *Bridge) argumentsMiddleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if p, ok := req.GetParams().(*mcp.CallToolParamsRaw); ok && method == "tools/call" {
			if err := b.args.check(p.Name, p.Arguments); err != nil {
				res := &mcp.CallToolResult{}
				res.SetError(err)
				return res, nil
			}
		}
		return next(ctx, method, req)
	}
}

// refuseBadArguments answers a 2026-07-28 tools/call whose arguments
// toolArgs.check finds wrong, and reports whether it did. The SDK checks
// the standard headers of such a request (Mcp-Name against params.name)
// by decoding its params before any middleware runs, and a number it
// cannot decode fails that check with a message about the name; so the
// arguments are checked here first, and refused with the same tool error
// the middleware gives.
func (b *Bridge) refuseBadArguments(w http.ResponseWriter, body []byte) bool {
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			Name      string          `json:"name"`
			Arguments json.RawMessage `json:"arguments"`
		} `json:"params"`
	}
	if bytes.HasPrefix(bytes.TrimSpace(body), []byte("[")) || json.Unmarshal(body, &msg) != nil || msg.Method != "tools/call" || len(msg.ID) == 0 {
		return false
	}
	err := b.args.check(msg.Params.Name, msg.Params.Arguments)
	if err == nil {
		return false
	}
	res := &mcp.CallToolResult{}
	res.SetError(err)
	data, merr := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": msg.ID, "result": res})
	if merr != nil {
		return false
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(data)
	return true
}
