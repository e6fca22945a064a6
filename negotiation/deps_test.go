package negotiation_test

import (
	"errors"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestNoServerStacks: the negotiation engine is a client of A2A agents.
// What it links (its own imports and theirs, tests aside) must not bring
// in an A2A server (a2a-go v2's a2asrv and a2agrpc, the legacy a2a-go
// module, Parley's package a2a and everything under it), go-sdk's MCP
// stack, nor gRPC at all: it reaches agents through a2a-go v2's a2aclient
// with clients the pool (a2a/agentpool, which links the gRPC and 0.3
// transports) hands it through an interface.
func TestNoServerStacks(t *testing.T) {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := exec.LookPath(gobin); err != nil {
		if gobin, err = exec.LookPath("go"); err != nil {
			t.Skip("no go command to list the package's dependencies")
		}
	}
	cmd := exec.CommandContext(t.Context(), gobin, "list", "-deps",
		"-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", ".")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	forbidden := func(path string) bool {
		for _, p := range []string{
			"github.com/a2aproject/a2a-go/v2/a2asrv",
			"github.com/a2aproject/a2a-go/v2/a2agrpc",
			"github.com/a2aproject/a2a-go/v2/a2acompat",
			// The legacy (0.3) module's server and client; its types
			// package stays allowed: agentcards.Card.A2A still gives a
			// 0.3 AgentCard, and it links nothing but uuid.
			"github.com/a2aproject/a2a-go/a2asrv",
			"github.com/a2aproject/a2a-go/a2aclient",
			"github.com/a2aproject/a2a-go/a2agrpc",
			"google.golang.org/grpc",
			"github.com/modelcontextprotocol/go-sdk",
			"github.com/parleyhq/parley/a2a",
			"github.com/parleyhq/parley/auth",
			"github.com/parleyhq/parley/mcpbridge",
		} {
			if path == p || strings.HasPrefix(path, p+"/") {
				return true
			}
		}
		return false
	}
	var bad []string
	seen := 0
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		seen++
		pkg, imports := f[0], f[1:]
		if forbidden(pkg) {
			bad = append(bad, pkg)
		}
		if strings.HasPrefix(pkg, "github.com/parleyhq/parley/") && slices.ContainsFunc(imports, func(i string) bool {
			return i == "google.golang.org/grpc" || strings.HasPrefix(i, "google.golang.org/grpc/")
		}) {
			bad = append(bad, pkg+" (imports gRPC)")
		}
	}
	if seen == 0 || !strings.Contains(string(out), "github.com/parleyhq/parley/negotiation") {
		t.Fatalf("go list listed nothing recognisable:\n%s", out)
	}
	if len(bad) > 0 {
		t.Errorf("negotiation links server stacks:\n%s", strings.Join(bad, "\n"))
	}
}
