package jsonrpcedge_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/parleyhq/parley/internal/jsonrpcedge"
)

var (
	mcp = jsonrpcedge.Options{Batch: true, Responses: true}
	a2a = jsonrpcedge.Options{}
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name     string
		opts     jsonrpcedge.Options
		body     string
		wantCode int    // 0: accepted
		wantID   string // the id echoed, "" for null
		wantMsg  string // a substring of the message
	}{
		// Accepted.
		{name: "request with integer id", opts: a2a, body: `{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"id":"t"}}`},
		{name: "request with string id", opts: a2a, body: `{"jsonrpc":"2.0","id":"a-1","method":"m"}`},
		{name: "largest safe id", opts: a2a, body: `{"jsonrpc":"2.0","id":9007199254740991,"method":"m"}`},
		{name: "smallest safe id", opts: a2a, body: `{"jsonrpc":"2.0","id":-9007199254740991,"method":"m"}`},
		{name: "notification", opts: mcp, body: `{"jsonrpc":"2.0","method":"notifications/initialized"}`},
		{name: "params array", opts: a2a, body: `{"jsonrpc":"2.0","id":1,"method":"m","params":[1,2]}`},
		{name: "params null", opts: a2a, body: ` {"jsonrpc":"2.0","id":1,"method":"m","params":null} `},
		{name: "response with result", opts: mcp, body: `{"jsonrpc":"2.0","id":3,"result":{"action":"accept"}}`},
		{name: "response with error", opts: mcp, body: `{"jsonrpc":"2.0","id":"s-3","error":{"code":-1,"message":"no"}}`},
		{name: "batch where allowed", opts: mcp, body: `[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}]`},
		{name: "unknown members pass", opts: a2a, body: `{"jsonrpc":"2.0","id":1,"method":"m","extra":true}`},

		// Text the handlers' decoders would silently replace with U+FFFD.
		{name: "invalid UTF-8", opts: a2a, body: "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"s\":\"a\xffb\"}}",
			wantCode: -32700, wantMsg: "not valid UTF-8 (at byte 53)"},
		{name: "lone high surrogate", opts: mcp, body: `{"jsonrpc":"2.0","id":1,"method":"m","params":{"s":"\ud800x"}}`,
			wantCode: -32700, wantMsg: `\ud800 at byte 52 is half of a UTF-16 surrogate pair`},
		{name: "lone low surrogate", opts: a2a, body: `{"jsonrpc":"2.0","id":1,"method":"m","params":{"s":"\uDC00"}}`,
			wantCode: -32700, wantMsg: "surrogate pair"},
		{name: "high surrogate then a non-surrogate escape", opts: a2a, body: `{"jsonrpc":"2.0","id":1,"method":"m","params":{"s":"\ud83d\u0041"}}`,
			wantCode: -32700, wantMsg: "surrogate pair"},
		{name: "surrogate pair", opts: a2a, body: `{"jsonrpc":"2.0","id":1,"method":"m","params":{"s":"\ud83d\ude00 ok"}}`},
		{name: "escaped backslash before u", opts: a2a, body: `{"jsonrpc":"2.0","id":1,"method":"m","params":{"s":"\\ud800"}}`},
		{name: "replacement character written by the caller", opts: a2a, body: `{"jsonrpc":"2.0","id":1,"method":"m","params":{"s":"\ufffd ï¿½"}}`},

		// Finding 9b: an id and params but no method.
		{name: "no method on MCP", opts: mcp, body: `{"jsonrpc":"2.0","id":7,"params":{}}`,
			wantCode: -32600, wantID: "7", wantMsg: `"method" is missing`},
		{name: "no method on A2A", opts: a2a, body: `{"jsonrpc":"2.0","id":"x","params":{}}`,
			wantCode: -32600, wantID: `"x"`, wantMsg: `"method" is missing`},
		{name: "result on an endpoint without responses", opts: a2a, body: `{"jsonrpc":"2.0","id":1,"result":{}}`,
			wantCode: -32600, wantID: "1", wantMsg: `"method" is missing`},
		{name: "response with params", opts: mcp, body: `{"jsonrpc":"2.0","id":7,"params":{},"result":{}}`,
			wantCode: -32600, wantID: "7", wantMsg: `response carries no "params"`},
		{name: "response with result and error", opts: mcp, body: `{"jsonrpc":"2.0","id":7,"result":{},"error":{}}`,
			wantCode: -32600, wantID: "7", wantMsg: "not both"},
		{name: "response without id", opts: mcp, body: `{"jsonrpc":"2.0","result":{}}`,
			wantCode: -32600, wantMsg: `needs the "id"`},

		// Finding 9c: ids the handlers would not echo exactly.
		{name: "id with a fraction", opts: a2a, body: `{"jsonrpc":"2.0","id":1.5,"method":"m"}`,
			wantCode: -32600, wantMsg: "id 1.5 is not a whole number"},
		{name: "id with a zero fraction", opts: mcp, body: `{"jsonrpc":"2.0","id":10.0,"method":"m"}`,
			wantCode: -32600, wantMsg: "not a whole number"},
		{name: "id with an exponent", opts: mcp, body: `{"jsonrpc":"2.0","id":1e3,"method":"m"}`,
			wantCode: -32600, wantMsg: "not a whole number"},
		{name: "id beyond the exact range", opts: mcp, body: `{"jsonrpc":"2.0","id":9007199254740993,"method":"m"}`,
			wantCode: -32600, wantMsg: "id 9007199254740993 is too large"},
		{name: "id beyond int64", opts: a2a, body: `{"jsonrpc":"2.0","id":92233720368547758070,"method":"m"}`,
			wantCode: -32600, wantMsg: "is too large"},
		{name: "negative id beyond the range", opts: a2a, body: `{"jsonrpc":"2.0","id":-9007199254740992,"method":"m"}`,
			wantCode: -32600, wantMsg: "is too large"},
		{name: "null id", opts: a2a, body: `{"jsonrpc":"2.0","id":null,"method":"m"}`,
			wantCode: -32600, wantMsg: "not null"},
		{name: "object id", opts: a2a, body: `{"jsonrpc":"2.0","id":{"a":1},"method":"m"}`,
			wantCode: -32600, wantMsg: "id must be a string or an integer"},
		{name: "boolean id", opts: a2a, body: `{"jsonrpc":"2.0","id":true,"method":"m"}`,
			wantCode: -32600, wantMsg: "id must be a string or an integer"},

		// The rest of the envelope.
		{name: "member in another case", opts: mcp, body: `{"jsonrpc":"2.0","id":1,"method":"m","ID":1.5}`,
			wantCode: -32600, wantID: "1", wantMsg: `member "ID" is not JSON-RPC`},
		{name: "wrong version", opts: a2a, body: `{"jsonrpc":"1.0","id":1,"method":"m"}`,
			wantCode: -32600, wantID: "1", wantMsg: `"jsonrpc" must be "2.0"`},
		{name: "no version", opts: a2a, body: `{"id":"q","method":"m"}`,
			wantCode: -32600, wantID: `"q"`, wantMsg: `"jsonrpc" must be "2.0"`},
		{name: "method not a string", opts: a2a, body: `{"jsonrpc":"2.0","id":1,"method":5}`,
			wantCode: -32600, wantID: "1", wantMsg: `"method" must be a string`},
		{name: "empty method", opts: a2a, body: `{"jsonrpc":"2.0","id":1,"method":""}`,
			wantCode: -32600, wantID: "1", wantMsg: "non-empty"},
		{name: "request with a result", opts: mcp, body: `{"jsonrpc":"2.0","id":1,"method":"m","result":{}}`,
			wantCode: -32600, wantID: "1", wantMsg: `carries no "result"`},
		{name: "scalar params", opts: a2a, body: `{"jsonrpc":"2.0","id":1,"method":"m","params":"x"}`,
			wantCode: -32600, wantID: "1", wantMsg: `"params" must be an object or an array`},
		{name: "string id echoed verbatim", opts: a2a, body: `{"jsonrpc":"2.0","id":"<a>\u00e9","method":""}`,
			wantCode: -32600, wantID: `"<a>\u00e9"`, wantMsg: "non-empty"},

		// Whole bodies.
		{name: "empty body", opts: a2a, body: "  ", wantCode: -32700, wantMsg: "empty"},
		{name: "not JSON", opts: a2a, body: `{"jsonrpc":`, wantCode: -32700, wantMsg: "not valid JSON"},
		{name: "trailing data", opts: a2a, body: `{"jsonrpc":"2.0","id":1,"method":"m"} x`, wantCode: -32700, wantMsg: "not valid JSON"},
		{name: "not an object", opts: a2a, body: `"hello"`, wantCode: -32600, wantMsg: "must be a JSON object"},
		{name: "garbage scalar", opts: a2a, body: `nope`, wantCode: -32700, wantMsg: "not valid JSON"},
		{name: "batch where not allowed", opts: a2a, body: `[{"jsonrpc":"2.0","id":1,"method":"a"}]`,
			wantCode: -32600, wantMsg: "batch requests are not supported"},
		{name: "empty batch", opts: mcp, body: `[]`, wantCode: -32600, wantMsg: "batch is empty"},
		{name: "batch with a bad id", opts: mcp, body: `[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","id":2.5,"method":"b"}]`,
			wantCode: -32600, wantMsg: "batch element 1: invalid request: id 2.5"},
		{name: "batch with a scalar", opts: mcp, body: `[{"jsonrpc":"2.0","id":1,"method":"a"},3]`,
			wantCode: -32600, wantMsg: "batch element 1: invalid request: a JSON-RPC request must be a JSON object"},
		{name: "broken batch", opts: mcp, body: `[{"jsonrpc":"2.0"`, wantCode: -32700},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := jsonrpcedge.Check([]byte(tt.body), tt.opts)
			if tt.wantCode == 0 {
				if e != nil {
					t.Fatalf("Check refused it: %d %s", e.Code, e.Message)
				}
				return
			}
			if e == nil {
				t.Fatalf("Check accepted it; want code %d", tt.wantCode)
			}
			if e.Code != tt.wantCode {
				t.Errorf("code = %d, want %d (%s)", e.Code, tt.wantCode, e.Message)
			}
			if got := string(e.ID); got != tt.wantID {
				t.Errorf("id = %q, want %q", got, tt.wantID)
			}
			if !strings.Contains(e.Message, tt.wantMsg) {
				t.Errorf("message = %q, want it to contain %q", e.Message, tt.wantMsg)
			}
		})
	}
}

