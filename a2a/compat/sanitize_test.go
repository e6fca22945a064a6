package compat

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// goisms are what a caller must never read in an error: Go's type and
// package names, encoding/json's wording of them.
var goisms = []string{"Go struct", "Go value", "a2a.", "*a2a", "json: cannot", "jsonrpc."}

func TestSafeErrorText(t *testing.T) {
	long := strings.Repeat("7", 100<<10)
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"short message", "task not found", "task not found"},
		{"a 100 KB id is cut", "task " + long + " not found", "task " + strings.Repeat("7", MaxEchoRunes) + "… not found"},
		{"a 100 KB id in a chain", "task not found: task " + long + ": task not found",
			"task not found: task " + strings.Repeat("7", MaxEchoRunes) + "… task not found"},
		{"json field error",
			"parse error: json: cannot unmarshal number into Go struct field TaskQueryParams.id of type a2a.TaskID",
			"parse error: params.id: a JSON number is not allowed here"},
		{"nested json field error",
			"parse error: json: cannot unmarshal string into Go struct field MessageSendParams.configuration.historyLength of type int",
			"parse error: params.configuration.historyLength: a JSON string is not allowed here"},
		{"json value error", "parse error: json: cannot unmarshal array into Go value of type a2a.MessageSendParams",
			"parse error: a JSON array is not allowed here"},
		{"a type name", "expected Task or Message, got *a2a.TaskStatusUpdateEvent", "expected Task or Message, got a value"},
		{"a URL is not a type name", "agent at https://a2a.Example.com/x failed", "agent at https://a2a.Example.com/x failed"},
		{"control and bidi characters", "task a\x1b[31mb\u202Ec\x00 not found\nnext", "task a\uFFFD[31mb\uFFFDc\uFFFD not found next"},
		{"invalid UTF-8", "task \xff\xfe not found", "task \uFFFD\uFFFD not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SafeErrorText(tt.in); got != tt.want {
				t.Errorf("SafeErrorText(%.80q) =\n%.200q\nwant\n%.200q", tt.in, got, tt.want)
			}
		})
	}
	// Many short words: the whole is bounded.
	many := strings.Repeat("word ", 1000)
	if got := SafeErrorText(many); utf8.RuneCountInString(got) > MaxErrorRunes+1 || !strings.HasSuffix(got, "…") {
		t.Errorf("SafeErrorText(5000 characters) has %d characters, want at most %d ending in …", utf8.RuneCountInString(got), MaxErrorRunes+1)
	}
}

// TestErrorResponseIsSafe: what ErrorResponse renders (the error answers
// of the gateway's own face and of the relay) is bounded and said in JSON's
// terms, in its message and in every string of its data, in either
// version: a 100 KB task id comes back as 64 characters and "…", a params
// type error names the member rather than Go's types.
func TestErrorResponseIsSafe(t *testing.T) {
	long := strings.Repeat("x", 100<<10)
	typeErr := "json: cannot unmarshal number into Go struct field TaskQueryParams.id of type a2a.TaskID"
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"a 100 KB id in the message", &Error{Code: CodeTaskNotFound, Message: "task not found: " + long}, "task not found: " + strings.Repeat("x", MaxEchoRunes) + "…"},
		{"a 100 KB id in the data", &Error{Code: CodeTaskNotFound, Message: "task not found", Data: map[string]any{"error": "task " + long, "more": []any{long}}}, "task not found"},
		{"a type error", &Error{Code: CodeInvalidParams, Message: typeErr, Data: map[string]any{"error": typeErr}}, "params.id: a JSON number is not allowed here"},
	}
	for _, tt := range tests {
		for _, v := range []Version{V03, V10} {
			t.Run(fmt.Sprintf("%s %s", tt.name, v), func(t *testing.T) {
				b := ErrorResponse(v, 1, tt.err)
				if len(b) > 4<<10 {
					t.Fatalf("answer of %d bytes: echoed whole (%.200s…)", len(b), b)
				}
				var answer struct {
					Error struct {
						Message string          `json:"message"`
						Data    json.RawMessage `json:"data"`
					} `json:"error"`
				}
				if err := json.Unmarshal(b, &answer); err != nil {
					t.Fatalf("answer %s: %v", b, err)
				}
				if answer.Error.Message != tt.want {
					t.Errorf("message %q, want %q", answer.Error.Message, tt.want)
				}
				text := answer.Error.Message + " " + string(answer.Error.Data)
				for _, g := range goisms {
					if strings.Contains(text, g) {
						t.Errorf("error %s carries %q", text, g)
					}
				}
			})
		}
	}
}

