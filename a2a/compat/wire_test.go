package compat

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/a2a"
)

// The wire examples in testdata/wire were recorded by testdata/wire/capture.mjs:
// an @a2a-js/sdk 1.3.0 server (legacyCompat on, so it also answers 0.3) behind
// a recording proxy, driven first by an @a2a-js/sdk 1.3.0 client without
// legacyCompat (files v10.*) and then by an @a2a-js/sdk 0.3.14 client running
// the same script (files v03.*). Task and context ids come from a
// deterministic generator, so file v10.X and its 0.3 twin describe the same
// exchange in the two protocol generations.

type exchange struct {
	Request struct {
		Method  string            `json:"method"`
		Path    string            `json:"path"`
		Headers map[string]string `json:"headers"`
		Body    json.RawMessage   `json:"body"`
	} `json:"request"`
	Response struct {
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    json.RawMessage   `json:"body"`
		SSE     []struct {
			Event string          `json:"event"`
			Data  json.RawMessage `json:"data"`
		} `json:"sse"`
	} `json:"response"`
}

func loadExchange(t testing.TB, name string) exchange {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "wire", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var x exchange
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return x
}

func wireFiles(t testing.TB, prefix string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join("testdata", "wire", prefix+".*.json"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no wire examples %s.*: %v", prefix, err)
	}
	var out []string
	for _, f := range m {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		if strings.Contains(name, "card") {
			continue // agent card documents, tested in card_test.go
		}
		out = append(out, name)
	}
	return out
}

// rpcMethod returns the JSON-RPC method of an exchange's request.
func rpcMethod(t testing.TB, x exchange) string {
	t.Helper()
	var env struct{ Method string }
	if err := json.Unmarshal(x.Request.Body, &env); err != nil {
		t.Fatal(err)
	}
	return env.Method
}

// wirePairs are the same exchanges recorded in 1.0 and in 0.3.
var wirePairs = []struct{ v10, v03 string }{
	{"SendMessage.task", "message_send.task"},
	{"SendMessage.message", "message_send.message"},
	{"SendMessage.datavalue", "message_send.datavalue"},
	{"SendMessage.input", "message_send.input"},
	{"SendMessage.slow", "message_send.slow"},
	{"SendStreamingMessage.stream", "message_stream.stream"},
	{"SubscribeToTask", "tasks_resubscribe"},
	{"GetTask", "tasks_get"},
	{"GetTask.notfound", "tasks_get.notfound"},
	{"CancelTask", "tasks_cancel"},
	{"CancelTask.notcancelable", "tasks_cancel.notcancelable"},
	{"CreateTaskPushNotificationConfig", "tasks_pushNotificationConfig_set"},
	{"GetTaskPushNotificationConfig", "tasks_pushNotificationConfig_get"},
	{"ListTaskPushNotificationConfigs", "tasks_pushNotificationConfig_list"},
	{"DeleteTaskPushNotificationConfig", "tasks_pushNotificationConfig_delete"},
	{"GetExtendedAgentCard", "agent_getAuthenticatedExtendedCard"},
}

// norm decodes JSON and drops default values ("", false, null, []): the two
// generations disagree on whether to spell them out, never on their meaning.
func norm(t testing.TB, b []byte, drop ...string) any {
	t.Helper()
	v, err := DecodeJSON(b)
	if err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	v = normValue(v)
	for _, path := range drop {
		dropPath(v, strings.Split(path, "."))
	}
	return v
}

func normValue(v any) any {
	switch x := v.(type) {
	case obj:
		out := obj{}
		for k, e := range x {
			if isEmpty(e) {
				continue
			}
			out[k] = normValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normValue(e)
		}
		return out
	}
	return v
}

func dropPath(v any, path []string) {
	o, ok := v.(obj)
	if !ok {
		return
	}
	if len(path) == 1 {
		delete(o, path[0])
		return
	}
	dropPath(o[path[0]], path[1:])
}

func sameJSON(t *testing.T, what string, got, want []byte, drop ...string) {
	t.Helper()
	g, w := norm(t, got, drop...), norm(t, want, drop...)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got: %s\nwant: %s", what, got, want)
	}
}

// withID replaces the JSON-RPC id of an envelope (the two recordings number
// their requests differently when one generation has a call the other lacks).
func withID(t testing.TB, b []byte, id json.RawMessage) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["id"] = id
	out, _ := json.Marshal(m)
	return out
}

func idOf(t testing.TB, b []byte) json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m["id"]
}

