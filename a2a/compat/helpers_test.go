package compat

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// newRequest rebuilds the HTTP request of a recorded exchange.
func newRequest(x exchange) *http.Request {
	path := x.Request.Path
	if path == "" {
		path = "/a2a"
	}
	r := httptest.NewRequest(x.Request.Method, path, bytes.NewReader(x.Request.Body))
	for k, v := range x.Request.Headers {
		r.Header.Set(k, v)
	}
	return r
}

func loadRaw(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "wire", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
