package jsonrpcedge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
)

// Middleware returns the edge in front of a JSON-RPC endpoint: it reads a
// POST's body (bounded by maxBody), checks it with Check, and either
// answers a JSON-RPC error or hands the handler the same bytes. Other
// methods (an SSE GET, a session DELETE) pass untouched.
//
// errorStatus is the HTTP status of the answer to a refused message:
// JSON-RPC over plain HTTP (A2A) answers 200 with the error in the body
// (zero means that); MCP's Streamable HTTP answers 400. A body that cannot be read gets its
// own status (413 over the limit, 408 too slow, 400 otherwise); describe,
// if set, names those statuses and messages (the gateway's own words for
// its body limits), and reports false for errors it does not know.
func Middleware(maxBody int64, errorStatus int, opts Options, describe func(error) (status int, msg string, ok bool)) func(http.Handler) http.Handler {
	if maxBody <= 0 {
		panic("jsonrpcedge: the body limit must be positive")
	}
	if errorStatus == 0 {
		errorStatus = http.StatusOK
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost {
				next.ServeHTTP(w, r)
				return
			}
			body, err := readBody(w, r, maxBody)
			if err != nil {
				status, msg, ok := 0, "", false
				if describe != nil {
					status, msg, ok = describe(err)
				}
				if !ok {
					status, msg = describeBodyError(err)
				}
				write(w, status, &Error{Code: CodeInvalidRequest, Message: msg})
				return
			}
			method, e := check(body, opts)
			if e != nil {
				write(w, errorStatus, e)
				return
			}
			r.Body = &Body{data: body, method: method}
			r.ContentLength = int64(len(body))
			next.ServeHTTP(w, r)
		})
	}
}

// Body is the request body the edge hands the handler: the bytes it read
// and checked. A handler that needs the bytes themselves takes them with
// Unread instead of reading (and copying) them again.
type Body struct {
	data   []byte
	off    int
	method []byte
}

// Method is the method of the single request the body holds, as sent: a
// JSON string with its quotes and any escapes ("\"tasks/get\""), nil for
// a batch or a response. It lets a handler label a request (metrics,
// spans) without decoding the body again: compare it with the quoted
// names it knows rather than decode it. The caller must not modify it.
func (b *Body) Method() []byte { return b.method }

// Read implements io.Reader.
func (b *Body) Read(p []byte) (int, error) {
	if b.off >= len(b.data) {
		return 0, io.EOF
	}
	n := copy(p, b.data[b.off:])
	b.off += n
	return n, nil
}

// WriteTo implements io.WriterTo, so that io.Copy and io.ReadAll into a
// bytes.Buffer take the bytes in one write.
func (b *Body) WriteTo(w io.Writer) (int64, error) {
	if b.off >= len(b.data) {
		return 0, nil
	}
	n, err := w.Write(b.data[b.off:])
	b.off += n
	return int64(n), err
}

// Close implements io.Closer.
func (b *Body) Close() error { return nil }

// Unread returns the bytes not read yet (all of them before the first
// Read), without consuming them. The caller must not modify them.
func (b *Body) Unread() []byte { return b.data[b.off:] }

// readBody reads r's body whole, up to limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		// Refused before reading a byte of it.
		return nil, &http.MaxBytesError{Limit: limit}
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	_ = r.Body.Close()
	return buf.Bytes(), err
}

// describeBodyError says why a body could not be read, without the
// transport's error text (which names addresses).
func describeBodyError(err error) (int, string) {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body too large: it exceeds the limit of %d bytes", tooLarge.Limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return http.StatusRequestTimeout, "the request body did not arrive in time"
	default:
		return http.StatusBadRequest, "the request body could not be read"
	}
}

// write sends e as a JSON-RPC error response. The id goes out as the
// caller sent it, byte for byte (json.Marshal would re-escape it).
func write(w http.ResponseWriter, status int, e *Error) {
	id := e.ID
	if id == nil {
		id = json.RawMessage("null")
	}
	errObj, _ := json.Marshal(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{e.Code, e.Message})
	var body bytes.Buffer
	body.Grow(len(id) + len(errObj) + 40)
	body.WriteString(`{"jsonrpc":"2.0","id":`)
	body.Write(id)
	body.WriteString(`,"error":`)
	body.Write(errObj)
	body.WriteString("}\n")
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusRequestTimeout {
		// The rest of the body is still on its way: the connection
		// cannot carry another request.
		w.Header().Set("Connection", "close")
	}
	w.WriteHeader(status)
	_, _ = w.Write(body.Bytes())
}
