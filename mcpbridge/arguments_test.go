package mcpbridge

import (
	"testing"

	"github.com/google/jsonschema-go/jsonschema"
)

func TestPlain(t *testing.T) {
	tests := []struct {
		raw  string
		want bool
	}{
		{`{"ticket_id":"T-1001"}`, true},
		{`{"ticket_id": "T-1", "summary": "refund 1e309 -2"}`, true},
		{`{"a": ["x", {"b": null, "c": true}]}`, true},
		{`{"ticket_id": "T-1", "refund_amount": 1e309}`, false},
		{`{"expected_version": -1}`, false},
		{`{"scores": [1]}`, false},
		{`{"customer": "a\ud800b"}`, false},
		{`{"summary": "say \"3\""}`, false},
		{"{\"summary\": \"a\xff\"}", false},
		{`{"k\u0031": "v"}`, false},
	}
	for _, tt := range tests {
		if got := plain([]byte(tt.raw)); got != tt.want {
			t.Errorf("plain(%s) = %v, want %v", tt.raw, got, tt.want)
		}
	}
}

// FuzzPlain checks that what plain lets through without a walk is
// something the walk would have let through too.
func FuzzPlain(f *testing.F) {
	for _, s := range []string{
		`{"ticket_id":"T-1001"}`,
		`{"ticket_id": "T-1", "refund_amount": 1e309}`,
		`{"ticket_id": "T-1", "expected_version": 9223372036854775808}`,
		`{"customer": "a\ud800b"}`,
		"{\"summary\": \"a\xff\xfeb\"}",
		`{"findings": {"scores": [1, 1e400], "note": "x"}}`,
		`{"a": "\ufffd"}`,
	} {
		f.Add([]byte(s))
	}
	a := &toolArgs{}
	a.add("t", &jsonschema.Schema{Type: "object", Properties: map[string]*jsonschema.Schema{
		"expected_version": {Type: "integer"},
	}})
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !plain(raw) {
			return
		}
		if err := a.checkTokens("t", raw); err != nil {
			t.Errorf("plain(%q), but checkTokens: %v", raw, err)
		}
	})
}
