package relay

import (
	"encoding/json"
	"testing"

	"github.com/parleyhq/parley/a2a/compat"
)

// genericTask is what the relay records from an answer it decodes whole.
func genericTask(v compat.Version, raw []byte) (id, contextID, state string, ok bool) {
	parsed, err := compat.DecodeJSON(raw)
	if err != nil {
		return "", "", "", false
	}
	answer, _ := parsed.(map[string]any)
	return taskOf(v, answer["result"])
}

// checkSent fails if sentTask reads raw otherwise than decoding it whole.
func checkSent(t *testing.T, v compat.Version, raw []byte) (read bool) {
	t.Helper()
	id, ctxID, state, ok := sentTask(v, raw)
	if !ok {
		return false
	}
	gid, gctx, gstate, gok := genericTask(v, raw)
	if id == "" {
		if gok {
			t.Errorf("%s %s: sentTask saw no task, the decoded answer has %q", v, raw, gid)
		}
		return true
	}
	if !gok || id != gid || ctxID != gctx || state != gstate {
		t.Errorf("%s %s: sentTask = %q %q %q, decoded = %q %q %q (%v)", v, raw, id, ctxID, state, gid, gctx, gstate, gok)
	}
	return true
}

func TestSentTask(t *testing.T) {
	tests := []struct {
		v    compat.Version
		raw  string
		read bool // sentTask reads it (else the relay decodes it)
	}{
		{compat.V10, `{"jsonrpc":"2.0","id":1,"result":{"task":{"id":"t1","contextId":"c1","status":{"state":"TASK_STATE_COMPLETED"},"history":[{"x":1}]}}}`, true},
		{compat.V10, `{"jsonrpc":"2.0","id":1,"result":{"task":{"id":"t1","context_id":"c1","status":{"state":3}}}}`, true},
		{compat.V10, `{"jsonrpc":"2.0","id":1,"result":{"task":{"id":"t\u00e91","contextId":null,"context_id":"c1","status":{}}}}`, true},
		{compat.V10, `{"jsonrpc":"2.0","id":1,"result":{"message":{"messageId":"m1"}}}`, true},
		{compat.V10, `{"result":{"task":{"id":"t1","status":{"state":"working"}}},"id":1,"jsonrpc":"2.0"}`, true},
		// Left to the decoding path:
		{compat.V10, `{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"no"}}`, false},
		{compat.V10, `{"jsonrpc":"2.0","id":1,"result":{"task":{"id":"t1","id":"t2","status":{}}}}`, false},
		{compat.V10, `{"jsonrpc":"2.0","id":1,"result":{"t\u0061sk":{"id":"t1","status":{}}}}`, false},
		{compat.V10, `{"jsonrpc":"2.0","id":1,"result":{"task":{"id":7,"status":{}}}}`, false},
		{compat.V10, `{"jsonrpc":"2.0","id":1,"result":{"task":null,"message":{}}}`, false},
		{compat.V10, `{"jsonrpc":"2.0","id":1,"result":{"message":{},"statusUpdate":{"taskId":"t1"}}}`, false},
		{compat.V10, `{"jsonrpc":"2.0","id":1,"result":{"task":{"id":"t1","status":"done"}}}`, false},
		{compat.V10, `{"jsonrpc":"2.0","id":1,"result":{"task":{"id":"t1","status":{"state":true}}}}`, false},
		{compat.V03, `{"jsonrpc":"2.0","id":1,"result":{"kind":"task","id":"t1","contextId":"c1","status":{"state":"completed"}}}`, true},
		{compat.V03, `{"jsonrpc":"2.0","id":1,"result":{"kind":"message","messageId":"m1"}}`, true},
		{compat.V03, `{"jsonrpc":"2.0","id":1,"result":{"kind":"status-update","taskId":"t1"}}`, false},
		{compat.V03, `{"jsonrpc":"2.0","id":1,"result":{"id":"t1","status":{}}}`, false},
	}
	for _, tt := range tests {
		if !json.Valid([]byte(tt.raw)) {
			t.Fatalf("not JSON: %s", tt.raw)
		}
		if got := checkSent(t, tt.v, []byte(tt.raw)); got != tt.read {
			t.Errorf("%s %s: read by sentTask %v, want %v", tt.v, tt.raw, got, tt.read)
		}
	}
}

// FuzzSentTask: whatever sentTask reads, it reads as decoding the whole
// answer does.
func FuzzSentTask(f *testing.F) {
	f.Add(true, `{"jsonrpc":"2.0","id":1,"result":{"task":{"id":"t1","contextId":"c1","status":{"state":"TASK_STATE_COMPLETED"}}}}`)
	f.Add(false, `{"jsonrpc":"2.0","id":1,"result":{"kind":"task","id":"t1","contextId":"c1","status":{"state":"completed"}}}`)
	f.Add(true, `{"jsonrpc":"2.0","id":1,"result":{"message":{"messageId":"m1"}}}`)
	f.Fuzz(func(t *testing.T, v10 bool, raw string) {
		if !json.Valid([]byte(raw)) {
			return
		}
		v := compat.V03
		if v10 {
			v = compat.V10
		}
		checkSent(t, v, []byte(raw))
	})
}
