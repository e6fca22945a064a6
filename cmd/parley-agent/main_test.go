package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2aclient"
	"github.com/a2aproject/a2a-go/a2aclient/agentcard"

	"github.com/parleyhq/parley/examples/agents"
)

// With PARLEY_AGENT_TEST_MAIN set the test binary is parley-agent itself.
func TestMain(m *testing.M) {
	if os.Getenv("PARLEY_AGENT_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var listening = regexp.MustCompile(`^parley-agent (\S+) listening on (http://127\.0\.0\.1:[1-9][0-9]*/)\n$`)

// readLine waits for the line announcing the agent.
func readLine(t *testing.T, r io.Reader) (name, url string) {
	t.Helper()
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		lines <- line
	}()
	select {
	case line := <-lines:
		m := listening.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("stdout line %q", line)
		}
		return m[1], m[2]
	case <-time.After(10 * time.Second):
		t.Fatal("no listening line")
	}
	return "", ""
}

func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-role", "escalation", "-name", "approver", "-journal", journal, "-base-limit", "100", "-log-level", "warn"}, pw, io.Discard)
		pw.Close()
	}()
	name, url := readLine(t, pr)
	go io.Copy(io.Discard, pr) // nothing more is expected; don't block the agent
	if name != "approver" {
		t.Errorf("name %q", name)
	}
	card, err := agentcard.DefaultResolver.Resolve(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	// A 0.3 client (the legacy a2a-go module) reads the card's 0.3 fields,
	// which name the agent's 0.3 JSON-RPC interface.
	if card.URL != url+agents.JSONRPC03Path || card.Name != "approver" || len(card.Capabilities.Extensions) != 1 || card.Capabilities.Extensions[0].URI != agents.ExtensionURI {
		t.Errorf("card %+v", card)
	}
	client, err := a2aclient.NewFromCard(ctx, card)
	if err != nil {
		t.Fatal(err)
	}
	turn := map[string]any{"type": agents.TurnType, "negotiation_id": "neg-1", "round": 2, "max_rounds": 6,
		"deadline": "2026-11-21T20:00:00Z", "you": "approver", "participants": []any{"billing", "approver"}, "question": "Approve?",
		"subject":       map[string]any{"kind": "ticket", "id": "T-1", "snapshot": map[string]any{"customer": "globex", "refund_amount": 500}},
		"standing":      map[string]any{"by": "billing", "terms": map[string]any{"amount": 500}},
		"history":       []any{map[string]any{"round": 1, "by": "billing", "move": "propose", "terms": map[string]any{"amount": 500}}},
		"allowed_moves": []any{"counter", "accept", "reject"}}
	msg := a2a.NewMessage(a2a.MessageRoleUser, a2a.TextPart{Text: "your move"}, a2a.DataPart{Data: turn})
	msg.ID, msg.ContextID = "neg-1/r2/approver", "neg-1"
	res, err := client.SendMessage(ctx, &a2a.MessageSendParams{Message: msg})
	if err != nil {
		t.Fatal(err)
	}
	reply := res.(*a2a.Message)
	var move map[string]any
	for _, p := range reply.Parts {
		if dp, ok := p.(a2a.DataPart); ok {
			move = dp.Data
		}
	}
	if move["move"] != "counter" || move["terms"].(map[string]any)["amount"] != 100.0 {
		t.Errorf("move %v; want a counter at the -base-limit 100", move)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop")
	}
	doc, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	var entry agents.JournalEntry
	if err := json.Unmarshal(doc, &entry); err != nil || entry.MessageID != "neg-1/r2/approver" || entry.Move != "counter" || strings.Count(string(doc), "\n") != 1 {
		t.Errorf("journal %q (%v)", doc, err)
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{{}, {"-role", "pricing"}, {"-role", "billing", "-accept-ratio", "0"}, {"-role", "billing", "extra"},
		{"-role", "billing", "-log-level", "loud"}, {"-nope"}} {
		err := run(context.Background(), args, io.Discard, io.Discard)
		var usage usageError
		if !errors.As(err, &usage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}

// The binary prints its line, serves, and exits 0 on SIGTERM.
func TestBinarySignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-role", "triage", "-delay", "10ms")
			cmd.Env = append(os.Environ(), "PARLEY_AGENT_TEST_MAIN=1")
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			name, url := readLine(t, stdout)
			if name != "triage" {
				t.Errorf("name %q", name)
			}
			if _, err := agentcard.DefaultResolver.Resolve(context.Background(), url); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			rest, _ := io.ReadAll(stdout)
			if err := cmd.Wait(); err != nil {
				t.Errorf("exit: %v\n%s", err, stderr.String())
			}
			if len(rest) != 0 {
				t.Errorf("more on stdout: %q", rest)
			}
			if !strings.Contains(stderr.String(), "agent stopped") {
				t.Errorf("stderr: %s", stderr.String())
			}
		})
	}
}
