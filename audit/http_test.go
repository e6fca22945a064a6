package audit

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/internal/jsonrpcedge"
)

// TestMiddlewarePeeksAtTheEdgesBody: behind the JSON-RPC edge, the
// middleware reads the method from the bytes the edge read and hands the
// handler the edge's body itself, untouched (the relay takes its bytes
// without copying them: jsonrpcedge.Body.Unread); any other body is read
// for its method and handed on whole, as before.
func TestMiddlewarePeeksAtTheEdgesBody(t *testing.T) {
	const body = `{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"id":"t-1"}}`
	tests := []struct {
		name     string
		edge     bool
		wantEdge bool // the handler gets the edge's *jsonrpcedge.Body
	}{
		{name: "behind the edge", edge: true, wantEdge: true},
		{name: "plain body", edge: false, wantEdge: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &memStore{}
			log := New(st, Options{})
			var gotMethod, gotBody string
			var gotEdge bool
			h := Middleware(log, func(_ *http.Request, method string) (Entry, bool) {
				gotMethod = method
				return Entry{Action: "a2a.call", Target: "parley"}, true
			})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, gotEdge = r.Body.(*jsonrpcedge.Body)
				b, err := io.ReadAll(r.Body)
				if err != nil {
					t.Errorf("reading the body: %v", err)
				}
				gotBody = string(b)
			}))
			if tt.edge {
				h = jsonrpcedge.Middleware(1<<20, 0, jsonrpcedge.Options{}, nil)(h)
			}
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/a2a", bytes.NewBufferString(body)))
			if diff := cmp.Diff([]string{"tasks/get", body}, []string{gotMethod, gotBody}); diff != "" {
				t.Errorf("method and body the handler saw (-want +got)\n%s", diff)
			}
			if gotEdge != tt.wantEdge {
				t.Errorf("handler got the edge's body: %v, want %v", gotEdge, tt.wantEdge)
			}
			if len(st.recs) != 1 || !strings.Contains(string(st.recs[0].Detail), `"method":"tasks/get"`) {
				t.Errorf("records %+v, want one naming tasks/get", st.recs)
			}
		})
	}
}
