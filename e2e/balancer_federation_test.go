package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestUpstreamsThroughNginx: an upstream MCP server registered through one
// replica's admin API is served by both (the registry is in the store),
// and a 2025-11-25 session through nginx (round robin, no stickiness)
// calls its tools, its prompt and its resource on whichever replica each
// request lands: each replica leases a session to the upstream from its
// own pool for the call, so nothing of the upstream's is bound to the
// replica that opened the Parley session (docs/design.md, "Sessions on any
// replica", item 6). nginx's access log must show both replicas serving
// the session.
func TestUpstreamsThroughNginx(t *testing.T) {
	nginx := nginxBinary(t)
	web := startHTTPUpstream(t, "web", "127.0.0.1:0")
	for _, tc := range sharedStores {
		t.Run(tc.name, func(t *testing.T) {
			storeURL := tc.store(t)
			var addrs, bases []string
			var gateways []*process
			for range 2 {
				p := start(t, t.TempDir(), cleanEnv("PARLEY_STORE="+storeURL, "PARLEY_MCP_STATE_KEY=shared-secret-for-replicas"),
					"--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0", "--allow-private-agent-urls")
				addr := p.addr(t)
				addrs = append(addrs, addr)
				bases = append(bases, "http://"+addr)
				gateways = append(gateways, p)
			}
			diag := func() string {
				var b strings.Builder
				for i, p := range gateways {
					fmt.Fprintf(&b, "gateway %d, end of log:\n%s\n", i, tail(p.logs.String(), 30))
				}
				return b.String()
			}
			if out, errOut, ok := gatewayCmd(t, "upstreams", "--api", bases[0], "add", "--name", "web", "--url", web.url); !ok {
				t.Fatalf("gateway upstreams add: %s%s\n%s", out, errOut, diag())
			}
			for _, base := range bases {
				waitUpstream(t, base, "", "web", "healthy on every replica", healthy, diag)
			}
			lb := startNginx(t, nginx, addrs)

			cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e-nginx-upstreams", Version: "1"}, nil).Connect(t.Context(),
				&mcp.StreamableClientTransport{Endpoint: "http://" + lb.addr + "/mcp", HTTPClient: &http.Client{}},
				&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
			if err != nil {
				t.Fatalf("connect through nginx: %v\n%s", err, diag())
			}
			defer cs.Close()
			for i := range 6 {
				text := fmt.Sprintf("call %d", i)
				if got, isErr := callUpstreamTool(t, cs, "web_echo", map[string]any{"text": text}); isErr || got != "web: "+text {
					t.Errorf("web_echo %q = %q (tool error %v), want %q\n%s", text, got, isErr, "web: "+text, diag())
				}
			}
			for range 2 {
				p, err := cs.GetPrompt(t.Context(), &mcp.GetPromptParams{Name: "web_greet", Arguments: map[string]string{"who": "Ada"}})
				if err != nil || len(p.Messages) == 0 {
					t.Errorf("prompts/get web_greet: %v %v", p, err)
				}
			}
			var readme string
			for _, uri := range resourceURIs(t, cs) {
				if strings.Contains(uri, "readme") {
					readme = uri
				}
			}
			if readme == "" {
				t.Fatalf("resources/list shows no readme of web\n%s", diag())
			}
			for range 2 {
				if r, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: readme}); err != nil || len(r.Contents) == 0 {
					t.Errorf("resources/read %s: %v %v", readme, r, err)
				}
			}
			lb.assertServedByAll(t, cs.ID(), addrs)
		})
	}
}
