package jsonrpcedge_test

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/parleyhq/parley/internal/jsonrpcedge"
)

// FuzzCheck feeds Check arbitrary bodies. It must not panic; what it
// refuses gets a code and an id that is valid JSON (or none); and what it
// accepts is valid JSON whose every message has the version, a method or
// (where allowed) a result or error, and an id that a handler decoding ids
// as doubles echoes exactly.
func FuzzCheck(f *testing.F) {
	for _, seed := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}`,
		`{"jsonrpc":"2.0","id":"a","method":"m"}`,
		`{"jsonrpc":"2.0","id":7,"params":{}}`,
		`{"jsonrpc":"2.0","id":1.5,"method":"m"}`,
		`{"jsonrpc":"2.0","id":9007199254740993,"method":"m"}`,
		`{"jsonrpc":"2.0","id":-0,"method":"m"}`,
		`{"jsonrpc":"2.0","id":3,"result":{}}`,
		`{"jsonrpc":"2.0","Id":3,"method":"m"}`,
		`[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}]`,
		`[]`, ``, `null`, `{`, `{"id":1e400}`,
		`{"jsonrpc":"2.0","id":1,"method":"m","params":{"s":"\ud800"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"m","params":{"s":"\\ud800\ud83d\ude00"}}`,
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"s\":\"\xc3\"}}",
	} {
		f.Add([]byte(seed), true)
		f.Add([]byte(seed), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, mcp bool) {
		opts := jsonrpcedge.Options{Batch: mcp, Responses: mcp}
		e := jsonrpcedge.Check(body, opts)
		if e != nil {
			if e.Code != jsonrpcedge.CodeParseError && e.Code != jsonrpcedge.CodeInvalidRequest {
				t.Fatalf("code %d", e.Code)
			}
			if e.ID != nil && !json.Valid(e.ID) {
				t.Fatalf("echoed id %q is not JSON", e.ID)
			}
			if e.Message == "" {
				t.Fatal("no message")
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		if !utf8.Valid(body) {
			t.Fatalf("accepted invalid UTF-8 %q", body)
		}
		msgs := []json.RawMessage{body}
		if trimmed := bytes.TrimLeft(body, " \t\r\n"); trimmed[0] == '[' {
			if !mcp {
				t.Fatalf("accepted batch %q where batches are not allowed", body)
			}
			msgs = nil
			if err := json.Unmarshal(body, &msgs); err != nil || len(msgs) == 0 {
				t.Fatalf("accepted malformed batch %q", body)
			}
		}
		for _, raw := range msgs {
			checkAccepted(t, raw, mcp)
		}
	})
}

func checkAccepted(t *testing.T, raw json.RawMessage, responses bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var msg map[string]any
	if err := dec.Decode(&msg); err != nil {
		t.Fatalf("accepted %q, which is not an object: %v", raw, err)
	}
	if msg["jsonrpc"] != "2.0" {
		t.Fatalf("accepted %q without jsonrpc 2.0", raw)
	}
	method, hasMethod := msg["method"]
	_, hasResult := msg["result"]
	_, hasError := msg["error"]
	switch {
	case hasMethod:
		if s, ok := method.(string); !ok || s == "" {
			t.Fatalf("accepted %q with method %v", raw, method)
		}
	case !responses || hasResult == hasError:
		t.Fatalf("accepted %q, neither a request nor a response", raw)
	}
	id, hasID := msg["id"]
	if !hasID {
		return
	}
	switch id := id.(type) {
	case string:
	case json.Number:
		// What a handler that decodes ids as doubles sends back.
		f, err := strconv.ParseFloat(id.String(), 64)
		if err != nil || strconv.FormatFloat(f, 'f', -1, 64) != id.String() && id.String() != "-0" {
			t.Fatalf("accepted id %s, which comes back as %v", id, f)
		}
	default:
		t.Fatalf("accepted id %v of type %T", id, id)
	}
}
