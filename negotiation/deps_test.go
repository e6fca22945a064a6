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
// in the gateway's A2A server (package a2a and a2a-go's a2asrv, a2agrpc),
// go-sdk's MCP stack, nor a Parley package that serves gRPC (audit's gRPC
// interceptors live in audit/auditgrpc for that reason). gRPC itself is
// still linked, only by a2a-go v0.3.3's client (its gRPC transport).
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
			"github.com/a2aproject/a2a-go/a2asrv",
			"github.com/a2aproject/a2a-go/a2agrpc",
			"github.com/modelcontextprotocol/go-sdk",
			"github.com/parleyhq/parley/a2a",
			"github.com/parleyhq/parley/auth",
			"github.com/parleyhq/parley/mcpbridge",
		} {
			// The package and those under it, except the client-side
			// helpers of parley/a2a that live there.
			if (path == p || strings.HasPrefix(path, p+"/")) &&
				path != "github.com/parleyhq/parley/a2a/a2aext" && path != "github.com/parleyhq/parley/a2a/compat" {
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
