package audit

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestBoundID(t *testing.T) {
	long := strings.Repeat("x", 100<<10)
	tests := []struct {
		name, id string
		kept     bool
	}{
		{"short", "task-1", true},
		{"at the bound", strings.Repeat("a", MaxIDBytes), true},
		{"100 KB", long, false},
		{"100 KB, another end", long[:len(long)-1] + "y", false},
		{"multi-byte at the cut", strings.Repeat("é", MaxIDBytes), false},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := BoundID(tt.id)
			if tt.kept {
				if got != tt.id {
					t.Errorf("BoundID = %q, want the ID kept", got)
				}
				return
			}
			if len(got) > MaxIDBytes || !utf8.ValidString(got) || !strings.Contains(got, "…sha256:") {
				t.Errorf("BoundID = %q (%d bytes), want at most %d bytes ending in a hash", got, len(got), MaxIDBytes)
			}
			if other, dup := seen[got]; dup {
				t.Errorf("%s and %s bound to the same %q", other, tt.name, got)
			}
			seen[got] = tt.name
			if BoundID(tt.id) != got {
				t.Error("BoundID is not stable")
			}
		})
	}
}

// TestMiddlewareReadsTheNote: what the handler notes decides the
// record's task and outcome; a worse outcome is never made better.
func TestMiddlewareReadsTheNote(t *testing.T) {
	long := strings.Repeat("t", 5000)
	tests := []struct {
		name    string
		handler func(w http.ResponseWriter, r *http.Request)
		want    Record // Outcome, TaskID, Detail checked
	}{
		{"nothing noted", func(w http.ResponseWriter, r *http.Request) {},
			Record{Outcome: OK, Detail: json.RawMessage(`{"http_status":"200","method":"tasks/get"}`)}},
		{"task", func(w http.ResponseWriter, r *http.Request) {
			NoteTask(r.Context(), "t-1")
			NoteTask(r.Context(), "t-2")
		},
			Record{Outcome: OK, TaskID: "t-1", Detail: json.RawMessage(`{"http_status":"200","method":"tasks/get"}`)}},
		{"denied in a 200 answer", func(w http.ResponseWriter, r *http.Request) {
			NoteTask(r.Context(), "t-1")
			NoteDenied(r.Context(), "the task belongs to another caller")
			NoteFailed(r.Context(), "task not found") // does not undo the denial
		}, Record{Outcome: Denied, TaskID: "t-1", Detail: json.RawMessage(`{"http_status":"200","method":"tasks/get","reason":"the task belongs to another caller"}`)}},
		{"failed in a 200 answer", func(w http.ResponseWriter, r *http.Request) { NoteFailed(r.Context(), "task not found") },
			Record{Outcome: Error, Detail: json.RawMessage(`{"http_status":"200","method":"tasks/get","reason":"task not found"}`)}},
		{"a 403 stays denied", func(w http.ResponseWriter, r *http.Request) {
			NoteFailed(r.Context(), "internal error")
			w.WriteHeader(http.StatusForbidden)
		}, Record{Outcome: Denied, Detail: json.RawMessage(`{"http_status":"403","method":"tasks/get"}`)}},
		{"long task ID", func(w http.ResponseWriter, r *http.Request) { NoteTask(r.Context(), long) },
			Record{Outcome: OK, TaskID: BoundID(long), Detail: json.RawMessage(`{"http_status":"200","method":"tasks/get"}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &memStore{}
			log := New(st, Options{})
			h := Middleware(log, func(*http.Request, string) (Entry, bool) { return Entry{Action: "a2a.call", Target: "parley"}, true })(http.HandlerFunc(tt.handler))
			r := httptest.NewRequest(http.MethodPost, "/a2a", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tasks/get"}`))
			h.ServeHTTP(httptest.NewRecorder(), r)
			if len(st.recs) != 1 {
				t.Fatalf("%d records", len(st.recs))
			}
			got := st.recs[0]
			if got.Outcome != tt.want.Outcome || got.TaskID != tt.want.TaskID || string(got.Detail) != string(tt.want.Detail) {
				t.Errorf("record: outcome %q, task %q, detail %s\nwant: outcome %q, task %q, detail %s",
					got.Outcome, got.TaskID, got.Detail, tt.want.Outcome, tt.want.TaskID, tt.want.Detail)
			}
		})
	}
	// Outside an audited request, noting does nothing (and does not panic).
	NoteTask(context.Background(), "t")
	NoteDenied(context.Background(), "r")
}
