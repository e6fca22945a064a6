package jsonrpcedge

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The body the edge hands the handler names the method of a single
// request as sent, for labels; nil for a batch or a response.
func TestBodyMethod(t *testing.T) {
	tests := []struct {
		name, body string
		want       string
	}{
		{"request", `{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{}}`, `"tasks/get"`},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, `"notifications/initialized"`},
		{"escapes kept", `{"jsonrpc":"2.0","id":1,"method":"tasks\/get"}`, `"tasks\/get"`},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, ``},
		{"response", `{"jsonrpc":"2.0","id":1,"result":{}}`, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			seen := false
			h := Middleware(1<<20, 400, Options{Batch: true, Responses: true}, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = true
				got = string(r.Body.(*Body).Method())
			}))
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			h.ServeHTTP(httptest.NewRecorder(), req)
			if !seen {
				t.Fatal("the edge refused the message")
			}
			if got != tt.want {
				t.Errorf("Method() = %q, want %q", got, tt.want)
			}
		})
	}
}
