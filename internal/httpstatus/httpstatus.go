// Package httpstatus records the status a handler answers with, for the
// middleware that reports it (metrics, audit, MCP session bookkeeping).
package httpstatus

import "net/http"

// Recorder passes a response through and notes its status: the first
// WriteHeader's code, or 200 once a body or a flush commits the headers.
// It keeps Flusher visible for streamed answers and lets
// http.ResponseController reach the writer beneath (Unwrap).
type Recorder struct {
	http.ResponseWriter
	// Status is 0 until the headers are committed.
	Status int
}

func (s *Recorder) WriteHeader(code int) {
	if s.Status == 0 {
		s.Status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *Recorder) Write(p []byte) (int, error) {
	if s.Status == 0 {
		s.Status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// Flush flushes the writer beneath, which sends the headers: 200 unless
// the handler chose another.
func (s *Recorder) Flush() {
	if s.Status == 0 {
		s.Status = http.StatusOK
	}
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
		return
	}
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

func (s *Recorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
