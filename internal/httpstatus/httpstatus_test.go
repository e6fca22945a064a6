package httpstatus_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/parleyhq/parley/internal/httpstatus"
)

func TestRecorder(t *testing.T) {
	tests := []struct {
		name  string
		serve func(w http.ResponseWriter)
		want  int
	}{
		{"nothing written", func(http.ResponseWriter) {}, 0},
		{"status first", func(w http.ResponseWriter) { w.WriteHeader(http.StatusTeapot); w.WriteHeader(http.StatusOK) }, http.StatusTeapot},
		{"body first", func(w http.ResponseWriter) { _, _ = w.Write([]byte("x")); w.WriteHeader(http.StatusNotFound) }, http.StatusOK},
		{"flush first", func(w http.ResponseWriter) { w.(http.Flusher).Flush(); w.WriteHeader(http.StatusNotFound) }, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s := &httpstatus.Recorder{ResponseWriter: rec}
			tt.serve(s)
			if s.Status != tt.want {
				t.Errorf("Status = %d, want %d", s.Status, tt.want)
			}
			if tt.name == "flush first" && !rec.Flushed {
				t.Error("the flush did not reach the writer beneath")
			}
			if http.NewResponseController(s).Flush() != nil {
				t.Error("ResponseController cannot flush through the recorder")
			}
		})
	}
}