// TestWirePairs: each recorded 1.0 exchange translates to its recorded 0.3
// twin and back: requests, JSON responses, errors and every stream event.
func TestWirePairs(t *testing.T) {
	for _, p := range wirePairs {
		t.Run(p.v10, func(t *testing.T) {
			x10, x03 := loadExchange(t, "v10."+p.v10), loadExchange(t, "v03."+p.v03)
			m10, m03 := rpcMethod(t, x10), rpcMethod(t, x03)
			if Method03(m10) != m03 || Method10(m03) != m10 {
				t.Fatalf("method tables: %s ↔ %s", m10, m03)
			}
			id10, id03 := idOf(t, x10.Request.Body), idOf(t, x03.Request.Body)

			got03, err := RequestTo03(x10.Request.Body)
			if err != nil {
				t.Fatalf("RequestTo03: %v", err)
			}
			sameJSON(t, "RequestTo03", got03, withID(t, x03.Request.Body, id10))
			got10, err := RequestTo10(x03.Request.Body)
			if err != nil {
				t.Fatalf("RequestTo10: %v", err)
			}
			sameJSON(t, "RequestTo10", got10, withID(t, x10.Request.Body, id03))

			// Cards: the 0.3 rendering of the extended card keeps the 1.0
			// interfaces alongside, and a 0.3 card only knows its 0.3 endpoint.
			var drop03, drop10 []string
			if m10 == "GetExtendedAgentCard" {
				drop03 = []string{"result.supportedInterfaces"}
				drop10 = []string{"result.supportedInterfaces"}
			}
			if x10.Response.SSE == nil {
				got03, err := ResponseTo03(m10, x10.Response.Body)
				if err != nil {
					t.Fatalf("ResponseTo03: %v", err)
				}
				sameJSON(t, "ResponseTo03", got03, withID(t, x03.Response.Body, id10), drop03...)
				got10, err := ResponseTo10(m03, x03.Response.Body)
				if err != nil {
					t.Fatalf("ResponseTo10: %v", err)
				}
				sameJSON(t, "ResponseTo10", got10, withID(t, x10.Response.Body, id03), drop10...)
				return
			}
			if len(x10.Response.SSE) != len(x03.Response.SSE) {
				t.Fatalf("%d events in 1.0, %d in 0.3", len(x10.Response.SSE), len(x03.Response.SSE))
			}
			for i := range x10.Response.SSE {
				e10, e03 := x10.Response.SSE[i].Data, x03.Response.SSE[i].Data
				got03, err := StreamEventTo03(m10, e10)
				if err != nil {
					t.Fatalf("StreamEventTo03 #%d: %v", i, err)
				}
				sameJSON(t, fmt.Sprintf("StreamEventTo03 #%d", i), got03, withID(t, e03, id10))
				got10, err := StreamEventTo10(m03, e03)
				if err != nil {
					t.Fatalf("StreamEventTo10 #%d: %v", i, err)
				}
				sameJSON(t, fmt.Sprintf("StreamEventTo10 #%d", i), got10, withID(t, e10, id03))
			}
		})
	}
}

// TestWireRoundTrips: every recorded message survives a trip to the other
// generation and back.
func TestWireRoundTrips(t *testing.T) {
	for _, gen := range []string{"v10", "v03"} {
		for _, name := range wireFiles(t, gen) {
			t.Run(name, func(t *testing.T) {
				x := loadExchange(t, name)
				m := rpcMethod(t, x)
				there, back := RequestTo03, RequestTo10
				respThere, respBack := ResponseTo03, ResponseTo10
				evThere, evBack := StreamEventTo03, StreamEventTo10
				if gen == "v03" {
					there, back = RequestTo10, RequestTo03
					respThere, respBack = ResponseTo10, ResponseTo03
					evThere, evBack = StreamEventTo10, StreamEventTo03
				}
				if m == "ListTasks" {
					if _, err := there(x.Request.Body); AsError(err).Code != CodeUnsupportedOperation {
						t.Fatalf("ListTasks to 0.3: %v", err)
					}
				} else {
					mid, err := there(x.Request.Body)
					if err != nil {
						t.Fatal(err)
					}
					got, err := back(mid)
					if err != nil {
						t.Fatal(err)
					}
					sameJSON(t, "request round trip via "+string(mid), got, x.Request.Body)
				}
				for i, ev := range x.Response.SSE {
					mid, err := evThere(m, ev.Data)
					if err != nil {
						t.Fatal(err)
					}
					got, err := evBack(m, mid)
					if err != nil {
						t.Fatal(err)
					}
					sameJSON(t, fmt.Sprintf("event #%d round trip via %s", i, mid), got, ev.Data)
				}
				if x.Response.Body != nil {
					mid, err := respThere(m, x.Response.Body)
					if err != nil {
						t.Fatal(err)
					}
					got, err := respBack(m, mid)
					if err != nil {
						t.Fatal(err)
					}
					var drop []string
					if gen == "v03" && m == "agent/getAuthenticatedExtendedCard" {
						drop = []string{"result.supportedInterfaces"} // gained on the way
					}
					sameJSON(t, "response round trip via "+string(mid), got, x.Response.Body, drop...)
				}
			})
		}
	}
}