func TestPushNotificationURLs(t *testing.T) {
	const meta = "http://169.254.169.254/latest"
	tests := []struct {
		name   string
		method string
		params string
		want   []string
	}{
		{"0.3 set", "tasks/pushNotificationConfig/set", `{"taskId":"t","pushNotificationConfig":{"url":"` + meta + `"}}`, []string{meta}},
		{"0.3 send", "message/send", `{"message":{"parts":[{"kind":"file","file":{"uri":"http://10.0.0.1/f"}}]},"configuration":{"pushNotificationConfig":{"url":"` + meta + `"}}}`, []string{meta}},
		{"0.3 stream", "message/stream", `{"message":{},"configuration":{"pushNotificationConfig":{"url":"` + meta + `","token":"x"}}}`, []string{meta}},
		{"1.0 create, flat", "CreateTaskPushNotificationConfig", `{"taskId":"t","url":"` + meta + `"}`, []string{meta}},
		{"1.0 create, 0.3 shape", "CreateTaskPushNotificationConfig", `{"taskId":"t","pushNotificationConfig":{"url":"` + meta + `"}}`, []string{meta}},
		{"1.0 send", "SendMessage", `{"message":{},"configuration":{"taskPushNotificationConfig":{"url":"` + meta + `"}}}`, []string{meta}},
		{"1.0 send, snake_case", "SendStreamingMessage", `{"message":{},"configuration":{"task_push_notification_config":{"url":"` + meta + `"}}}`, []string{meta}},
		{"1.0 send, 0.3 member name", "SendMessage", `{"message":{},"configuration":{"pushNotificationConfig":{"url":"` + meta + `"}}}`, []string{meta}},
		{"any case", "message/send", `{"message":{},"Configuration":{"PushNotificationConfig":{"URL":"` + meta + `","Url":"https://ok.example/"}}}`, []string{meta, "https://ok.example/"}},
		{"a url that is not a string", "tasks/pushNotificationConfig/set", `{"pushNotificationConfig":{"url":2130706433}}`, []string{"2130706433"}},
		{"no push config", "message/send", `{"message":{"parts":[{"kind":"file","file":{"uri":"http://10.0.0.1/f","url":"http://10.0.0.1/g"}}]}}`, nil},
		{"get has none", "tasks/pushNotificationConfig/get", `{"id":"t","pushNotificationConfigId":"c"}`, nil},
		{"Unicode case folding (encoding/json matches ſ to s)", "message/send", `{"message":{},"configuration":{"puſhNotificationConfig":{"url":"` + meta + `"}}}`, []string{meta}},
	}
	// encoding/json reads "PARAMS" as params, and its last "method" wins.
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tasks/pushNotificationConfig/set","PARAMS":{"taskId":"t","pushNotificationConfig":{"url":"` + meta + `"}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"message/send","Method":"CreateTaskPushNotificationConfig","params":{"url":"` + meta + `"}}`,
	} {
		req, err := DecodeJSON([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if got := PushNotificationURLs(req); fmt.Sprint(got) != fmt.Sprint([]string{meta}) {
			t.Errorf("PushNotificationURLs(%s) = %q, want %q", body, got, meta)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := DecodeJSON([]byte(`{"jsonrpc":"2.0","id":1,"method":"` + tt.method + `","params":` + tt.params + `}`))
			if err != nil {
				t.Fatal(err)
			}
			got := PushNotificationURLs(req)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("PushNotificationURLs = %q, want %q", got, tt.want)
			}
		})
	}
}
