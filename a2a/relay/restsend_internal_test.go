package relay

import (
	"bytes"
	"encoding/json"
	"testing"
)

// answerSeeds are JSON-RPC answers of the shapes the relay writes and
// agents send, and some that are not.
var answerSeeds = []string{
	`{"jsonrpc":"2.0","id":1,"result":{"task":{"id":"t1","status":{"state":"TASK_STATE_COMPLETED"}}}}`,
	`{"id":1,"result":{"message":{"parts":[{"text":"a \"quoted\" } ] text"}]}},"jsonrpc":"2.0"}` + "\n",
	` { "jsonrpc" : "2.0" , "error" : {"code":-32001,"message":"task not found","data":[{"@type":"x"}]} , "id" : null } `,
	`{"result":1,"result":[2,{"a":"]"}]}`,
	`{"result":null}`,
	`{}`,
	`{"res\u0075lt":{}}`,
	`{"a":"\\","result":"\\\"}"}`,
	`[1,2]`,
	`"result"`,
	`{"result":`,
	`{"result":{"a":[}`,
	``,
}

// TestAnswerMembers: answerMembers finds what encoding/json finds as an
// object's "result" and "error" (the last of each), or says it cannot.
func TestAnswerMembers(t *testing.T) {
	for _, s := range answerSeeds {
		checkAnswerMembers(t, []byte(s))
	}
	// An escaped name is read otherwise, not missed.
	if _, _, ok := answerMembers([]byte(`{"res\u0075lt":{}}`)); ok {
		t.Error(`answerMembers of an escaped "result" reported ok`)
	}
}

func FuzzAnswerMembers(f *testing.F) {
	for _, s := range answerSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkAnswerMembers)
}

func checkAnswerMembers(t *testing.T, b []byte) {
	result, errObj, ok := answerMembers(b) // never panics, whatever b is
	var doc map[string]json.RawMessage
	if !json.Valid(b) || json.Unmarshal(b, &doc) != nil || doc == nil {
		return // not an object: the relay never captures one
	}
	if !ok {
		if !bytes.Contains(b, []byte(`\`)) {
			t.Errorf("answerMembers(%q) not ok", b)
		}
		return
	}
	if !bytes.Equal(result, doc["result"]) || !bytes.Equal(errObj, doc["error"]) {
		t.Errorf("answerMembers(%q) = %q, %q; want %q, %q", b, result, errObj, doc["result"], doc["error"])
	}
}

// TestRESTSendable: a message:send goes through the JSON-RPC relay only
// when its message is an object and neither it nor the message has a
// member a lenient decoder could take for another, or named outside
// ASCII.
func TestRESTSendable(t *testing.T) {
	tests := []struct {
		body string
		want bool
	}{
		{`{"message":{"messageId":"m1","parts":[],"taskId":"t1","metadata":{}},"configuration":{}}`, true},
		{`{"message":{"task_id":"t1"},"metadata":{"a":1}}`, true},
		{`{"message":"hi"}`, false},
		{`{"message":null}`, false},
		{`{"Message":{}}`, false},
		{`{"message":{},"MESSAGE":{}}`, false},
		{`{"message":{"taskId":"t1","task_id":"t2"}}`, false},
		{`{"message":{"taskId":"t1","TASKID":"t2"}}`, false},
		{`{"message":{"metadata":{},"meta_data":{}}}`, false},
		{`{"message":{"taſkId":"t1"}}`, false},
		{`{"message":{},"confıguration":{}}`, false},
	}
	for _, tt := range tests {
		var params map[string]any
		if err := json.Unmarshal([]byte(tt.body), &params); err != nil {
			t.Fatal(err)
		}
		if got := restSendable(params); got != tt.want {
			t.Errorf("restSendable(%s) = %v, want %v", tt.body, got, tt.want)
		}
	}
	if restSendable(nil) {
		t.Error("restSendable(nil) = true")
	}
}
