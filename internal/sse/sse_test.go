package sse_test

import (
	"bytes"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/parleyhq/parley/internal/sse"
)

// readAll reads every event of stream, handing it to the reader in chunks
// of chunk bytes, and returns them with the error that ended the stream
// (nil for io.EOF).
func readAll(t *testing.T, stream string, chunk int, opts sse.Options) ([]sse.Event, error) {
	t.Helper()
	var src io.Reader = strings.NewReader(stream)
	switch {
	case chunk < 0: // the last bytes come with io.EOF, as from an HTTP body
		src = iotest.DataErrReader(src)
	case chunk > 0:
		src = &chunkReader{s: stream, n: chunk}
	}
	r := sse.NewReader(src, opts)
	var got []sse.Event
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			if errors.Is(err, sse.ErrTruncated) {
				got = append(got, ev)
			}
			return got, err
		}
		got = append(got, ev)
	}
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	s string
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.s == "" {
		return 0, io.EOF
	}
	n := copy(p, c.s[:min(c.n, len(c.s))])
	c.s = c.s[n:]
	return n, nil
}

func data(s string) sse.Event { return sse.Event{Data: []byte(s), HasData: true} }

var eventOpts = cmpopts.EquateEmpty()

func TestReader(t *testing.T) {
	tests := []struct {
		name    string
		stream  string
		opts    sse.Options
		want    []sse.Event
		wantErr error
	}{
		{name: "LF", stream: "data: a\n\n", want: []sse.Event{data("a")}},
		{name: "CRLF", stream: "data: a\r\n\r\n", want: []sse.Event{data("a")}},
		{name: "CR", stream: "data: a\r\rdata: b\r\r", want: []sse.Event{data("a"), data("b")}},
		{name: "mixed endings", stream: "data: a\r\ndata: b\rdata: c\n\r\n", want: []sse.Event{data("a\nb\nc")}},
		{name: "data lines joined with LF", stream: "data: line1\ndata: line2\n\n", want: []sse.Event{data("line1\nline2")}},
		{name: "one space stripped", stream: "data:  two\ndata:none\n\n", want: []sse.Event{data(" two\nnone")}},
		{name: "empty data line", stream: "data\n\ndata:\n\n", want: []sse.Event{data(""), data("")}},
		{name: "all fields", stream: "event: update\nid: 7\nretry: 1500\ndata: {}\n\n",
			want: []sse.Event{{Type: "update", ID: "7", HasID: true, Retry: 1500 * time.Millisecond, HasRetry: true, Data: []byte("{}"), HasData: true}}},
		{name: "last id and type win", stream: "id: 1\nid: 2\nevent: a\nevent: b\ndata: x\n\n",
			want: []sse.Event{{Type: "b", ID: "2", HasID: true, Data: []byte("x"), HasData: true}}},
		{name: "empty id resets", stream: "id\ndata: x\n\n", want: []sse.Event{{HasID: true, Data: []byte("x"), HasData: true}}},
		{name: "id with NUL ignored", stream: "id: a\x00b\ndata: x\n\n", want: []sse.Event{data("x")}},
		{name: "invalid retry ignored", stream: "retry: 1s\nretry: -1\nretry:\ndata: x\n\n", want: []sse.Event{data("x")}},
		{name: "unknown fields ignored", stream: "foo: bar\ndata: x\n\n", want: []sse.Event{data("x")}},
		{name: "comments ignored", stream: ": keep-alive\n\n:x\ndata: a\n\n", want: []sse.Event{data("a")}},
		{name: "comments kept", stream: ": keep-alive\n\n:x\ndata: a\n\n", opts: sse.Options{KeepComments: true},
			want: []sse.Event{{Comments: []string{"keep-alive"}}, {Comments: []string{"x"}, Data: []byte("a"), HasData: true}}},
		{name: "event without data", stream: "event: prime\nid: s_0\n\n", want: []sse.Event{{Type: "prime", ID: "s_0", HasID: true}}},
		{name: "stray blank lines", stream: "\n\n\r\ndata: a\n\n\n", want: []sse.Event{data("a")}},
		{name: "byte order mark", stream: "\xEF\xBB\xBFdata: a\n\n", want: []sse.Event{data("a")}},
		{name: "only one byte order mark", stream: "\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n", want: []sse.Event{data("b")}},
		{name: "colon in value", stream: "data: a:b\n\n", want: []sse.Event{data("a:b")}},
		{name: "truncated", stream: "data: a\n\nid: 2\ndata: b", want: []sse.Event{data("a"), {ID: "2", HasID: true, Data: []byte("b"), HasData: true}}, wantErr: sse.ErrTruncated},
		{name: "truncated after a line", stream: "data: a\n", want: []sse.Event{data("a")}, wantErr: sse.ErrTruncated},
		{name: "too large", stream: "data: 0123456789\n\n", opts: sse.Options{MaxEventBytes: 10}, wantErr: sse.ErrEventTooLarge},
		{name: "too large over lines", stream: "data: 01\ndata: 23\ndata: 45\n\n", opts: sse.Options{MaxEventBytes: 20}, wantErr: sse.ErrEventTooLarge},
		{name: "limit is per event", stream: "data: 01\n\ndata: 23\n\ndata: 45\n\n", opts: sse.Options{MaxEventBytes: 8},
			want: []sse.Event{data("01"), data("23"), data("45")}},
		{name: "events before a too large one", stream: "data: a\n\ndata: 0123456789\n\n", opts: sse.Options{MaxEventBytes: 10},
			want: []sse.Event{data("a")}, wantErr: sse.ErrEventTooLarge},
	}
	for _, tt := range tests {
		for _, chunk := range []int{-1, 0, 1, 2, 3, 7} {
			got, err := readAll(t, tt.stream, chunk, tt.opts)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("%s (chunk %d): error %v, want %v", tt.name, chunk, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got, eventOpts); diff != "" {
				t.Errorf("%s (chunk %d): events (-want +got):\n%s", tt.name, chunk, diff)
			}
		}
	}
}

