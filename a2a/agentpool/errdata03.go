package agentpool

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
)

// errorData03 puts the error answers of A2A 0.3 JSON-RPC agents in the
// shape a2a-go's a2av0 client reads. A2A 0.3 lets a JSON-RPC error's data
// be any value, and a2a-go v0.3 agents send an object; the a2av0 client
// (v2.4.0) decodes data only as A2A 1.0's list of typed details, and fails
// the whole answer on anything else ("failed to decode response"), so the
// agent's error (its code: task not found, not cancelable, …, and its
// message) would be lost. An object becomes a list of that one detail (a
// google.protobuf.Struct, as the client reads a detail without @type);
// another value that is not a list becomes {"value": it}. Plain answers
// (JSON, or untyped: a2a-go v0.3 sets no Content-Type) and each event of a
// streamed answer are rewritten as they pass; anything else passes
// untouched.
type errorData03 struct{ base http.RoundTripper }

func (t errorData03) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch mt {
	case "application/json", "text/plain", "":
		// a2a-go v0.3 agents set no Content-Type: Go's server sniffs
		// text/plain.
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		body = fixErrorData(body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	case "text/event-stream":
		resp.Body = &sseErrorData{rd: bufio.NewReader(resp.Body), body: resp.Body}
	}
	return resp, nil
}

// fixErrorData rewrites a JSON-RPC answer's error data as errorData03
// says; any other document comes back as it was.
func fixErrorData(doc []byte) []byte {
	if !bytes.Contains(doc, []byte(`"error"`)) {
		return doc
	}
	var answer map[string]json.RawMessage
	if json.Unmarshal(doc, &answer) != nil {
		return doc
	}
	var e map[string]json.RawMessage
	if json.Unmarshal(answer["error"], &e) != nil || e == nil {
		return doc
	}
	data := bytes.TrimSpace(e["data"])
	switch {
	case len(data) == 0 || data[0] == '[' || bytes.Equal(data, []byte("null")):
		return doc
	case data[0] == '{':
		e["data"] = append(append([]byte{'['}, data...), ']')
	default:
		e["data"] = append(append([]byte(`[{"value":`), data...), '}', ']')
	}
	fixed, err := json.Marshal(e)
	if err != nil {
		return doc
	}
	answer["error"] = fixed
	out, err := json.Marshal(answer)
	if err != nil {
		return doc
	}
	return out
}

// sseErrorData rewrites the data lines of a stream as fixErrorData does,
// line by line, so that each event passes on as soon as it arrives.
type sseErrorData struct {
	rd      *bufio.Reader
	body    io.Closer
	pending []byte
	err     error
}

func (s *sseErrorData) Read(p []byte) (int, error) {
	for len(s.pending) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		line, err := s.rd.ReadBytes('\n')
		s.err = err
		if rest, ok := bytes.CutPrefix(line, []byte("data:")); ok {
			trimmed := bytes.TrimRight(rest, "\r\n")
			eol := rest[len(trimmed):]
			if fixed := fixErrorData(bytes.TrimSpace(trimmed)); !bytes.Equal(fixed, bytes.TrimSpace(trimmed)) {
				line = append(append([]byte("data: "), fixed...), eol...)
			}
		}
		s.pending = line
	}
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	return n, nil
}

func (s *sseErrorData) Close() error { return s.body.Close() }
