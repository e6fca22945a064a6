package jsonrpcedge

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzScanObject checks the fast path against encoding/json: whatever
// scanObject reads, encoding/json decodes to the same envelope members,
// and with no other member whose name differs from one of theirs only in
// case (which checkMessage refuses).
func FuzzScanObject(f *testing.F) {
	for _, seed := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"a":[1,2,{"b":"}"}]}}}`,
		`{"jsonrpc":"2.0","id":"a\"b","method":"m","extra":null}`,
		` { "jsonrpc" : "2.0" , "id" : -7 , "result" : [ ] } `,
		`{"jsonrpc":"2.0","method":"a","method":"b"}`,
		`{"jsonrpc":"2.0","Method":"a"}`,
		`{"jsonrpc":"2.0","meth\u006fd":"a"}`,
		`{"jſonrpc":"2.0","method":"a"}`,
		`{"x":1,"x":2,"id":true}`,
		`{}`, `{"a":}`, `{"a":1}x`, `[1]`, `"s"`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := scanObject(body)
		if !ok {
			return
		}
		var slow map[string]member
		if err := json.Unmarshal(body, &slow); err != nil {
			t.Fatalf("scanObject read %q, which encoding/json refuses: %v", body, err)
		}
		for name := range slow {
			for _, known := range members {
				if name != known && strings.EqualFold(name, known) {
					t.Fatalf("scanObject read %q, whose member %q is a misspelt %q", body, name, known)
				}
			}
		}
		for _, known := range members {
			f, inFast := fast[known]
			s, inSlow := slow[known]
			if inFast != inSlow || f.kind != s.kind || !bytes.Equal(f.raw, s.raw) {
				t.Fatalf("%q: member %q: scanObject %v %+q, encoding/json %v %+q", body, known, inFast, f, inSlow, s)
			}
		}
		if len(fast) > len(members) {
			t.Fatalf("%q: scanObject kept %d members", body, len(fast))
		}
	})
}

// The fast path takes the common message, and leaves to encoding/json
// what it must.
func TestScanObjectTakes(t *testing.T) {
	for body, want := range map[string]bool{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_ticket"}}`: true,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`:                        true,
		`{"jsonrpc":"2.0","id":1,"method":"a","method":"b"}`:                            false,
		`{"jsonrpc":"2.0","id":1,"Method":"a"}`:                                         false,
		`{"jsonrpc":"2.0","id":1,"meth\u006fd":"a"}`:                                    false,
		`{"jsonrpc":"2.0","id":1,"method":"a"`:                                          false,
	} {
		if _, got := scanObject([]byte(body)); got != want {
			t.Errorf("scanObject(%s) took it: %v, want %v", body, got, want)
		}
	}
}

// BenchmarkCheck: an MCP initialize request, as go-sdk's client sends it,
// through the fast path and through encoding/json.
func BenchmarkCheck(b *testing.B) {
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",` +
		`"capabilities":{"roots":{"listChanged":true},"sampling":{},"elicitation":{}},` +
		`"clientInfo":{"name":"mcpload-open-3","version":"v1.0.0"}}}`)
	b.Run("check", func(b *testing.B) {
		for b.Loop() {
			if _, e := check(body, Options{Batch: true, Responses: true}); e != nil {
				b.Fatal(e)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			var msg map[string]member
			if err := json.Unmarshal(body, &msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}
