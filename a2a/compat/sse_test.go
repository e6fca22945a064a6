package compat

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/parleyhq/parley/internal/sse"
)

func translateAll(t testing.TB, in []byte, chunk int, tr func([]byte) []byte) (string, error) {
	t.Helper()
	s := sseTranslator{translate: tr}
	var out bytes.Buffer
	emit := func(ev []byte) error { out.Write(ev); return nil }
	for len(in) > 0 {
		n := min(chunk, len(in))
		if err := s.feed(in[:n], emit); err != nil {
			return out.String(), err
		}
		in = in[n:]
	}
	err := s.close(emit)
	return out.String(), err
}

func TestSSETranslatorFraming(t *testing.T) {
	in := ": keep-alive\r\n\r\n" + // a comment block, CRLF
		"id: 1\ndata: {\"a\":1}\n\n" + // a2a-go's framing
		"event: error\rdata:{\"b\":\r\n\r\n" + // CR alone, no space after the colon
		"data: line1\ndata: line2\nid: 3\n\n" + // multi-line data, id after data
		"\n" + // a stray blank line
		"data: last" // the stream ends mid-event
	want := ": keep-alive\n\n" +
		"id: 1\ndata: <{\"a\":1}>\n\n" +
		"event: error\ndata: <{\"b\":>\n\n" +
		"id: 3\ndata: <line1\ndata: line2>\n\n" + // fields in a fixed order; a stray blank line ends nothing
		"data: <last>\n\n"
	tr := func(d []byte) []byte { return []byte("<" + string(d) + ">") }
	for _, chunk := range []int{1, 2, 3, 7, 1 << 20} {
		got, err := translateAll(t, []byte(in), chunk, tr)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("chunk %d:\n%q\nwant\n%q", chunk, got, want)
		}
	}
}

func TestSSETranslatorLimit(t *testing.T) {
	big := "data: " + strings.Repeat("x", maxSSEEvent+1)
	if _, err := translateAll(t, []byte(big), 1<<16, func(d []byte) []byte { return d }); !errors.Is(err, sse.ErrEventTooLarge) {
		t.Errorf("oversized event: %v", err)
	}
}

func TestSSEReader(t *testing.T) {
	src := "id: x\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"statusUpdate\":{\"taskId\":\"t\",\"contextId\":\"c\",\"status\":{\"state\":\"TASK_STATE_INPUT_REQUIRED\"}}}}\n\n"
	r := &sseReader{src: io.NopCloser(iotest.OneByteReader(strings.NewReader(src)))}
	r.sse.translate = func(d []byte) []byte {
		out, err := StreamEventTo03("SendStreamingMessage", d)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	got, err := io.ReadAll(iotest.HalfReader(r))
	if err != nil {
		t.Fatal(err)
	}
	want := "id: x\n" + `data: {"id":1,"jsonrpc":"2.0","result":{"contextId":"c","final":true,"kind":"status-update","status":{"state":"input-required"},"taskId":"t"}}` + "\n\n"
	if string(got) != want {
		t.Errorf("%q\nwant\n%q", got, want)
	}
	if err := r.Close(); err != nil {
		t.Error(err)
	}
	// a read error is passed on after what was translated so far
	r = &sseReader{src: io.NopCloser(io.MultiReader(strings.NewReader("data: 1\n\n"), iotest.ErrReader(io.ErrUnexpectedEOF)))}
	r.sse.translate = func(d []byte) []byte { return d }
	got, err = io.ReadAll(r)
	if string(got) != "data: 1\n\n" || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("%q %v", got, err)
	}
}
