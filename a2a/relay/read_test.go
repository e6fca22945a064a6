package relay

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/internal/jsonrpcedge"
)

// TestReadAnswer checks that readAnswer reads what io.ReadAll of a
// LimitReader(max+1) reads, whatever length the agent declares (none, the
// right one, too short, too long) and however the body is cut into reads.
func TestReadAnswer(t *testing.T) {
	const max = 1000
	bodies := map[string]string{
		"empty":         "",
		"small":         `{"jsonrpc":"2.0","id":1,"result":{}}`,
		"at the limit":  strings.Repeat("a", max),
		"over by one":   strings.Repeat("b", max+1),
		"far over":      strings.Repeat("c", 3*max),
		"over 512":      strings.Repeat("d", 700),
		"exactly 512":   strings.Repeat("e", 512),
		"exactly 511":   strings.Repeat("f", 511),
		"just under":    strings.Repeat("g", max-1),
		"just under+1s": strings.Repeat("h", max-1) + " ",
	}
	for name, body := range bodies {
		for _, declared := range []int64{-1, 0, int64(len(body)), int64(len(body)) / 2, int64(len(body)) + 100, max + 5} {
			for _, oneByte := range []bool{false, true} {
				want, wantErr := io.ReadAll(io.LimitReader(strings.NewReader(body), max+1))
				var r io.Reader = strings.NewReader(body)
				if oneByte {
					r = iotest.OneByteReader(r)
				}
				got, err := readAnswer(&http.Response{Body: io.NopCloser(r), ContentLength: declared}, max)
				if (err != nil) != (wantErr != nil) {
					t.Errorf("%s, declared %d, one byte a read %v: error %v, want %v", name, declared, oneByte, err, wantErr)
				}
				if diff := cmp.Diff(string(want), string(got)); diff != "" {
					t.Errorf("%s, declared %d, one byte a read %v: (-want +got)\n%s", name, declared, oneByte, diff)
				}
			}
		}
	}
}

// TestReadAnswerError checks that a failed read is returned with what
// was read before it.
func TestReadAnswerError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(boom))
	got, err := readAnswer(&http.Response{Body: io.NopCloser(r), ContentLength: 100}, 1000)
	if !errors.Is(err, boom) {
		t.Errorf("error %v, want %v", err, boom)
	}
	if diff := cmp.Diff("partial", string(got)); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

// TestReadRequest checks that readRequest takes the bytes the JSON-RPC
// edge read without reading them again, and reads any other body, or one
// over the limit, as before (an over-limit body is a MaxBytesError).
func TestReadRequest(t *testing.T) {
	const req = `{"jsonrpc":"2.0","id":1,"method":"m"}`
	n := int64(len(req))
	tests := []struct {
		name     string
		body     func(string) io.ReadCloser
		limit    int64
		want     string
		tooLarge bool
	}{
		{name: "edge body", body: edgeBody, limit: 1 << 20, want: req},
		{name: "edge body at the limit", body: edgeBody, limit: n, want: req},
		{name: "edge body over the limit", body: edgeBody, limit: n - 1, want: req[:n-1], tooLarge: true},
		{name: "plain body", body: plainBody, limit: 1 << 20, want: req},
		{name: "plain body over the limit", body: plainBody, limit: n - 1, want: req[:n-1], tooLarge: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			r.Body = tt.body(req)
			var edgeBytes []byte
			if b, ok := r.Body.(*jsonrpcedge.Body); ok {
				edgeBytes = b.Unread()
			}
			got, err := readRequest(httptest.NewRecorder(), r, tt.limit)
			if taken := len(got) > 0 && len(edgeBytes) > 0 && &got[0] == &edgeBytes[0]; taken != (edgeBytes != nil && !tt.tooLarge) {
				t.Errorf("took the edge's bytes as they are: %v", taken)
			}
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) != tt.tooLarge || (err != nil && !tt.tooLarge) {
				t.Errorf("error %v, want too large: %v", err, tt.tooLarge)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func plainBody(s string) io.ReadCloser { return io.NopCloser(bytes.NewBufferString(s)) }

// edgeBody is the body the JSON-RPC edge hands on after reading s.
func edgeBody(s string) io.ReadCloser {
	var got io.ReadCloser
	h := jsonrpcedge.Middleware(1<<20, 0, jsonrpcedge.Options{}, nil)(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got = r.Body
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", strings.NewReader(s)))
	if _, ok := got.(*jsonrpcedge.Body); !ok {
		panic("the edge did not hand on a *jsonrpcedge.Body")
	}
	return got
}

// TestReadAnswerPresizeBounded: an agent declaring a long answer and
// sending a short one does not make the relay allocate what it declared.
func TestReadAnswerPresizeBounded(t *testing.T) {
	const max = 64 << 20
	got, err := readAnswer(&http.Response{Body: io.NopCloser(strings.NewReader("{}")), ContentLength: max}, max)
	if err != nil || string(got) != "{}" {
		t.Fatalf("readAnswer = %q, %v", got, err)
	}
	if cap(got) > answerPresize {
		t.Errorf("allocated %d bytes for a 2-byte answer, want at most %d", cap(got), answerPresize)
	}
}
