package a2aext_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	a2ago "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2aclient"
	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/a2a/a2aext"
)

// TestWithExtensions: a real a2a-go client built with the Interceptor
// sends the URIs the call's context asks for in X-A2A-Extensions, and
// nothing when it asks for none; a client built without it ignores them.
func TestWithExtensions(t *testing.T) {
	headers := make(chan []string, 1)
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers <- r.Header.Values("X-A2A-Extensions")
		var req struct {
			ID any `json:"id"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": map[string]any{
			"kind": "message", "messageId": "m-2", "role": "agent", "parts": []any{map[string]any{"kind": "text", "text": "ok"}},
		}})
	}))
	t.Cleanup(agent.Close)

	tests := []struct {
		name        string
		interceptor bool
		uris        []string // nil: WithExtensions not called
		want        []string
	}{
		{"none asked", true, nil, nil},
		{"one", true, []string{"https://example.com/ext/negotiation/v1"}, []string{"https://example.com/ext/negotiation/v1"}},
		{"two", true, []string{"urn:a", "urn:b"}, []string{"urn:a, urn:b"}},
		{"client without the interceptor", false, []string{"urn:a"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := []a2aclient.FactoryOption{a2aclient.WithJSONRPCTransport(agent.Client())}
			if tt.interceptor {
				opts = append(opts, a2aclient.WithInterceptors(a2aext.Interceptor{}))
			}
			client, err := a2aclient.NewFromEndpoints(t.Context(),
				[]a2ago.AgentInterface{{URL: agent.URL, Transport: a2ago.TransportProtocolJSONRPC}}, opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = client.Destroy() })
			ctx := context.Context(t.Context())
			if tt.uris != nil {
				ctx = a2aext.WithExtensions(ctx, tt.uris...)
			}
			msg := a2ago.NewMessage(a2ago.MessageRoleUser, a2ago.TextPart{Text: "hi"})
			if _, err := client.SendMessage(ctx, &a2ago.MessageSendParams{Message: msg}); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, <-headers); diff != "" {
				t.Errorf("X-A2A-Extensions (-want +got):\n%s", diff)
			}
		})
	}
}
