package compat

import (
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// exactJSON compares without dropping default values.
func exactJSON(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	g, err := DecodeJSON(got)
	if err != nil {
		t.Fatalf("%s: invalid JSON %s: %v", what, got, err)
	}
	w, err := DecodeJSON([]byte(want))
	if err != nil {
		t.Fatalf("%s: bad expectation %s: %v", what, want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got: %s\nwant: %s", what, got, want)
	}
}

func TestRequestTo03Edges(t *testing.T) {
	msg := func(parts string) string {
		return `{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_USER","parts":[` + parts + `]}}}`
	}
	out03 := func(parts string) string {
		return `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m","role":"user","parts":[` + parts + `]}}}`
	}
	tests := []struct {
		name, in, want string
		code           int
	}{
		{"malformed JSON", `{"jsonrpc":"2.0",`, "", CodeParseError},
		{"trailing garbage", `{"jsonrpc":"2.0","method":"GetTask"} x`, "", CodeParseError},
		{"batch", `[{"jsonrpc":"2.0","method":"GetTask"}]`, "", CodeInvalidRequest},
		{"no method", `{"jsonrpc":"2.0","id":1}`, "", CodeInvalidRequest},
		{"method not a string", `{"jsonrpc":"2.0","id":1,"method":7}`, "", CodeInvalidRequest},
		{"unknown method", `{"jsonrpc":"2.0","id":1,"method":"DoSomething"}`, "", CodeMethodNotFound},
		{"ListTasks has no 0.3 equivalent", `{"jsonrpc":"2.0","id":1,"method":"ListTasks","params":{}}`, "", CodeUnsupportedOperation},
		{"params not an object", `{"jsonrpc":"2.0","id":1,"method":"GetTask","params":[1]}`, "", CodeInvalidParams},
		{"message missing", `{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{}}`, "", CodeInvalidParams},
		{"part without content", msg(`{"metadata":{}}`), "", CodeInvalidParams},
		{"text not a string", msg(`{"text":5}`), "", CodeInvalidParams},
		{"url not a string", msg(`{"url":{}}`), "", CodeInvalidParams},
		{"part not an object", msg(`"hello"`), "", CodeInvalidParams},
		{"metadata not an object", msg(`{"text":"a","metadata":[1]}`), "", CodeInvalidParams},
		{"unknown role", `{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_BOSS","parts":[]}}}`, "", CodeInvalidParams},

		{"0.3 request unchanged", `{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"id":"t"}}`,
			`{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"id":"t"}}`, 0},
		{"text part", msg(`{"text":"hi","filename":"dropped.txt","mediaType":"text/plain"}`), out03(`{"kind":"text","text":"hi"}`), 0},
		{"data object", msg(`{"data":{"a":1},"metadata":{"m":true}}`), out03(`{"kind":"data","data":{"a":1},"metadata":{"m":true}}`), 0},
		{"data array is wrapped", msg(`{"data":[1,"x"]}`), out03(`{"kind":"data","data":{"value":[1,"x"]},"metadata":{"data_part_compat":true}}`), 0},
		{"data string keeps metadata", msg(`{"data":"s","metadata":{"m":1}}`), out03(`{"kind":"data","data":{"value":"s"},"metadata":{"m":1,"data_part_compat":true}}`), 0},
		{"data null is wrapped", msg(`{"data":null}`), out03(`{"kind":"data","data":{"value":null},"metadata":{"data_part_compat":true}}`), 0},
		{"url part", msg(`{"url":"https://x/y.pdf","filename":"y.pdf","mediaType":"application/pdf"}`),
			out03(`{"kind":"file","file":{"uri":"https://x/y.pdf","name":"y.pdf","mimeType":"application/pdf"}}`), 0},
		{"raw part", msg(`{"raw":"aGk=","mediaType":"text/plain"}`), out03(`{"kind":"file","file":{"bytes":"aGk=","mimeType":"text/plain"}}`), 0},
		{"0.3 part inside 1.0 message", msg(`{"kind":"text","text":"old"}`), out03(`{"kind":"text","text":"old"}`), 0},
		{"snake_case proto-JSON names", `{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"message_id":"m","context_id":"c","role":"ROLE_AGENT","parts":[{"raw":"aGk=","media_type":"text/plain"}]}}}`,
			`{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m","contextId":"c","role":"agent","parts":[{"kind":"file","file":{"bytes":"aGk=","mimeType":"text/plain"}}]}}}`, 0},
		{"numeric enum", `{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m","role":1,"parts":[]}}}`,
			`{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m","role":"user","parts":[]}}}`, 0},
		{"no parts becomes []", `{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_USER"}}}`,
			`{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m","role":"user","parts":[]}}}`, 0},
		{"no configuration: a2a-go blocks by default", `{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"tenant":"acme","message":{"messageId":"m","role":"ROLE_USER","parts":[]}}}`,
			`{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m","role":"user","parts":[]}}}`, 0},
		{"returnImmediately", `{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_USER","parts":[]},"configuration":{"returnImmediately":true,"historyLength":"3","taskPushNotificationConfig":{"url":"https://h/x","token":"t","authentication":{"scheme":"Bearer","credentials":"c"}}}}}`,
			`{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m","role":"user","parts":[]},"configuration":{"blocking":false,"historyLength":3,"pushNotificationConfig":{"url":"https://h/x","token":"t","authentication":{"schemes":["Bearer"],"credentials":"c"}}}}}`, 0},
		{"empty configuration blocks", `{"jsonrpc":"2.0","id":1,"method":"SendStreamingMessage","params":{"message":{"messageId":"m","role":"ROLE_USER","parts":[]},"configuration":{}}}`,
			`{"jsonrpc":"2.0","id":1,"method":"message/stream","params":{"message":{"kind":"message","messageId":"m","role":"user","parts":[]},"configuration":{"blocking":true}}}`, 0},
		{"GetExtendedAgentCard drops tenant", `{"jsonrpc":"2.0","id":"x","method":"GetExtendedAgentCard","params":{"tenant":"t"}}`,
			`{"jsonrpc":"2.0","id":"x","method":"agent/getAuthenticatedExtendedCard"}`, 0},
		{"gRPC spelling of list push configs", `{"jsonrpc":"2.0","id":1,"method":"ListTaskPushNotificationConfig","params":{"taskId":"t"}}`,
			`{"jsonrpc":"2.0","id":1,"method":"tasks/pushNotificationConfig/list","params":{"id":"t"}}`, 0},
		{"get push config without id", `{"jsonrpc":"2.0","id":1,"method":"GetTaskPushNotificationConfig","params":{"taskId":"t"}}`,
			`{"jsonrpc":"2.0","id":1,"method":"tasks/pushNotificationConfig/get","params":{"id":"t"}}`, 0},
		{"big id survives", `{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"GetTask","params":{"id":"t","historyLength":2}}`,
			`{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"tasks/get","params":{"id":"t","historyLength":2}}`, 0},
		{"notification keeps no id", `{"jsonrpc":"2.0","method":"CancelTask","params":{"id":"t"}}`,
			`{"jsonrpc":"2.0","method":"tasks/cancel","params":{"id":"t"}}`, 0},
		{"html stays unescaped", msg(`{"text":"<b>&</b>"}`), out03(`{"kind":"text","text":"<b>&</b>"}`), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RequestTo03([]byte(tt.in))
			if tt.code != 0 {
				if err == nil {
					t.Fatalf("want error %d, got %s", tt.code, got)
				}
				if c := AsError(err).Code; c != tt.code {
					t.Fatalf("error code %d (%v), want %d", c, err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			exactJSON(t, "RequestTo03", got, tt.want)
			if strings.Contains(tt.name, "html") && !strings.Contains(string(got), "<b>&</b>") {
				t.Errorf("HTML was escaped: %s", got)
			}
		})
	}
}

func TestRequestTo10Edges(t *testing.T) {
	tests := []struct {
		name, in, want string
		code           int
	}{
		{"unknown method", `{"jsonrpc":"2.0","id":1,"method":"tasks/list"}`, "", CodeMethodNotFound},
		{"1.0 request unchanged", `{"jsonrpc":"2.0","id":1,"method":"ListTasks","params":{}}`, `{"jsonrpc":"2.0","id":1,"method":"ListTasks","params":{}}`, 0},
		{"unknown part kind", `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m","role":"user","parts":[{"kind":"video"}]}}}`, "", CodeInvalidParams},
		{"file part without content", `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m","role":"user","parts":[{"kind":"file","file":{"name":"x"}}]}}}`, "", CodeInvalidParams},
		{"unknown role", `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m","role":"robot","parts":[]}}}`, "", CodeInvalidParams},
		{"blocking absent stays blocking", `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m","role":"user","parts":[]},"configuration":{"acceptedOutputModes":["text/plain"]}}}`,
			`{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_USER"},"configuration":{"acceptedOutputModes":["text/plain"]}}}`, 0},
		{"blocking false", `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m","role":"user","parts":[]},"configuration":{"blocking":false,"pushNotificationConfig":{"url":"https://h","authentication":{"schemes":["Bearer","Basic"]}}}}}`,
			`{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_USER"},"configuration":{"returnImmediately":true,"taskPushNotificationConfig":{"url":"https://h","authentication":{"scheme":"Bearer"}}}}}`, 0},
		{"compat flag without wrapper", `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m","role":"user","parts":[{"kind":"data","data":{"a":1},"metadata":{"data_part_compat":true,"k":"v"}}]}}}`,
			`{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_USER","parts":[{"data":{"a":1},"metadata":{"k":"v"}}]}}}`, 0},
		{"tasks/get metadata has no 1.0 field", `{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"id":"t","metadata":{"x":1}}}`,
			`{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"t"}}`, 0},
		{"extended card", `{"jsonrpc":"2.0","id":1,"method":"agent/getAuthenticatedExtendedCard"}`,
			`{"jsonrpc":"2.0","id":1,"method":"GetExtendedAgentCard","params":{}}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RequestTo10([]byte(tt.in))
			if tt.code != 0 {
				if c := AsError(err).Code; err == nil || c != tt.code {
					t.Fatalf("error %v, want code %d (got %s)", err, tt.code, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			exactJSON(t, "RequestTo10", got, tt.want)
		})
	}
}

func TestResponseEdges(t *testing.T) {
	tests := []struct {
		name, method, in, want string
		to                     Version
		code                   int
	}{
		{"a2a-go error detail becomes ErrorInfo metadata", "GetTask", `{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"task not found","data":{"error":"loading t: task not found"}}}`,
			`{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"task not found","data":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"TASK_NOT_FOUND","domain":"a2a-protocol.org","metadata":{"error":"loading t: task not found"}}]}}`, V10, 0},
		{"ErrorInfo metadata back to an a2a-go error detail", "GetTask", `{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"task not found","data":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"TASK_NOT_FOUND","domain":"a2a-protocol.org","metadata":{"error":"loading t: task not found"}}]}}`,
			`{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"task not found","data":{"error":"loading t: task not found"}}}`, V03, 0},
		{"foreign details go under details", "tasks/get", `{"jsonrpc":"2.0","id":1,"error":{"code":-32009,"message":"v","data":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"VERSION_NOT_SUPPORTED","domain":"a2a-protocol.org"},{"@type":"x","y":1}]}}`,
			`{"jsonrpc":"2.0","id":1,"error":{"code":-32009,"message":"v","data":{"details":[{"@type":"x","y":1}]}}}`, V03, 0},
		{"internal error data kept", "tasks/get", `{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"internal error"}}`,
			`{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"internal error"}}`, V10, 0},
		{"unknown state", "GetTask", `{"jsonrpc":"2.0","id":1,"result":{"kind":"task","id":"t","contextId":"c","status":{"state":"unknown"}}}`,
			`{"jsonrpc":"2.0","id":1,"result":{"id":"t","contextId":"c","status":{}}}`, V10, 0},
		{"unspecified state", "GetTask", `{"jsonrpc":"2.0","id":1,"result":{"id":"t","status":{}}}`,
			`{"jsonrpc":"2.0","id":1,"result":{"kind":"task","id":"t","contextId":"","status":{"state":"unknown"}}}`, V03, 0},
		{"numeric state", "GetTask", `{"jsonrpc":"2.0","id":1,"result":{"id":"t","contextId":"c","status":{"state":3}}}`,
			`{"jsonrpc":"2.0","id":1,"result":{"kind":"task","id":"t","contextId":"c","status":{"state":"completed"}}}`, V03, 0},
		{"bad state", "GetTask", `{"jsonrpc":"2.0","id":1,"result":{"id":"t","status":{"state":"TASK_STATE_NAPPING"}}}`, "", V03, CodeInvalidAgentResponse},
		{"bare task as SendMessage result", "SendMessage", `{"jsonrpc":"2.0","id":1,"result":{"id":"t","contextId":"c","status":{"state":"TASK_STATE_WORKING"}}}`,
			`{"jsonrpc":"2.0","id":1,"result":{"kind":"task","id":"t","contextId":"c","status":{"state":"working"}}}`, V03, 0},
		{"message result", "message/send", `{"jsonrpc":"2.0","id":1,"result":{"kind":"message","messageId":"m","role":"agent","parts":[{"kind":"text","text":"x"}]}}`,
			`{"jsonrpc":"2.0","id":1,"result":{"message":{"messageId":"m","role":"ROLE_AGENT","parts":[{"text":"x"}]}}}`, V10, 0},
		{"neither result nor error", "GetTask", `{"jsonrpc":"2.0","id":1}`, "", V10, CodeInvalidAgentResponse},
		{"not an object", "GetTask", `[]`, "", V10, CodeInvalidAgentResponse},
		{"malformed", "GetTask", `{"jsonrpc"`, "", V10, CodeParseError},
		{"unknown method", "Frobnicate", `{"jsonrpc":"2.0","id":1,"result":{}}`, "", V10, CodeMethodNotFound},
		{"delete result null", "DeleteTaskPushNotificationConfig", `{"jsonrpc":"2.0","id":1,"result":null}`, `{"jsonrpc":"2.0","id":1,"result":null}`, V03, 0},
		{"empty push config list", "tasks/pushNotificationConfig/list", `{"jsonrpc":"2.0","id":1,"result":[]}`, `{"jsonrpc":"2.0","id":1,"result":{}}`, V10, 0},
		{"empty push config list to 0.3", "ListTaskPushNotificationConfigs", `{"jsonrpc":"2.0","id":1,"result":{}}`, `{"jsonrpc":"2.0","id":1,"result":[]}`, V03, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conv := ResponseTo10
			if tt.to == V03 {
				conv = ResponseTo03
			}
			got, err := conv(tt.method, []byte(tt.in))
			if tt.code != 0 {
				if c := AsError(err).Code; err == nil || c != tt.code {
					t.Fatalf("error %v, want code %d (got %s)", err, tt.code, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			exactJSON(t, "response", got, tt.want)
		})
	}
}

func TestStreamEventEdges(t *testing.T) {
	ev := func(state string) string {
		return `{"jsonrpc":"2.0","id":1,"result":{"statusUpdate":{"taskId":"t","contextId":"c","status":{"state":"` + state + `"}}}}`
	}
	for state, final := range map[string]bool{
		"TASK_STATE_SUBMITTED": false, "TASK_STATE_WORKING": false,
		"TASK_STATE_COMPLETED": true, "TASK_STATE_FAILED": true, "TASK_STATE_CANCELED": true, "TASK_STATE_REJECTED": true,
		"TASK_STATE_INPUT_REQUIRED": true, "TASK_STATE_AUTH_REQUIRED": true,
	} {
		got, err := StreamEventTo03("SendStreamingMessage", []byte(ev(state)))
		if err != nil {
			t.Fatal(err)
		}
		v, _ := DecodeJSON(got)
		if f := v.(obj)["result"].(obj)["final"]; f != final {
			t.Errorf("%s: final = %v, want %v", state, f, final)
		}
	}
	if _, err := StreamEventTo10("message/stream", []byte(`{"jsonrpc":"2.0","id":1,"result":{"kind":"gossip"}}`)); AsError(err).Code != CodeInvalidAgentResponse {
		t.Errorf("unknown kind: %v", err)
	}
	if _, err := StreamEventTo03("SendStreamingMessage", []byte(`{"jsonrpc":"2.0","id":1,"result":{"weather":{}}}`)); AsError(err).Code != CodeInvalidAgentResponse {
		t.Errorf("unknown 1.0 event: %v", err)
	}
	got, err := StreamEventTo10("message/stream", []byte(`{"jsonrpc":"2.0","id":1,"result":{"kind":"artifact-update","taskId":"t","contextId":"c","append":true,"lastChunk":false,"artifact":{"artifactId":"a","parts":[{"kind":"data","data":{"value":7},"metadata":{"data_part_compat":true}}]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	exactJSON(t, "artifact update", got, `{"jsonrpc":"2.0","id":1,"result":{"artifactUpdate":{"taskId":"t","contextId":"c","append":true,"artifact":{"artifactId":"a","parts":[{"data":7}]}}}}`)
}

func TestMethodTables(t *testing.T) {
	for _, p := range methodPairs {
		if Method03(p.v10) != p.v03 || Method10(p.v03) != p.v10 || Method10(p.v10) != p.v10 || Method03(p.v03) != p.v03 {
			t.Errorf("%s ↔ %s", p.v10, p.v03)
		}
	}
	if Method03("ListTasks") != "" || Method10("ListTasks") != "ListTasks" || Method10("nope") != "" {
		t.Error("ListTasks / unknown")
	}
	for _, m := range []string{"SendStreamingMessage", "SubscribeToTask", "message/stream", "tasks/resubscribe"} {
		if !IsStreaming(m) {
			t.Errorf("%s is streaming", m)
		}
	}
	if IsStreaming("SendMessage") {
		t.Error("SendMessage is not streaming")
	}
	for _, e := range taskStates {
		if got, _ := enum03(taskStates[:], e.v03); got != e {
			t.Errorf("state %s", e.v03)
		}
		if got, _ := enum10(taskStates[:], e.v10); got != e {
			t.Errorf("state %s", e.v10)
		}
	}
}

func TestDetectVersion(t *testing.T) {
	tests := []struct {
		header, method string
		want           Version
	}{
		{"", "message/send", V03},
		{"", "SendMessage", V10},
		{"", "ListTasks", V10},
		{"", "custom/method", V03},
		{"1.0", "SendMessage", V10},
		{"1.0", "message/send", V03}, // the body's naming decides
		{"0.3", "SendMessage", V10},
		{"1.0", "custom/method", V10},
		{"1.2", "custom/method", V10},
		{"0.3.0", "custom/method", V03},
		{"2.0", "custom/method", "2.0"},
		{"abc", "custom/method", "abc"},
		{"2.0", "tasks/get", V03},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/a2a", nil)
		if tt.header != "" {
			r.Header.Set(HeaderVersion, tt.header)
		}
		body := []byte(`{"jsonrpc":"2.0","id":1,"method":"` + tt.method + `"}`)
		if got := DetectVersion(r, body); got != tt.want {
			t.Errorf("header %q method %q: %q, want %q", tt.header, tt.method, got, tt.want)
		}
	}
	if DetectVersion(nil, []byte(`not json`)) != V03 {
		t.Error("nil request, bad body")
	}
	if ParseVersion(" 1 ") != V10 || !V10.Supported() || Version("2.0").Supported() {
		t.Error("ParseVersion")
	}
}

func TestErrorResponse(t *testing.T) {
	exactJSON(t, "1.0", ErrorResponse(V10, "a", &Error{Code: CodeTaskNotFound, Message: "no"}),
		`{"jsonrpc":"2.0","id":"a","error":{"code":-32001,"message":"no","data":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"TASK_NOT_FOUND","domain":"a2a-protocol.org"}]}}`)
	exactJSON(t, "0.3", ErrorResponse(V03, nil, &Error{Code: CodeParseError, Message: "bad"}),
		`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"bad"}}`)
	exactJSON(t, "unencodable id", ErrorResponse(V03, func() {}, &Error{Code: CodeParseError, Message: "bad"}),
		`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"bad"}}`)
}
