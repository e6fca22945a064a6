package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// confirmAboveTS is the refund above which save_resolution asks for
// confirmation in TestTSClient; the script creates its tickets above it.
const confirmAboveTS = "200"

// TestTSClient drives the gateway with the reference TypeScript MCP SDK
// (e2e/js/mcp-client.mjs, @modelcontextprotocol/sdk pinned in
// e2e/js/package.json): tools/list, structured output, progress from
// wait_for_ticket while a second client moves the ticket, and elicitation
// answered accept, decline and cancel.
//
// It needs node and e2e/js/node_modules (npm ci in e2e/js). Without them it
// is skipped locally, but fails under CI (CI set), which must run it.
func TestTSClient(t *testing.T) {
	node, script := nodeClient(t)

	dir := t.TempDir()
	p := start(t, dir, cleanEnv(),
		"--listen", "127.0.0.1:0",
		"--grpc-listen", "127.0.0.1:0",
		"--store", "sqlite://"+filepath.Join(dir, "parley.db"),
		"--mcp-confirm-refund-above", confirmAboveTS,
	)
	url := "http://" + p.addr(t) + "/mcp"

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script, url, confirmAboveTS)
	cmd.Dir = filepath.Dir(script)
	cmd.Env = cleanEnv()
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	switch {
	case ctx.Err() != nil:
		t.Fatalf("node %s did not finish within its timeout:\n%s\ngateway log (end):\n%s", filepath.Base(script), out, tail(p.logs.String(), 60))
	case err != nil:
		t.Fatalf("node %s %s: %v\n%s\ngateway log (end):\n%s", filepath.Base(script), url, err, out, tail(p.logs.String(), 60))
	}
	t.Logf("node %s %s:\n%s", filepath.Base(script), url, out)
	if !strings.Contains(string(out), "PASS ") {
		t.Fatalf("the script exited 0 without its PASS line:\n%s", out)
	}
}

// nodeClient finds node and the TypeScript client script with its
// installed packages, or skips the test (fails it under CI).
func nodeClient(t *testing.T) (node, script string) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatalf(format+" (CI is set, so this test must run)", args...)
		}
		t.Skipf(format, args...)
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	jsDir := filepath.Join(root, "e2e", "js")
	node, err = exec.LookPath("node")
	if err != nil {
		missing("node is not installed: %v", err)
	}
	sdk := filepath.Join(jsDir, "node_modules", "@modelcontextprotocol", "sdk", "package.json")
	if _, err := os.Stat(sdk); errors.Is(err, os.ErrNotExist) {
		missing("the npm packages are not installed (cd e2e/js && npm ci): %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
	return node, filepath.Join(jsDir, "mcp-client.mjs")
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.SplitAfter(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"…\n"}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "")
}
