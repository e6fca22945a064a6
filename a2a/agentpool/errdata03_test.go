package agentpool

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The error data of an A2A 0.3 agent's answer (any JSON value) becomes a
// list of details, as a2a-go's a2av0 client reads it, in plain answers and
// in each line of a stream; everything else is left as it is.
func TestErrorData03(t *testing.T) {
	tests := []struct {
		name, contentType, in, want string
	}{
		{"object, untyped answer", "text/plain; charset=utf-8",
			`{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"task not found","data":{"error":"gone"}}}`,
			`{"error":{"code":-32001,"data":[{"error":"gone"}],"message":"task not found"},"id":1,"jsonrpc":"2.0"}`},
		{"string", "application/json",
			`{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"boom","data":"why"}}`,
			`{"error":{"code":-32603,"data":[{"value":"why"}],"message":"boom"},"id":1,"jsonrpc":"2.0"}`},
		{"list already", "application/json",
			`{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"x","data":[{"a":1}]}}`,
			`{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"x","data":[{"a":1}]}}`},
		{"a result", "application/json",
			`{"jsonrpc":"2.0","id":1,"result":{"error":{"data":{}}}}`,
			`{"jsonrpc":"2.0","id":1,"result":{"error":{"data":{}}}}`},
		{"a stream", "text/event-stream",
			"data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"kind\":\"task\"}}\n\n" +
				"data: {\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32001,\"message\":\"m\",\"data\":{\"e\":1}}}\r\n\r\n",
			"data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"kind\":\"task\"}}\n\n" +
				"data: {\"error\":{\"code\":-32001,\"data\":[{\"e\":1}],\"message\":\"m\"},\"id\":1,\"jsonrpc\":\"2.0\"}\r\n\r\n"},
		{"not JSON-RPC", "text/html", `<p>"error"</p>`, `<p>"error"</p>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := errorData03{base: roundTripFunc(func(*http.Request) (*http.Response, error) {
				return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {tt.contentType}},
					Body: io.NopCloser(strings.NewReader(tt.in))}, nil
			})}
			resp, err := rt.RoundTrip(&http.Request{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