func TestReaderTooLargeErrorSaysTheLimit(t *testing.T) {
	_, err := readAll(t, "data: "+strings.Repeat("x", 100)+"\n\n", 0, sse.Options{MaxEventBytes: 64})
	if !errors.Is(err, sse.ErrEventTooLarge) || !strings.Contains(err.Error(), "64 bytes") {
		t.Errorf("error %q, want ErrEventTooLarge naming the limit", err)
	}
}

func TestReaderReadError(t *testing.T) {
	r := sse.NewReader(io.MultiReader(strings.NewReader("data: 1\n\ndata: 2"), iotest.ErrReader(io.ErrUnexpectedEOF)), sse.Options{})
	ev, err := r.Next()
	if err != nil || string(ev.Data) != "1" {
		t.Fatalf("first event %q, %v", ev.Data, err)
	}
	if _, err := r.Next(); !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, sse.ErrTruncated) {
		t.Errorf("after a read error: %v, want the read error", err)
	}
}

func TestAppend(t *testing.T) {
	tests := []struct {
		name string
		ev   sse.Event
		want string
	}{
		{name: "data", ev: data("a"), want: "data: a\n\n"},
		{name: "multi-line data", ev: data("a\nb\r\nc\rd"), want: "data: a\ndata: b\ndata: c\ndata: d\n\n"},
		{name: "empty data", ev: data(""), want: "data: \n\n"},
		{name: "all fields", ev: sse.Event{Comments: []string{"hi\nthere"}, Type: "t", ID: "1", HasID: true, Retry: 2 * time.Second, HasRetry: true, Data: []byte("x"), HasData: true},
			want: ": hi\n: there\nevent: t\nid: 1\nretry: 2000\ndata: x\n\n"},
		{name: "empty id", ev: sse.Event{HasID: true}, want: "id: \n\n"},
		{name: "comment only", ev: sse.Event{Comments: []string{"keep-alive"}}, want: ": keep-alive\n\n"},
	}
	for _, tt := range tests {
		got, err := sse.Append(nil, tt.ev)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		if diff := cmp.Diff(tt.want, string(got)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
	for _, ev := range []sse.Event{{Type: "a\nb"}, {ID: "a\rb"}, {ID: "a\x00"}} {
		if _, err := sse.Append(nil, ev); !errors.Is(err, sse.ErrInvalidField) {
			t.Errorf("Append(%+v) = %v, want ErrInvalidField", ev, err)
		}
	}
}

func TestWriterFlushes(t *testing.T) {
	rec := httptest.NewRecorder()
	w := sse.NewWriter(rec)
	if err := w.Write(data("a")); err != nil {
		t.Fatal(err)
	}
	if !rec.Flushed || rec.Body.String() != "data: a\n\n" {
		t.Errorf("flushed %v, body %q", rec.Flushed, rec.Body.String())
	}
}

// FuzzRoundTrip: whatever a stream holds, the reader neither panics nor
// returns an event over the limit, and an event it returns, written and
// read again, reads the same.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{"data: a\n\n", "id: 1\r\nevent: e\r\ndata: x\r\n\r\n", ": c\rdata\r\r", "\xEF\xBB\xBFretry: 10\ndata: a\ndata: b", "data: a\r"} {
		f.Add(s, uint8(3), true)
	}
	f.Fuzz(func(t *testing.T, stream string, chunk uint8, comments bool) {
		opts := sse.Options{MaxEventBytes: 256, KeepComments: comments}
		got, err := readAll(t, stream, int(chunk)+1, opts)
		if err != nil && !errors.Is(err, sse.ErrTruncated) && !errors.Is(err, sse.ErrEventTooLarge) {
			t.Fatalf("unexpected error %v", err)
		}
		var out bytes.Buffer
		for _, ev := range got {
			if len(ev.Data) > opts.MaxEventBytes {
				t.Fatalf("event of %d bytes returned", len(ev.Data))
			}
			b, err := sse.Append(nil, ev)
			if err != nil {
				t.Fatalf("Append(%+v): %v", ev, err)
			}
			out.Write(b)
		}
		again, err := readAll(t, out.String(), 0, sse.Options{MaxEventBytes: 1 << 20, KeepComments: comments})
		if err != nil {
			t.Fatalf("reading the rewritten stream %q: %v", out.String(), err)
		}
		if diff := cmp.Diff(got, again, eventOpts); diff != "" {
			t.Errorf("round trip of %q (-first +second):\n%s", stream, diff)
		}
	})
}
