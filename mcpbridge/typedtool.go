package mcpbridge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	sjson "github.com/segmentio/encoding/json"
)

// typedTool is the handler of one of Parley's own tools: it answers as
// go-sdk's generic wrapper (mcp.AddTool, toolForErr in go-sdk v1.8.0
// mcp/server.go) answers, with less work per call. The wrapper decodes the
// arguments into a map to validate them, encodes the map and decodes it
// again into In; then encodes Out, decodes it into a map to validate it
// against the output schema and encodes it again. For Parley's tools that
// is most of the CPU of a cheap call such as get_ticket. Here:
//
//   - the arguments are decoded into a map and validated against the input
//     schema, resolved with go-sdk's options, with go-sdk's JSON decoder and
//     error messages; defaults are applied as go-sdk applies them, and only
//     then are the arguments encoded again (none of Parley's schemas has
//     defaults, so in practice never);
//   - In is decoded once, from the arguments as the client wrote them;
//   - Out is encoded once, for both the structured content and the text.
//
// The output is not validated against the output schema. Both are derived
// from the same Go type (addTool), and a value of that type encodes to JSON
// that conforms by construction: no custom marshalers, every required
// property is a field without omitempty, nullable slices and maps are
// nullable in the schema. Validation is a self-check of the Go encoder that
// can fail only on a programming error, and TestTypedToolAnswersAsTheSDK
// compares our results with go-sdk's own wrapper, which does validate.
//
// The structured content is Out as encoding/json writes it, members in
// field order; go-sdk's is the same value written from a map, members in
// sorted order. Clients see the same JSON value.
func typedTool[In, Out any](in *jsonschema.Schema, h mcp.ToolHandlerFor[In, Out]) (mcp.ToolHandler, error) {
	// As go-sdk's setSchema resolves a schema it is given.
	resolved, err := in.Resolve(&jsonschema.ResolveOptions{ValidateDefaults: true})
	if err != nil {
		return nil, fmt.Errorf("input schema: %w", err)
	}
	defaults := hasDefaults(in)
	// As go-sdk: a nil *T output answers as a zero T, not as null.
	var elemZero any
	if rt := reflect.TypeFor[Out](); rt.Kind() == reflect.Pointer {
		elemZero = reflect.Zero(rt.Elem()).Interface()
	}
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		var in In
		if err := decodeArguments(req.Params.Arguments, resolved, defaults, &in); err != nil {
			return toolError(err), nil
		}
		res, out, err := h(ctx, req, in)
		if err != nil {
			// A JSON-RPC error is a protocol error; any other, a tool
			// error. As go-sdk, only an unwrapped one.
			if wireErr, ok := err.(*jsonrpc.Error); ok { //nolint:errorlint // as go-sdk decides
				return nil, wireErr
			}
			return toolError(err), nil
		}
		if res == nil {
			res = &mcp.CallToolResult{}
		}
		// Content and input requests are mutually exclusive on the wire.
		if res.InputRequests != nil {
			return res, nil
		}
		var outval any = out
		if elemZero != nil {
			var z Out
			if any(out) == any(z) {
				outval = elemZero
			}
		}
		if outval == nil {
			return res, nil
		}
		data, err := json.Marshal(outval)
		if err != nil {
			return nil, fmt.Errorf("marshaling output: %w", err)
		}
		res.StructuredContent = json.RawMessage(data)
		// As go-sdk: the output as text if there is no content, or after
		// it if the output is not an object, for clients that read only
		// text.
		if res.Content == nil {
			res.Content = []mcp.Content{&mcp.TextContent{Text: string(data)}}
		} else if !isObjectJSON(data) {
			res.Content = append(res.Content, &mcp.TextContent{Text: string(data)})
		}
		return res, nil
	}, nil
}

// decodeArguments validates raw tool arguments against the input schema and
// decodes them into in, with go-sdk's decoder and error messages (its
// applySchema): an absent arguments member is an empty object.
func decodeArguments(raw json.RawMessage, resolved *jsonschema.Resolved, defaults bool, in any) error {
	// go-sdk's decoder: case-sensitive, at most 1000 levels deep.
	unmarshal := func(data []byte, v any) error {
		if err := checkMaxDepth(data, maxDepth); err != nil {
			return err
		}
		_, err := sjson.Parse(data, v, sjson.DontMatchCaseInsensitiveStructFields)
		return err
	}
	m := make(map[string]any)
	if len(raw) > 0 {
		if err := unmarshal(raw, &m); err != nil {
			return fmt.Errorf("validating \"arguments\": unmarshaling arguments: %w", err)
		}
	}
	var v any = m
	if defaults {
		if err := resolved.ApplyDefaults(&v); err != nil {
			return fmt.Errorf("validating \"arguments\": applying schema defaults:\n%w", err)
		}
	}
	if err := resolved.Validate(&v); err != nil {
		return fmt.Errorf("validating \"arguments\": %w", err)
	}
	if len(raw) == 0 {
		return nil // go-sdk decodes {} into the zero value: nothing to do
	}
	// go-sdk decodes In from the validated map encoded again. Without
	// defaults that is the arguments as written, except where encoding a
	// map changes them: a number with a fraction or an exponent that is a
	// whole number (3.0 into an int field, refused before by
	// argumentsMiddleware), or an integer beyond 2^53 (which the map
	// rounds, and the arguments keep exact). Only when decoding the
	// arguments as written fails is the map's encoding tried, so what go-sdk
	// accepts is accepted and what it refuses is refused with its message.
	if !defaults {
		if err := unmarshal(raw, in); err == nil {
			return nil
		}
		reflect.ValueOf(in).Elem().SetZero()
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("validating \"arguments\": marshalling with defaults: %v", err)
	}
	return unmarshal(data, in)
}

// hasDefaults reports whether applying s's defaults can change a value:
// whether a property, at any depth of properties, has a default (what
// jsonschema.Resolved.ApplyDefaults looks at).
func hasDefaults(s *jsonschema.Schema) bool {
	if s == nil {
		return false
	}
	for _, p := range s.Properties {
		if p != nil && (p.Default != nil || hasDefaults(p)) {
			return true
		}
	}
	return false
}

// maxDepth is go-sdk's limit on the nesting of JSON it decodes.
const maxDepth = 1000

var errMaxDepthExceeded = fmt.Errorf("json: exceeded maximum nesting depth of %d", maxDepth)

// checkMaxDepth refuses JSON nested deeper than maxDepth, as go-sdk's
// decoder does (its internal/json), before decoding it.
func checkMaxDepth(data []byte, maxDepth int) error {
	depth, inString, escaped := 0, false, false
	for _, c := range data {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			if depth++; depth > maxDepth {
				return errMaxDepthExceeded
			}
		case '}', ']':
			if depth > 0 {
				depth--
			}
		}
	}
	return nil
}

// isObjectJSON reports whether data is a JSON object.
func isObjectJSON(data []byte) bool {
	data = bytes.TrimLeft(data, " \t\r\n")
	return len(data) > 0 && data[0] == '{'
}
