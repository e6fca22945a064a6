package relay_test

import (
	"encoding/json"
	"testing"

	"github.com/parleyhq/parley/a2a/relay"
)

// TestRequestTaskID: the task a relayed JSON-RPC request names, in both
// A2A versions, for its audit record.
func TestRequestTaskID(t *testing.T) {
	tests := []struct {
		name string
		req  string
		want string
	}{
		{"0.3 tasks/get", `{"method":"tasks/get","params":{"id":"t1"}}`, "t1"},
		{"0.3 tasks/cancel", `{"method":"tasks/cancel","params":{"id":"t1"}}`, "t1"},
		{"0.3 tasks/resubscribe", `{"method":"tasks/resubscribe","params":{"id":"t1"}}`, "t1"},
		{"0.3 message continuing a task", `{"method":"message/send","params":{"message":{"taskId":"t1","messageId":"m"}}}`, "t1"},
		{"0.3 new message", `{"method":"message/stream","params":{"message":{"messageId":"m"}}}`, ""},
		{"0.3 push set", `{"method":"tasks/pushNotificationConfig/set","params":{"taskId":"t1","pushNotificationConfig":{"id":"c1"}}}`, "t1"},
		{"0.3 push get", `{"method":"tasks/pushNotificationConfig/get","params":{"id":"t1","pushNotificationConfigId":"c1"}}`, "t1"},
		{"1.0 GetTask", `{"method":"GetTask","params":{"id":"t1"}}`, "t1"},
		{"1.0 SubscribeToTask", `{"method":"SubscribeToTask","params":{"id":"t1"}}`, "t1"},
		{"1.0 SendMessage", `{"method":"SendMessage","params":{"message":{"taskId":"t1"}}}`, "t1"},
		{"1.0 push get names the config in id", `{"method":"GetTaskPushNotificationConfig","params":{"taskId":"t1","id":"c1"}}`, "t1"},
		{"no params", `{"method":"tasks/get"}`, ""},
		{"id not a string", `{"method":"tasks/get","params":{"id":7}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req map[string]any
			if err := json.Unmarshal([]byte(tt.req), &req); err != nil {
				t.Fatal(err)
			}
			if got := relay.RequestTaskID(req); got != tt.want {
				t.Errorf("RequestTaskID = %q, want %q", got, tt.want)
			}
		})
	}
}
