package compat

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
)

// NewTransport10 returns an http.RoundTripper for calling an agent that
// speaks only A2A 1.0 with a 0.3 client (a2a-go's a2aclient JSON-RPC
// transport, or a relay forwarding 0.3 requests). It rewrites each 0.3
// JSON-RPC request to 1.0 (RequestTo10) with "A2A-Version: 1.0", and the
// answer back to 0.3: a JSON response as a whole (ResponseTo03), a
// text/event-stream response event by event as it is read (StreamEventTo03).
// Requests that are not 0.3 JSON-RPC POSTs go through untouched. base nil
// means http.DefaultTransport.
func NewTransport10(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport10{base: base}
}

type transport10 struct{ base http.RoundTripper }

// maxResponseBytes bounds a non-streaming response read into memory.
const maxResponseBytes = 64 << 20

func (t *transport10) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || req.Body == nil || req.Body == http.NoBody {
		return t.base.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		return nil, err
	}
	method := peekMethod(body)
	if _, ok := methods03to10[method]; !ok {
		r2 := req.Clone(req.Context())
		setBody(r2, body)
		return t.base.RoundTrip(r2)
	}
	body10, err := RequestTo10(body)
	if err != nil {
		return nil, err
	}
	r2 := req.Clone(req.Context())
	setBody(r2, body10)
	r2.Header.Set(HeaderVersion, string(V10))
	if ext := req.Header.Values(HeaderExtensions03); len(ext) > 0 {
		// A 1.0 agent reads A2A-Extensions; the 0.3 name is not its own.
		if len(req.Header.Values(HeaderExtensions)) == 0 {
			r2.Header[http.CanonicalHeaderKey(HeaderExtensions)] = ext
		}
		r2.Header.Del(HeaderExtensions03)
	}
	resp, err := t.base.RoundTrip(r2)
	if err != nil {
		return nil, err
	}
	if ext := resp.Header.Values(HeaderExtensions); len(ext) > 0 && len(resp.Header.Values(HeaderExtensions03)) == 0 {
		resp.Header[http.CanonicalHeaderKey(HeaderExtensions03)] = ext
	}
	var id any
	if req, ok := mustDecodeObj(body); ok {
		id = req["id"]
	}
	if isEventStream(resp.Header.Get("Content-Type")) {
		r := &sseReader{src: resp.Body}
		r.sse.translate = func(data []byte) []byte {
			out, err := StreamEventTo03(method, data)
			if err != nil {
				return ErrorResponse(V03, id, errorf(CodeInternalError, "translating an event to A2A 0.3: %v", AsError(err).Message))
			}
			return out
		}
		resp.Body = r
		resp.ContentLength = -1
		resp.Header.Del("Content-Length")
		return resp, nil
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	out := raw
	if len(bytes.TrimSpace(raw)) > 0 {
		if tr, err := ResponseTo03(method, raw); err == nil {
			out = tr
		} else if resp.StatusCode == http.StatusOK {
			out = ErrorResponse(V03, id, errorf(CodeInternalError, "translating the response to A2A 0.3: %v", AsError(err).Message))
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	return resp, nil
}

func setBody(r *http.Request, body []byte) {
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
	r.Header.Del("Content-Length")
}

func mustDecodeObj(b []byte) (obj, bool) {
	v, err := decode(b)
	if err != nil {
		return nil, false
	}
	o, ok := v.(obj)
	return o, ok
}

// sseReader translates a text/event-stream body as it is read.
type sseReader struct {
	src  io.ReadCloser
	sse  sseTranslator
	out  bytes.Buffer
	buf  []byte
	done bool
	err  error
}

func (r *sseReader) Read(p []byte) (int, error) {
	for r.out.Len() == 0 && !r.done {
		if r.buf == nil {
			r.buf = make([]byte, 32<<10)
		}
		n, err := r.src.Read(r.buf)
		if n > 0 {
			if ferr := r.sse.feed(r.buf[:n], r.push); ferr != nil {
				r.done, r.err = true, ferr
			}
		}
		switch {
		case err == io.EOF:
			r.done = true
			_ = r.sse.close(r.push)
		case err != nil:
			r.done, r.err = true, err
		}
	}
	if r.out.Len() > 0 {
		return r.out.Read(p)
	}
	if r.err != nil {
		return 0, r.err
	}
	return 0, io.EOF
}

func (r *sseReader) push(event []byte) error {
	r.out.Write(event)
	return nil
}

func (r *sseReader) Close() error { return r.src.Close() }
