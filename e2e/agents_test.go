package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleyhq/parley/agentcards/agentcardstest"
)

// gatewayCmd runs the gateway binary with args and returns stdout, stderr
// and whether it succeeded.
func gatewayCmd(t *testing.T, args ...string) (string, string, bool) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), binary, args...)
	cmd.Env = cleanEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err == nil
}

// `gateway agents` registers, lists and removes agents through the admin
// API of a running gateway; the gateway fetches the card of a real a2a-go
// agent, and refuses loopback URLs unless private URLs are allowed.
func TestAgentsCLI(t *testing.T) {
	peer := agentcardstest.NewPeer(t, "billing", agentcardstest.Skill("refunds", "Refunds", "billing"))
	for _, allow := range []bool{false, true} {
		dir := t.TempDir()
		args := []string{"--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0", "--store", "sqlite://" + filepath.Join(dir, "parley.db")}
		if allow {
			args = append(args, "--allow-private-agent-urls")
		}
		api := "http://" + start(t, dir, cleanEnv(), args...).addr(t)
		out, errOut, ok := gatewayCmd(t, "agents", "--api", api, "register", peer.URL())
		if !allow {
			if ok || !strings.Contains(errOut+out, "loopback") {
				t.Fatalf("registering a loopback agent without --allow-private-agent-urls: ok=%v\n%s%s", ok, out, errOut)
			}
			continue
		}
		if !ok {
			t.Fatalf("agents register: %s%s", out, errOut)
		}
		out, errOut, ok = gatewayCmd(t, "agents", "--api", api, "--json", "list", "--skill", "refunds")
		var listed struct {
			Agents []struct {
				Name string `json:"name"`
			} `json:"agents"`
		}
		if !ok || json.Unmarshal([]byte(out), &listed) != nil || len(listed.Agents) != 1 || listed.Agents[0].Name != "billing" {
			t.Fatalf("agents list --skill refunds: ok=%v\n%s%s", ok, out, errOut)
		}
		// A message relayed to the agent.
		resp, err := http.Post(api+"/a2a/agents/billing/", "application/json", strings.NewReader(
			`{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m1","role":"user","parts":[{"kind":"text","text":"hi"}]}}}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "billing echoes: hi") {
			t.Errorf("relayed message/send = %s", body)
		}
		if out, errOut, ok = gatewayCmd(t, "agents", "--api", api, "remove", "billing"); !ok {
			t.Fatalf("agents remove: %s%s", out, errOut)
		}
		// Registration, the relayed message and the removal are audited.
		out, errOut, _ = gatewayCmd(t, "audit", "list", "--json", "--store", "sqlite://"+filepath.Join(dir, "parley.db"))
		for _, want := range []string{`"agent.register"`, `"a2a.relay"`, `"agent.remove"`} {
			if !strings.Contains(out, want) {
				t.Errorf("audit list lacks %s:\n%s%s", want, out, errOut)
			}
		}
		out, _, _ = gatewayCmd(t, "agents", "--api", api, "--json", "list")
		if strings.Contains(out, `"billing"`) {
			t.Errorf("billing still listed after remove:\n%s", out)
		}
	}
}