func TestMiddleware(t *testing.T) {
	const limit = 64
	var got []string // bodies the handler received
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("handler reading the replayed body: %v", err)
		}
		if r.ContentLength != int64(len(b)) {
			t.Errorf("ContentLength = %d for a %d-byte body", r.ContentLength, len(b))
		}
		got = append(got, r.Method+" "+string(b))
		w.WriteHeader(http.StatusAccepted)
	})
	edge := jsonrpcedge.Middleware(limit, http.StatusBadRequest, mcp, nil)(handler)

	tests := []struct {
		name       string
		method     string
		body       string
		chunked    bool
		wantStatus int
		wantBody   string // the exact answer, when the edge answers
		wantPassed string // what the handler got, when it ran
	}{
		{name: "valid request passes with its bytes", method: http.MethodPost,
			body: `{"jsonrpc":"2.0", "id":1,"method":"ping"}`, wantStatus: http.StatusAccepted,
			wantPassed: `POST {"jsonrpc":"2.0", "id":1,"method":"ping"}`},
		{name: "GET passes untouched", method: http.MethodGet, wantStatus: http.StatusAccepted, wantPassed: "GET "},
		{name: "no method", method: http.MethodPost, body: `{"jsonrpc":"2.0","id":7,"params":{}}`,
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"jsonrpc":"2.0","id":7,"error":{"code":-32600,"message":"invalid request: \"method\" is missing: a request needs a method, and a response a result or an error"}}` + "\n"},
		{name: "id echoed byte for byte", method: http.MethodPost, body: `{"jsonrpc":"2.0","id":"\u003c&>","method":5}`,
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"jsonrpc":"2.0","id":"\u003c&>","error":{"code":-32600,"message":"invalid request: \"method\" must be a string"}}` + "\n"},
		{name: "declared length over the limit", method: http.MethodPost, body: strings.Repeat(" ", limit+1),
			wantStatus: http.StatusRequestEntityTooLarge,
			wantBody:   `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"request body too large: it exceeds the limit of 64 bytes"}}` + "\n"},
		{name: "chunked over the limit", method: http.MethodPost, body: strings.Repeat(" ", 10*limit), chunked: true,
			wantStatus: http.StatusRequestEntityTooLarge,
			wantBody:   `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"request body too large: it exceeds the limit of 64 bytes"}}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			var body io.Reader = strings.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body)
			}
			req := httptest.NewRequest(tt.method, "/rpc", body)
			if tt.chunked {
				req.ContentLength = -1
			}
			rec := httptest.NewRecorder()
			edge.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if tt.wantBody != "" {
				if got := rec.Body.String(); got != tt.wantBody {
					t.Errorf("answer = %s\nwant     %s", got, tt.wantBody)
				}
				if !json.Valid(rec.Body.Bytes()) {
					t.Errorf("answer is not JSON: %s", rec.Body)
				}
			}
			var want []string
			if tt.wantPassed != "" {
				want = []string{tt.wantPassed}
			}
			if !slices.Equal(got, want) {
				t.Errorf("handler got %q, want %q", got, want)
			}
		})
	}
}

func TestMiddlewareDescribesBodyErrors(t *testing.T) {
	describe := func(err error) (int, string, bool) { return http.StatusTeapot, "described: " + err.Error(), true }
	edge := jsonrpcedge.Middleware(8, 0, a2a, describe)(http.NotFoundHandler())
	rec := httptest.NewRecorder()
	edge.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/rpc", strings.NewReader(strings.Repeat("x", 9))))
	if rec.Code != http.StatusTeapot || !strings.Contains(rec.Body.String(), `"message":"described: http: request body too large"`) {
		t.Errorf("answer = %d %s, want the describer's", rec.Code, rec.Body)
	}

	// A refused envelope with the zero status gets 200, JSON-RPC style.
	rec = httptest.NewRecorder()
	edge.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/rpc", strings.NewReader(`{}`)))
	if rec.Code != http.StatusOK {
		t.Errorf("status = %d, want 200", rec.Code)
	}
}
