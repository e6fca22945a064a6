package app_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/app"
	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/config"
)

// testConfig is the shipped default on a fresh SQLite file, with the
// listeners on free loopback ports.
func testConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.GRPCListen = "127.0.0.1:0"
	cfg.Store = "sqlite://" + filepath.Join(t.TempDir(), "parley.db")
	cfg.Agents.HealthInterval = -1
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestBuildRunClose: the assembly serves MCP and A2A once built, audits a
// tool call, drains on cancel and releases everything on Close.
func TestBuildRunClose(t *testing.T) {
	ctx := t.Context()
	a, err := app.Build(ctx, testConfig(t), app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- a.Run(runCtx) }()

	// Build bound the listener, so a client may connect before Run has
	// been scheduled: the request waits in the backlog.
	resp, err := http.Get(a.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz = %d", resp.StatusCode)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "app-test", Version: "1"}, nil).
		Connect(ctx, &mcp.StreamableClientTransport{Endpoint: a.URL + "/mcp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "save_ticket", Arguments: map[string]any{"ticket_id": "T-1", "customer": "acme"}})
	if err != nil || res.IsError {
		t.Fatalf("save_ticket: %v %+v", err, res)
	}
	cs.Close()
	if a.A2A.GRPCTarget() == "" {
		t.Error("no gRPC target although gRPC is on")
	}

	stop()
	if err := <-ran; err != nil {
		t.Errorf("Run = %v, want nil after a clean drain", err)
	}
	recs, _, err := a.Audit.List(ctx, audit.Filter{Action: audit.ActionMCPToolCall})
	if err != nil || len(recs) == 0 {
		t.Errorf("audit records of the tool call: %d, %v", len(recs), err)
	}
	if res, err := a.Audit.Verify(ctx); err != nil || !res.OK {
		t.Errorf("Verify = %+v, %v", res, err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("a second Close = %v", err)
	}
	// Everything was released: the listeners' ports are free again.
	for _, addr := range []string{a.Addr, a.A2A.GRPCTarget()} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("%s still taken after Close: %v", addr, err)
			continue
		}
		ln.Close()
	}
}

// TestBuildFailsCleanly: a configuration that cannot work fails Build,
// says why, and leaves nothing bound.
func TestBuildFailsCleanly(t *testing.T) {
	t.Run("invalid rule", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Negotiation.Rules = []config.Rule{{Name: "bad", Trigger: config.TriggerTicketSaved, When: `ticket.refund_amount > "200"`,
			Participants: []string{"billing", "escalation"}}}
		_, err := app.Build(t.Context(), cfg, app.Options{})
		if !errors.Is(err, app.ErrInvalidRule) {
			t.Errorf("Build = %v, want ErrInvalidRule", err)
		}
	})
	t.Run("issuer unreachable", func(t *testing.T) {
		// Build fails after it has opened the store and bound the HTTP
		// listener: both must be released.
		httpAddr, closedPort := freeAddr(t), freeAddr(t)
		cfg := testConfig(t)
		cfg.Listen = httpAddr
		cfg.Auth.Issuer = "http://" + closedPort
		cfg.Auth.Audiences = []string{"parley"}
		if _, err := app.Build(t.Context(), cfg, app.Options{}); err == nil {
			t.Fatal("Build succeeded with an issuer that cannot be reached")
		}
		ln, err := net.Listen("tcp", httpAddr)
		if err != nil {
			t.Errorf("HTTP address still held after a failed Build: %v", err)
		} else {
			ln.Close()
		}
	})
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
