package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// a2aJSSDKs are the JavaScript A2A SDKs TestA2AJSClient drives the gateway
// with: the npm alias each is installed under in e2e/js/package.json, the
// version pinned there, and the A2A version the script is told to speak.
var a2aJSSDKs = []struct {
	alias, version, a2a string
}{
	{"a2a-js-10", "1.3.0", "1.0"},  // A2A 1.0, without legacyCompat
	{"a2a-js-03", "0.3.14", "0.3"}, // A2A 0.3
}

// a2aJSTransports are the transports each SDK is told to prefer: JSON-RPC
// (at /a2a) and HTTP+JSON (REST, at /a2a/rest; 0.3 under /a2a/rest/v1).
var a2aJSTransports = []string{"JSONRPC", "HTTP+JSON"}

// TestA2AJSClient drives the gateway's own A2A endpoint (the shared
// workspace skill) with @a2a-js/sdk 1.3.0, which speaks A2A 1.0 and is used
// without its legacyCompat option, and with @a2a-js/sdk 0.3.14, which speaks
// A2A 0.3 (e2e/js/a2a-client.mjs), each over JSON-RPC and over REST (both
// SDKs have a REST transport): each resolves the card from the base URL,
// saves and reads a ticket with sendMessage, streams a read, gets the first
// task back, sees an unknown tool rejected and an unknown ticket fail, lists
// its tasks (1.0), and is answered UnsupportedOperationError when it
// subscribes to a task that has ended (A2A 1.0 §3.1.6).
//
// It needs node and e2e/js/node_modules (npm ci in e2e/js). Without them it
// is skipped locally, but fails under CI (CI set), which must run it.
func TestA2AJSClient(t *testing.T) {
	node, script := nodeA2AClient(t)

	dir := t.TempDir()
	p := start(t, dir, cleanEnv(),
		"--listen", "127.0.0.1:0",
		"--grpc-listen", "127.0.0.1:0",
		"--store", "sqlite://"+filepath.Join(dir, "parley.db"),
	)
	base := "http://" + p.addr(t)

	for _, sdk := range a2aJSSDKs {
		for _, transport := range a2aJSTransports {
			t.Run("sdk-"+sdk.version+"/"+transport, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, node, script, base, sdk.a2a, transport)
				cmd.Dir = filepath.Dir(script)
				cmd.Env = cleanEnv()
				cmd.WaitDelay = 5 * time.Second
				out, err := cmd.CombinedOutput()
				run := fmt.Sprintf("node %s %s %s %s", filepath.Base(script), base, sdk.a2a, transport)
				switch {
				case ctx.Err() != nil:
					t.Fatalf("%s did not finish within its timeout:\n%s\ngateway log (end):\n%s", run, out, tail(p.logs.String(), 60))
				case err != nil:
					t.Fatalf("%s: %v\n%s\ngateway log (end):\n%s", run, err, out, tail(p.logs.String(), 60))
				}
				t.Logf("%s:\n%s", run, out)
				// The PASS line names the SDK's installed version, so that a lock
				// file drifting from the pinned versions is caught here.
				if want := "PASS "; !strings.Contains(string(out), want) {
					t.Fatalf("the script exited 0 without its PASS line:\n%s", out)
				}
				if want := "@a2a-js/sdk " + sdk.version + " "; !strings.Contains(string(out), want) {
					t.Errorf("the script did not run %q (is e2e/js/node_modules up to date? npm ci):\n%s", want, out)
				}
			})
		}
	}
}

// nodeA2AClient finds node and the A2A client script with both SDKs
// installed, or skips the test (fails it under CI).
func nodeA2AClient(t *testing.T) (node, script string) {
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
	for _, sdk := range a2aJSSDKs {
		pkg := filepath.Join(jsDir, "node_modules", sdk.alias, "package.json")
		if _, err := os.Stat(pkg); errors.Is(err, os.ErrNotExist) {
			missing("the npm packages are not installed (cd e2e/js && npm ci): %v", err)
		} else if err != nil {
			t.Fatal(err)
		}
	}
	return node, filepath.Join(jsDir, "a2a-client.mjs")
}
