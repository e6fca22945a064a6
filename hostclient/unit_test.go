package hostclient

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPropParse(t *testing.T) {
	schema := func(s string) *propSchema {
		var p propSchema
		if err := json.Unmarshal([]byte(s), &p); err != nil {
			t.Fatal(err)
		}
		return &p
	}
	tests := []struct {
		name     string
		schema   string
		required bool
		input    string
		want     any
		wantOK   bool
		wantErr  string
	}{
		{"boolean yes", `{"type":"boolean"}`, false, "Yes", true, true, ""},
		{"boolean no", `{"type":"boolean"}`, false, "n", false, true, ""},
		{"boolean junk", `{"type":"boolean"}`, false, "perhaps", nil, false, "yes or no"},
		{"nullable boolean", `{"type":["null","boolean"]}`, false, "true", true, true, ""},
		{"integer", `{"type":"integer"}`, false, "42", int64(42), true, ""},
		{"integer not whole", `{"type":"integer"}`, false, "4.2", nil, false, "whole number"},
		{"number", `{"type":"number"}`, false, "-1.5", -1.5, true, ""},
		{"number below minimum", `{"type":"number","minimum":0}`, false, "-1", nil, false, "at least 0"},
		{"number above maximum", `{"type":"number","maximum":10}`, false, "11", nil, false, "at most 10"},
		{"number default", `{"type":"number","default":250}`, true, "", 250.0, true, ""},
		{"string", `{"type":"string"}`, false, "hello", "hello", true, ""},
		{"untyped is a string", `{}`, false, "42", "42", true, ""},
		{"string too short", `{"type":"string","minLength":3}`, false, "ab", nil, false, "at least 3"},
		{"string too long", `{"type":"string","maxLength":2}`, false, "abc", nil, false, "at most 2"},
		{"empty optional", `{"type":"string"}`, false, "", nil, false, ""},
		{"empty required", `{"type":"string"}`, true, "", nil, false, "required"},
		{"enum", `{"type":"string","enum":["a","b"]}`, false, "b", "b", true, ""},
		{"enum miss", `{"type":"string","enum":["a","b"]}`, false, "c", nil, false, "listed values"},
		{"oneOf", `{"type":"string","oneOf":[{"const":"x","title":"X"},{"const":"y","title":"Y"}]}`, false, "y", "y", true, ""},
		{"string default", `{"type":"string","default":"pdf"}`, false, "", "pdf", true, ""},
		{"multi-select", `{"type":"array","items":{"type":"string","enum":["a","b","c"]}}`, false, "a, c", []any{"a", "c"}, true, ""},
		{"multi-select miss", `{"type":"array","items":{"type":"string","enum":["a","b"]}}`, false, "a,z", nil, false, `"z"`},
		{"multi-select too few", `{"type":"array","minItems":2,"items":{"enum":["a","b"]}}`, false, "a", nil, false, "at least 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := schema(tt.schema).parse(tt.input, tt.required)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.wantOK || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parse = %#v, %v; want %#v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestReadSSE(t *testing.T) {
	stream := ": ok\n\n" +
		"id: _0\r\nevent: message\r\ndata: {\"a\":1}\r\n\r\n" +
		"event: prime\nid: s_0\n\n" +
		"data: line1\ndata: line2\n\n" +
		"id: _2\ndata: unterminated"
	var got []sseEvent
	if err := readSSE(strings.NewReader(stream), func(ev sseEvent) bool {
		got = append(got, ev)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	want := []sseEvent{
		{name: "message", id: "_0", data: []byte(`{"a":1}`)},
		{name: "prime", id: "s_0"},
		{data: []byte("line1\nline2")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events = %q\nwant %q", got, want)
	}
}

func TestLineBroker(t *testing.T) {
	ctx := context.Background()
	t.Run("in order, questions first", func(t *testing.T) {
		r, w := io.Pipe()
		b := newLineBroker(r)
		cmd := make(chan string)
		go func() {
			line, _ := b.next(ctx, false) // the prompt loop waits first
			cmd <- line
		}()
		waitUntil(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.command != nil })
		answer := make(chan string)
		go func() {
			line, _ := b.next(ctx, true) // then a question arrives
			answer <- line
		}()
		waitUntil(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.askers) == 1 })
		io.WriteString(w, "for the question\nfor the prompt\n")
		if got := <-answer; got != "for the question" {
			t.Errorf("question got %q", got)
		}
		if got := <-cmd; got != "for the prompt" {
			t.Errorf("prompt got %q", got)
		}
		w.Close()
		if _, err := b.next(ctx, true); !errors.Is(err, io.EOF) {
			t.Errorf("after the end: %v", err)
		}
	})
	t.Run("type-ahead is kept", func(t *testing.T) {
		b := newLineBroker(strings.NewReader("one\r\ntwo\n"))
		for _, want := range []string{"one", "two"} {
			if got, err := b.next(ctx, false); got != want || err != nil {
				t.Errorf("next = %q, %v; want %q", got, err, want)
			}
		}
		if _, err := b.next(ctx, false); !errors.Is(err, io.EOF) {
			t.Errorf("at the end: %v", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		r, w := io.Pipe()
		defer w.Close()
		b := newLineBroker(r)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := b.next(cctx, true); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v", err)
		}
		go io.WriteString(w, "kept\n")
		if got, _ := b.next(ctx, false); got != "kept" {
			t.Errorf("after a cancelled question: %q", got)
		}
	})
}

// waitUntil polls cond until it holds.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCheckArguments(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"", "{}", true},
		{`  {"id": "T-1"} `, `{"id": "T-1"}`, true},
		{`{}`, `{}`, true},
		{`[1]`, "", false},
		{`null`, "", false},
		{`"x"`, "", false},
		{`{bad`, "", false},
	} {
		got, err := CheckArguments(tt.in)
		if (err == nil) != tt.ok || (tt.ok && string(got) != tt.want) {
			t.Errorf("CheckArguments(%q) = %s, %v", tt.in, got, err)
		}
	}
}

func TestDefaultStatePath(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	got, err := DefaultStatePath(env(map[string]string{"XDG_STATE_HOME": "/x/state", "HOME": "/home/ann"}))
	if err != nil || got != "/x/state/parley/client.json" {
		t.Errorf("with XDG_STATE_HOME: %q, %v", got, err)
	}
	got, err = DefaultStatePath(env(map[string]string{"HOME": "/home/ann"}))
	if err != nil || got != "/home/ann/.local/state/parley/client.json" {
		t.Errorf("with HOME: %q, %v", got, err)
	}
}

func TestArgSummary(t *testing.T) {
	schema := map[string]any{
		"type": "object",
		"properties": map[string]any{
			"ticket_id": map[string]any{"type": "string"},
			"version":   map[string]any{"type": []any{"null", "integer"}},
			"payload":   map[string]any{},
		},
		"required": []any{"ticket_id"},
	}
	if got, want := argSummary(schema), "{payload: any, ticket_id*: string, version: integer}"; got != want {
		t.Errorf("argSummary = %q, want %q", got, want)
	}
	if got := argSummary(nil); got != "{}" {
		t.Errorf("argSummary(nil) = %q", got)
	}
}

func TestNewRejects(t *testing.T) {
	for _, opts := range []Options{
		{URL: ""},
		{URL: "ftp://x/mcp"},
		{URL: "http:///mcp"},
		{URL: "http://127.0.0.1/mcp", ProtocolVersion: "latest"},
		{URL: "http://127.0.0.1/mcp", LogLevel: "loud"},
	} {
		if _, err := New(opts); err == nil {
			t.Errorf("New(%+v) succeeded", opts)
		}
	}
}
