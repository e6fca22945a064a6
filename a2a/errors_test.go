package a2a_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	a2ago "github.com/a2aproject/a2a-go/a2a"

	"github.com/parleyhq/parley/a2a"
	"github.com/parleyhq/parley/a2a/compat"
	"github.com/parleyhq/parley/mcpbridge"
)

// The gateway's own A2A face answers errors in the caller's terms: a task
// id of 100 KB is echoed as its first 64 characters and "…", never whole,
// in the JSON-RPC error (either version) and in the gRPC status; a params
// type error names the member, not Go's types; a failure of the gateway's
// store says so without the database's words.
func TestOwnFaceErrorsAreBounded(t *testing.T) {
	g := startGateway(t, filepath.Join(t.TempDir(), "parley.db"))
	url := g.http.URL + a2a.JSONRPCPath
	long := strings.Repeat("k", 100<<10)
	echoed := strings.Repeat("k", compat.MaxEchoRunes) + "…"
	v10 := map[string]string{compat.HeaderVersion: "1.0"}
	tests := []struct {
		name   string
		header map[string]string
		method string
		params map[string]any
		code   int
		want   []string
	}{
		{"0.3 get, 100 KB id", nil, "tasks/get", map[string]any{"id": long}, -32001, []string{"task not found", echoed}},
		{"1.0 get, 100 KB id", v10, "GetTask", map[string]any{"id": long}, -32001, []string{"task not found", echoed}},
		{"0.3 cancel, 100 KB id", nil, "tasks/cancel", map[string]any{"id": long}, -32001, []string{"task not found", echoed}},
		{"0.3 resubscribe, 100 KB id", nil, "tasks/resubscribe", map[string]any{"id": long}, -32001, []string{"task not found"}},
		{"0.3 get, id of the wrong type", nil, "tasks/get", map[string]any{"id": 7}, -32700, []string{"params.id: a JSON number is not allowed here"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, answers := rpc(t, url, tt.header, map[string]any{"jsonrpc": "2.0", "id": "e1", "method": tt.method, "params": tt.params})
			if len(answers) == 0 {
				t.Fatal("no answer")
			}
			answer := answers[len(answers)-1]
			raw, _ := json.Marshal(answer["error"])
			if len(raw) > 4<<10 {
				t.Fatalf("error of %d bytes: the id was echoed whole (%.200s…)", len(raw), raw)
			}
			if dig(answer, "error", "code") != float64(tt.code) {
				t.Errorf("error %s, want code %d", raw, tt.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(raw), w) {
					t.Errorf("error %s does not say %q", raw, w)
				}
			}
			for _, leak := range []string{"Go struct", "a2a.TaskID", "json: cannot", strings.Repeat("k", compat.MaxEchoRunes+1)} {
				if strings.Contains(string(raw), leak) {
					t.Errorf("error %.300s carries %.70q", raw, leak)
				}
			}
		})
	}

	t.Run("gRPC get, 100 KB id", func(t *testing.T) {
		c := g.client(t, a2ago.TransportProtocolGRPC, "")
		_, err := c.GetTask(t.Context(), &a2ago.TaskQueryParams{ID: a2ago.TaskID(long)})
		if err == nil {
			t.Fatal("no error")
		}
		if len(err.Error()) > 4<<10 || !strings.Contains(err.Error(), echoed) {
			t.Errorf("gRPC error of %d bytes (%.200s…), want the id cut to %q", len(err.Error()), err, echoed)
		}
	})

	t.Run("store failure", func(t *testing.T) {
		g := startGateway(t, filepath.Join(t.TempDir(), "parley.db"))
		g.st.Close() // every read now fails inside the database driver
		_, answers := rpc(t, g.http.URL+a2a.JSONRPCPath, nil, map[string]any{"jsonrpc": "2.0", "id": "e2", "method": "tasks/get", "params": map[string]any{"id": "t-1"}})
		raw, _ := json.Marshal(answers[0]["error"])
		if dig(answers[0], "error", "code") == nil || !strings.Contains(string(raw), "the gateway") {
			t.Errorf("error %s, want one saying the gateway failed", raw)
		}
		for _, leak := range []string{"sql", "database", "closed", "get a2a task"} {
			if strings.Contains(strings.ToLower(string(raw)), leak) {
				t.Errorf("error %s carries %q", raw, leak)
			}
		}
	})
}

// Parley's own A2A server does not take push-notification configs (it
// sends no push notifications): every way of giving one, for a task of
// the caller's own, is refused with A2A's "push notification not
// supported", in both versions, so no callback URL is ever stored or
// called.
func TestOwnFaceRefusesPushConfigs(t *testing.T) {
	g := startGateway(t, filepath.Join(t.TempDir(), "parley.db"))
	url := g.http.URL + a2a.JSONRPCPath
	task := send(t, g.client(t, a2ago.TransportProtocolJSONRPC, "erin"), toolMessage(mcpbridge.ToolGetStatus, nil))
	const meta = "http://169.254.169.254/latest/meta-data/"
	erin := map[string]string{userHeader: "erin"}
	erin10 := map[string]string{userHeader: "erin", compat.HeaderVersion: "1.0"}
	tests := []struct {
		name   string
		header map[string]string
		method string
		params map[string]any
	}{
		{"0.3 set", erin, "tasks/pushNotificationConfig/set", map[string]any{"taskId": task.ID, "pushNotificationConfig": map[string]any{"url": meta}}},
		{"0.3 send with a push config", erin, "message/send", map[string]any{"message": message03("hi"),
			"configuration": map[string]any{"pushNotificationConfig": map[string]any{"url": meta}}}},
		{"1.0 create", erin10, "CreateTaskPushNotificationConfig", map[string]any{"taskId": task.ID, "url": meta}},
		{"1.0 send with a push config", erin10, "SendMessage", map[string]any{"message": message10("hi"),
			"configuration": map[string]any{"taskPushNotificationConfig": map[string]any{"url": meta}}}},
		{"0.3 list", erin, "tasks/pushNotificationConfig/list", map[string]any{"id": task.ID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, answers := rpc(t, url, tt.header, map[string]any{"jsonrpc": "2.0", "id": "p1", "method": tt.method, "params": tt.params})
			if dig(answers[0], "error", "code") != float64(compat.CodePushNotificationNotSupported) {
				t.Errorf("answer %v, want push notification not supported (%d)", answers[0], compat.CodePushNotificationNotSupported)
			}
		})
	}
}
