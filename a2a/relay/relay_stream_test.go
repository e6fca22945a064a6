package relay_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/a2a/relay"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/agentcards/agentcardstest"
)

// startRawStreamAgent is an A2A 0.3 agent answering every JSON-RPC call
// with stream, as it is: the server-sent events of agents not written with
// a2a-go (other line endings, comments, events split as they like).
func startRawStreamAgent(t *testing.T, name, stream string) *testAgent {
	t.Helper()
	return startAgent03(t, name, func(*testAgent) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, stream)
		})
	})
}

// rawStream POSTs a 0.3 message/stream through the relay and returns the
// answer's body as it came.
func rawStream(t *testing.T, url string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "message/stream", "params": map[string]any{"message": message03("hi")}})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type %q, want a stream", ct)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRelayStreamFraming: the relay reads an agent's stream as the
// standard says (CR, LF and CRLF line endings, data lines joined) and
// passes every event on, keep-alive comments, IDs and event types
// included, in one framing (LF); an event the stream ended in the middle
// of passes on too; an event larger than MaxResponseBytes ends the stream
// with an error naming the agent.
func TestRelayStreamFraming(t *testing.T) {
	working := `{"jsonrpc":"2.0","id":1,"result":{"kind":"status-update","taskId":"t1","contextId":"c1","status":{"state":"working"},"final":false}}`
	done := `{"jsonrpc":"2.0","id":1,"result":{"kind":"status-update","taskId":"t1","contextId":"c1","status":{"state":"completed"},"final":true}}`
	doneHead, doneTail, _ := strings.Cut(done, `"result"`)
	tests := []struct {
		name   string
		stream string
		max    int64
		want   string
	}{
		{
			name: "CR line endings, comments, fields",
			stream: ": keep-alive\r\r" +
				"id: 1\revent: message\rdata: " + working + "\r\r" +
				"data: " + doneHead + "\r\ndata: \"result\"" + doneTail + "\r\n\r\n",
			want: ": keep-alive\n\n" +
				"event: message\nid: 1\ndata: " + working + "\n\n" +
				"data: " + doneHead + "\ndata: \"result\"" + doneTail + "\n\n",
		},
		{
			name:   "truncated last event",
			stream: "data: " + working + "\n\ndata: " + done,
			want:   "data: " + working + "\n\ndata: " + done + "\n\n",
		},
		{
			name:   "event too large",
			stream: "data: " + working + "\n\ndata: " + `{"jsonrpc":"2.0","id":1,"result":{"kind":"message","messageId":"m","role":"agent","parts":[{"kind":"text","text":"` + strings.Repeat("x", 600) + `"}]}}` + "\n\n",
			max:    512,
			want: "data: " + working + "\n\n" +
				`data: {"error":{"code":-32006,"data":{"agent":"streamer","cause":"bad_response","error":"agent \"streamer\" streamed an event larger than 512 bytes"},"message":"agent \"streamer\" streamed an event larger than 512 bytes"},"id":1,"jsonrpc":"2.0"}` + "\n\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newRelayEnvWith(t, func(o *relay.Options) { o.MaxResponseBytes = tt.max }, nil)
			env.register(t, startRawStreamAgent(t, "streamer", tt.stream))
			got := rawStream(t, env.url("streamer"))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("stream (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRelayAnswerWithoutResult: a2a-go 0.3.15 answers a call without a
// result (deleting a push config) with neither result nor error; the
// relay passes it on as result null, in either version.
func TestRelayAnswerWithoutResult(t *testing.T) {
	env := newRelayEnv(t, 0)
	a := &testAgent{name: "pusher"}
	var card []byte
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+agentcards.WellKnownPath, func(w http.ResponseWriter, r *http.Request) { w.Write(card) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID any `json:"id"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": req.ID})
	})
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	card, _ = json.Marshal(agentcardstest.Card03("pusher", a.srv.URL+"/", agentcardstest.Skill("work", "Work")))
	env.register(t, a)
	tests := []struct {
		name   string
		header map[string]string
		method string
		params map[string]any
	}{
		{"0.3", nil, "tasks/pushNotificationConfig/delete", map[string]any{"id": "t1", "pushNotificationConfigId": "c1"}},
		{"1.0", map[string]string{"A2A-Version": "1.0"}, "DeleteTaskPushNotificationConfig", map[string]any{"taskId": "t1", "id": "c1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, answers := rpc(t, env.url("pusher"), tt.header, map[string]any{"jsonrpc": "2.0", "id": 7, "method": tt.method, "params": tt.params})
			want := map[string]any{"jsonrpc": "2.0", "id": float64(7), "result": nil}
			if diff := cmp.Diff(want, answers[0]); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
}
