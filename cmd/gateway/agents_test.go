package main

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/adminapi"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/agentcards/agentcardstest"
	"github.com/parleyhq/parley/api"
	"github.com/parleyhq/parley/store/sqlite"
)

// adminServer is the admin API over a fresh registry that allows loopback.
func adminServer(t *testing.T) *httptest.Server {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := agentcards.New(st, agentcards.Options{AllowPrivate: true, FetchTimeout: 5 * time.Second})
	srv := httptest.NewServer(adminapi.New(reg, adminapi.Options{}))
	t.Cleanup(srv.Close)
	return srv
}

func runAgents(t *testing.T, env map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut syncBuffer
	code = run(t.Context(), append([]string{"agents"}, args...), strings.NewReader(stdin), &out, &errOut, getenvFrom(env))
	return code, out.String(), errOut.String()
}

func TestAgentsCommand(t *testing.T) {
	srv := adminServer(t)
	env := map[string]string{"PARLEY_API_URL": srv.URL}
	billing := agentcardstest.NewPeer(t, "Billing", agentcardstest.Skill("refund", "Refund", "billing", "money"))
	support := agentcardstest.NewPeer(t, "Support", agentcardstest.Skill("triage", "Triage"))
	cardFile := filepath.Join(t.TempDir(), "card.json")
	card, _ := json.Marshal(agentcardstest.Card03("Docs", "https://docs.example/a2a", agentcardstest.Skill("search", "Search")))
	if err := os.WriteFile(cardFile, card, 0o600); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name       string
		env        map[string]string
		stdin      string
		args       []string
		wantCode   int
		wantStdout []string
		wantStderr []string
	}{
		{name: "register by URL", args: []string{"register", billing.URL()}, wantCode: exitOK,
			wantStdout: []string{"registered Billing (healthy)", "endpoint", billing.URL() + "/ (JSONRPC, A2A 0.3.0)", "refund (Refund) [billing, money]", "card hash", "sha256:"}},
		{name: "register with a name, flags after", args: []string{"register", support.URL(), "--name", "helpdesk"}, wantCode: exitOK,
			wantStdout: []string{"registered helpdesk"}},
		{name: "register a file", args: []string{"--api", srv.URL, "register", "--file", cardFile}, env: map[string]string{}, wantCode: exitOK,
			wantStdout: []string{"registered Docs (unknown)", "registered by document"}},
		{name: "register from stdin, JSON out", args: []string{"register", "--file", "-", "--name", "docs2", "--json"}, stdin: string(card), wantCode: exitOK,
			wantStdout: []string{`"name": "docs2"`, `"card": {`}},
		{name: "name taken", args: []string{"register", billing.URL()}, wantCode: exitFailure,
			wantStderr: []string{`gateway agents register: agent name "Billing" is taken`, "HTTP 409"}},
		{name: "list", args: []string{"list"}, wantCode: exitOK,
			wantStdout: []string{"NAME", "HEALTH", "Billing", "healthy", "refund", "helpdesk", "Docs", "unknown", "docs2"}},
		{name: "list by skill", args: []string{"list", "--skill", "triage"}, wantCode: exitOK,
			wantStdout: []string{"helpdesk"}},
		{name: "list finds nothing", args: []string{"list", "--tag", "nothing"}, wantCode: exitOK,
			wantStdout: []string{"no agents"}},
		{name: "list JSON", args: []string{"--json", "list", "--q", "refund"}, wantCode: exitOK,
			wantStdout: []string{`"agents": [`, `"name": "Billing"`}},
		{name: "show", args: []string{"show", "billing"}, wantCode: exitOK,
			wantStdout: []string{"Billing (version 1)", "health: healthy, checked"}},
		{name: "refetch unchanged", args: []string{"refetch", "Billing"}, wantCode: exitOK,
			wantStdout: []string{"Billing: card unchanged"}},
		{name: "remove", args: []string{"remove", "docs2"}, wantCode: exitOK,
			wantStdout: []string{"removed docs2"}},
		{name: "remove unknown", args: []string{"remove", "docs2"}, wantCode: exitFailure,
			wantStderr: []string{`agent "docs2": not found (HTTP 404)`}},
		{name: "approve with nothing pending", args: []string{"approve", "Billing"}, wantCode: exitFailure,
			wantStderr: []string{"no card awaiting approval", "HTTP 409"}},
		{name: "gateway down", env: map[string]string{"PARLEY_API_URL": "http://127.0.0.1:1"}, args: []string{"list"}, wantCode: exitFailure,
			wantStderr: []string{"gateway agents list:", "connection refused"}},
		{name: "help", args: []string{"-h"}, wantCode: exitOK,
			wantStdout: []string{"gateway agents [flags] register URL", "-api", "PARLEY_API_URL", "-json"}},
		{name: "no command", args: nil, wantCode: exitUsage, wantStderr: []string{"name a command"}},
		{name: "unknown command", args: []string{"frob"}, wantCode: exitUsage, wantStderr: []string{`unknown agents command "frob"`}},
		{name: "register without URL", args: []string{"register"}, wantCode: exitUsage, wantStderr: []string{"usage: gateway agents register URL"}},
		{name: "URL and file", args: []string{"register", "http://x.example", "--file", cardFile}, wantCode: exitUsage, wantStderr: []string{"not both"}},
		{name: "flag of another command", args: []string{"list", "--name", "x"}, wantCode: exitUsage, wantStderr: []string{`--name does not apply to "list"`}},
		{name: "remove without a name", args: []string{"remove"}, wantCode: exitUsage, wantStderr: []string{"usage: gateway agents remove NAME"}},
		{name: "bad API URL", args: []string{"--api", "127.0.0.1:8080", "list"}, wantCode: exitUsage, wantStderr: []string{"must be an absolute http or https URL"}},
		{name: "unreadable file", args: []string{"register", "--file", "/nonexistent/card.json"}, wantCode: exitFailure, wantStderr: []string{"read card"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			e := env
			if st.env != nil {
				e = st.env
			}
			code, stdout, stderr := runAgents(t, e, st.stdin, st.args...)
			if code != st.wantCode {
				t.Errorf("exit status = %d, want %d\nstdout: %s\nstderr: %s", code, st.wantCode, stdout, stderr)
			}
			for _, want := range st.wantStdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			for _, want := range st.wantStderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
		})
	}

	// Drift, seen and approved from the command line.
	billing.Serve(agentcardstest.Card03("Billing", billing.URL()+"/", agentcardstest.Skill("refund", "Refund"), agentcardstest.Skill("wire", "Wire")))
	code, stdout, stderr := runAgents(t, env, "", "refetch", "Billing")
	if code != exitOK || !strings.Contains(stdout, "Billing: DRIFT: skills: added wire") || !strings.Contains(stdout, "gateway agents approve") {
		t.Fatalf("refetch after drift = %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, _ = runAgents(t, env, "", "list")
	if code != exitOK || !strings.Contains(stdout, "yes") {
		t.Errorf("list does not show the drift:\n%s", stdout)
	}
	code, stdout, _ = runAgents(t, env, "", "show", "Billing", "--json")
	var a api.Agent
	if err := json.Unmarshal([]byte(stdout), &a); code != exitOK || err != nil || a.Pending == nil {
		t.Fatalf("show --json = %d %v\n%s", code, err, stdout)
	}
	if code, _, stderr := runAgents(t, env, "", "approve", "Billing", "--hash", "sha256:00"); code != exitFailure || !strings.Contains(stderr, "has changed") {
		t.Errorf("approve with a stale hash = %d %s", code, stderr)
	}
	code, stdout, stderr = runAgents(t, env, "", "approve", "Billing", "--hash", a.Pending.CardHash)
	if code != exitOK || !strings.Contains(stdout, "approved Billing: card "+a.Pending.CardHash+" adopted") {
		t.Errorf("approve = %d\n%s%s", code, stdout, stderr)
	}
}
