package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runClient runs `gateway client ARGS...` against url with stdin and
// returns its stdout, stderr and exit status.
func runClient(t *testing.T, url, stdin string, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), binary, append([]string{"client", "--url", url, "--state", filepath.Join(t.TempDir(), "state.json")}, args...)...)
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		status = exitErr.ExitCode()
	default:
		t.Fatalf("gateway client: %v", err)
	}
	return out.String(), errb.String(), status
}

// The host client does one call non-interactively and prints the result as
// JSON; a tool error exits with status 1. Questions are read from stdin.
func TestClientCall(t *testing.T) {
	dir := t.TempDir()
	p := start(t, dir, cleanEnv(), "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0", "--store", "sqlite://"+filepath.Join(dir, "parley.db"), "--mcp-confirm-refund-above", "100")
	url := "http://" + p.addr(t) + "/mcp"

	out, errOut, status := runClient(t, url, "", "call", "save_ticket", `{"ticket_id":"T-7","customer":"acme","refund_amount":150}`)
	if status != 0 {
		t.Fatalf("save_ticket: status %d\nstdout: %s\nstderr: %s", status, out, errOut)
	}
	var saved struct {
		Created bool `json:"created"`
		Ticket  struct {
			ID      string `json:"id"`
			Version int    `json:"version"`
		} `json:"ticket"`
	}
	if err := json.Unmarshal([]byte(out), &saved); err != nil || !saved.Created || saved.Ticket.ID != "T-7" {
		t.Fatalf("stdout is not the save_ticket result as JSON (%v):\n%s", err, out)
	}

	_, errOut, status = runClient(t, url, "", "call", "get_ticket", `{"ticket_id":"T-404"}`)
	if status != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("get_ticket of an unknown ticket: status %d, stderr %q; want 1 and the reason", status, errOut)
	}

	// The refund is above the threshold: the confirmation question is
	// answered from stdin (confirm: no, then decline).
	out, errOut, status = runClient(t, url, "n\ndecline\n", "--protocol-version", "2025-11-25", "call", "save_resolution", `{"ticket_id":"T-7","resolution":"refund 150"}`)
	if status != 0 || !strings.Contains(out, `"saved": false`) {
		t.Errorf("declined save_resolution: status %d\nstdout: %s\nstderr: %s", status, out, errOut)
	}
	out, _, status = runClient(t, url, "", "call", "get_ticket", `{"ticket_id":"T-7"}`)
	if status != 0 || !strings.Contains(out, `"status": "new"`) {
		t.Errorf("after a declined confirmation the ticket changed:\n%s", out)
	}
}
