package mcpbridge

import (
	"encoding/json"
	"testing"
)

var isResponseCases = []struct {
	data string
	want bool
}{
	{`{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`, true},
	{`{"jsonrpc":"2.0","id":"a\"b","error":{"code":-32600,"message":"x"}}`, true},
	{` { "jsonrpc" : "2.0" , "id" : 7 , "result" : null } `, true},
	{`{"result":{}}`, true},
	{`{"jsonrpc":"2.0","method":"notifications/progress","params":{}}`, false},
	{`{"jsonrpc":"2.0","id":3,"method":"elicitation/create","params":{}}`, false},
	{`{"jsonrpc":"2.0","id":{"x":1},"result":{}}`, false},
	{`{"jsonrpc":"2.0","id":[1],"result":{}}`, false},
	{`{"jsonrpc":"2.0","id":1}`, false},
	{`{"jsonr\u0070c":"2.0","id":1,"result":{}}`, true}, // an escaped member name: decoded
	{`{"\u0072esult":1}`, true},
	{`{}`, false},
	{`[]`, false},
	{`"result"`, false},
	{``, false},
	{`{"jsonrpc":"2.0","id":1,"result"`, true},
	{`{"jsonrpc":"2.0","id":"unterminated`, false},
}

func TestIsResponse(t *testing.T) {
	for _, tc := range isResponseCases {
		if got := isResponse([]byte(tc.data)); got != tc.want {
			t.Errorf("isResponse(%s) = %v, want %v", tc.data, got, tc.want)
		}
		if json.Valid([]byte(tc.data)) {
			if got := decodeIsResponse([]byte(tc.data)); got != tc.want {
				t.Errorf("decodeIsResponse(%s) = %v, want %v", tc.data, got, tc.want)
			}
		}
	}
}

// FuzzIsResponse: on any JSON text, the scan agrees with the decoder.
func FuzzIsResponse(f *testing.F) {
	for _, tc := range isResponseCases {
		f.Add([]byte(tc.data))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		if got, want := isResponse(data), decodeIsResponse(data); got != want {
			t.Errorf("isResponse(%q) = %v, the decoder says %v", data, got, want)
		}
	})
}
