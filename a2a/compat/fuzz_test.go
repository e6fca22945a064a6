package compat

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// fixtureBodies returns every recorded request body, response body and
// stream event, to seed the fuzzers with real traffic.
func fixtureBodies(f *testing.F) (requests, responses [][]byte) {
	files, _ := filepath.Glob(filepath.Join("testdata", "wire", "v*.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		var x exchange
		if json.Unmarshal(b, &x) != nil {
			continue
		}
		if x.Request.Body != nil {
			requests = append(requests, x.Request.Body)
		}
		if x.Response.Body != nil {
			responses = append(responses, x.Response.Body)
		}
		for _, ev := range x.Response.SSE {
			responses = append(responses, ev.Data)
		}
	}
	return requests, responses
}

// FuzzRequestTo03 never panics, and what it returns without an error is a
// valid JSON-RPC request with a 0.3 method, which translates back to 1.0.
func FuzzRequestTo03(f *testing.F) {
	reqs, _ := fixtureBodies(f)
	for _, r := range reqs {
		f.Add(r)
	}
	for _, s := range []string{
		``, `null`, `[]`, `{}`, `{"method":"SendMessage"}`, `{"method":"SendMessage","params":{"message":null}}`,
		`{"method":"SendMessage","params":{"message":{"parts":[{"data":null},{"raw":1},{}]}}}`,
		`{"method":"SendMessage","params":{"message":{"role":2.5,"parts":{}}}}`,
		`{"method":"GetTaskPushNotificationConfig","params":{"pushNotificationConfigId":1}}`,
		`{"method":"CreateTaskPushNotificationConfig","params":{"authentication":[]}}`,
		`{"method":"SendMessage","params":{"message":{},"configuration":{"taskPushNotificationConfig":7}}}`,
		`{"jsonrpc":"2.0","id":1e400,"method":"GetTask","params":{"historyLength":"99999999999999999999"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := RequestTo03(body)
		if err != nil {
			if AsError(err).Code == 0 {
				t.Fatalf("error without a JSON-RPC code: %v", err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON %q from %q", out, body)
		}
		var env struct {
			Method string `json:"method"`
		}
		if err := json.Unmarshal(out, &env); err != nil {
			t.Fatalf("not an object %q: %v", out, err)
		}
		if _, ok := methods03to10[env.Method]; !ok {
			t.Fatalf("method %q is not 0.3 (from %q)", env.Method, body)
		}
		if back, err := RequestTo10(out); err == nil && !json.Valid(back) {
			t.Fatalf("invalid JSON back %q", back)
		}
	})
}

// FuzzResponses: the response and event translations never panic and return
// valid JSON when they succeed.
func FuzzResponses(f *testing.F) {
	_, resps := fixtureBodies(f)
	for _, r := range resps {
		for _, p := range methodPairs {
			f.Add(p.v10, r)
		}
	}
	f.Add("ListTasks", []byte(`{"result":{"tasks":[{"status":{"state":9}}]}}`))
	f.Add("GetExtendedAgentCard", []byte(`{"result":{"securitySchemes":{"a":{"type":"oauth2","flows":7}},"skills":[1],"supportedInterfaces":[{"url":3}]}}`))
	f.Add("GetTask", []byte(`{"error":{"code":-32001,"data":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"TASK_NOT_FOUND","domain":"a2a-protocol.org","metadata":7}]}}`))
	f.Fuzz(func(t *testing.T, method string, body []byte) {
		for _, fn := range []func(string, []byte) ([]byte, error){ResponseTo10, ResponseTo03, StreamEventTo10, StreamEventTo03} {
			if out, err := fn(method, body); err == nil && !json.Valid(out) {
				t.Fatalf("invalid JSON %q", out)
			}
		}
		for _, fn := range []func([]byte) ([]byte, error){CardTo10, CardTo03, func(b []byte) ([]byte, error) { return CardWith10(b, nil) }} {
			if out, err := fn(body); err == nil && !json.Valid(out) {
				t.Fatalf("invalid card JSON %q", out)
			}
		}
		_, _ = CardInterfaces(body)
	})
}