// TestWireTo03DecodesInA2AGo: everything translated to 0.3 is understood by
// a2a-go: decoded into its types and encoded again, nothing is lost.
func TestWireTo03DecodesInA2AGo(t *testing.T) {
	for _, name := range wireFiles(t, "v10") {
		t.Run(name, func(t *testing.T) {
			x := loadExchange(t, name)
			m := rpcMethod(t, x)
			if m == "ListTasks" {
				return
			}
			req, err := RequestTo03(x.Request.Body)
			if err != nil {
				t.Fatal(err)
			}
			var env struct {
				Method string          `json:"method"`
				Params json.RawMessage `json:"params"`
			}
			if err := json.Unmarshal(req, &env); err != nil {
				t.Fatal(err)
			}
			if env.Params != nil {
				checkA2AGo(t, "params", env.Params, newParams03(env.Method))
			}
			var bodies [][]byte
			if x.Response.Body != nil {
				r, err := ResponseTo03(m, x.Response.Body)
				if err != nil {
					t.Fatal(err)
				}
				bodies = append(bodies, r)
			}
			for _, ev := range x.Response.SSE {
				r, err := StreamEventTo03(m, ev.Data)
				if err != nil {
					t.Fatal(err)
				}
				bodies = append(bodies, r)
			}
			for _, b := range bodies {
				var resp struct {
					Result json.RawMessage `json:"result"`
					Error  *struct {
						Code    int            `json:"code"`
						Message string         `json:"message"`
						Data    map[string]any `json:"data"` // a2a-go decodes error data as an object
					} `json:"error"`
				}
				if err := json.Unmarshal(b, &resp); err != nil {
					t.Fatalf("a2a-go cannot decode %s: %v", b, err)
				}
				if resp.Error != nil || string(resp.Result) == "null" {
					continue
				}
				checkA2AGo(t, "result", resp.Result, newResult03(env.Method))
			}
		})
	}
}

func newParams03(method string) func() any {
	switch method {
	case "message/send", "message/stream":
		return func() any { return new(a2a.MessageSendParams) }
	case "tasks/get":
		return func() any { return new(a2a.TaskQueryParams) }
	case "tasks/cancel", "tasks/resubscribe":
		return func() any { return new(a2a.TaskIDParams) }
	case "tasks/pushNotificationConfig/set":
		return func() any { return new(a2a.TaskPushConfig) }
	case "tasks/pushNotificationConfig/get":
		return func() any { return new(a2a.GetTaskPushConfigParams) }
	case "tasks/pushNotificationConfig/list":
		return func() any { return new(a2a.ListTaskPushConfigParams) }
	case "tasks/pushNotificationConfig/delete":
		return func() any { return new(a2a.DeleteTaskPushConfigParams) }
	}
	return nil
}

func newResult03(method string) func() any {
	switch method {
	case "message/send", "message/stream", "tasks/resubscribe":
		return nil // an event: decoded with a2a.UnmarshalEventJSON
	case "tasks/get", "tasks/cancel":
		return func() any { return new(a2a.Task) }
	case "tasks/pushNotificationConfig/set", "tasks/pushNotificationConfig/get":
		return func() any { return new(a2a.TaskPushConfig) }
	case "tasks/pushNotificationConfig/list":
		return func() any { return new([]*a2a.TaskPushConfig) }
	case "agent/getAuthenticatedExtendedCard":
		return func() any { return new(a2a.AgentCard) }
	}
	return nil
}

// checkA2AGo decodes b with a2a-go and checks that a2a-go's own encoding of
// what it understood says the same as b.
func checkA2AGo(t *testing.T, what string, b []byte, newV func() any) {
	t.Helper()
	var v any
	if newV == nil {
		ev, err := a2a.UnmarshalEventJSON(b)
		if err != nil {
			t.Fatalf("a2a-go cannot decode %s %s: %v", what, b, err)
		}
		v = ev
	} else {
		v = newV()
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("a2a-go cannot decode %s %s: %v", what, b, err)
		}
	}
	again, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	drop := []string{}
	if _, ok := v.(*a2a.AgentCard); ok {
		drop = append(drop, "supportedInterfaces") // a 1.0 field a2a-go ignores
	}
	g, w := canonTimes(norm(t, again, drop...)), canonTimes(norm(t, b, drop...))
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s as a2a-go sees it:\n got: %s\nwant: %s", what, again, b)
	}
}

// canonTimes rewrites "timestamp" values to one spelling (a2a-go re-encodes
// "…05.000Z" as "…05Z").
func canonTimes(v any) any {
	switch x := v.(type) {
	case obj:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "timestamp" {
				if tm, err := time.Parse(time.RFC3339Nano, s); err == nil {
					x[k] = tm.UTC().Format(time.RFC3339Nano)
				}
				continue
			}
			canonTimes(e)
		}
	case []any:
		for _, e := range x {
			canonTimes(e)
		}
	}
	return v
}

// TestWireDetectVersion: the recorded requests are recognized.
func TestWireDetectVersion(t *testing.T) {
	for _, gen := range []string{"v10", "v03"} {
		for _, name := range wireFiles(t, gen) {
			x := loadExchange(t, name)
			r := newRequest(x)
			want := V10
			if gen == "v03" {
				want = V03
			}
			if got := DetectVersion(r, x.Request.Body); got != want {
				t.Errorf("%s: DetectVersion = %q, want %q", name, got, want)
			}
			// without the header, the method name alone decides
			r.Header.Del(HeaderVersion)
			if got := DetectVersion(r, x.Request.Body); got != want {
				t.Errorf("%s without header: DetectVersion = %q, want %q", name, got, want)
			}
		}
	}
}
