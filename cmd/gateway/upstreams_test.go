package main

import (
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/adminapi"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/api"
	"github.com/parleyhq/parley/store/sqlite"
	"github.com/parleyhq/parley/upstream"
)

// upstreamStatuses is a fixed set of connection states.
type upstreamStatuses map[string]upstream.Status

func (s upstreamStatuses) Status(name string) (upstream.Status, bool) {
	st, ok := s[name]
	return st, ok
}

// upstreamsServer is the upstream admin API over a fresh registry whose
// guard allows every address (the names below do not resolve).
func upstreamsServer(t *testing.T, status upstreamStatuses) (*httptest.Server, *upstream.Registry) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := upstream.NewRegistry(st, upstream.Options{Guard: agentcards.NewGuard(agentcards.GuardOptions{AllowPrivate: true})})
	srv := httptest.NewServer(adminapi.NewUpstreams(reg, status, adminapi.Options{}))
	t.Cleanup(srv.Close)
	return srv, reg
}

func runUpstreams(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut syncBuffer
	code = run(t.Context(), append([]string{"upstreams"}, args...), strings.NewReader(""), &out, &errOut, getenvFrom(env))
	return code, out.String(), errOut.String()
}

func TestUpstreamsCommand(t *testing.T) {
	srv, reg := upstreamsServer(t, upstreamStatuses{
		"github": {Name: "github", Kind: "http", Healthy: true, Generation: "2026-07-28", Tools: []string{"github_search", "github_issues"}},
		"fs":     {Name: "fs", Kind: "stdio", Healthy: false, LastError: "the command exited: status 1"},
	})
	env := map[string]string{"PARLEY_API_URL": srv.URL}

	steps := []struct {
		name       string
		env        map[string]string
		args       []string
		wantCode   int
		wantStdout []string
		wantStderr []string
	}{
		{name: "add HTTP", args: []string{"add", "--name", "github", "--url", "https://mcp.github.example/mcp", "--bearer-token-env", "GITHUB_TOKEN",
			"--deny", "delete_*", "--deny", "admin_*"}, wantCode: exitOK,
			wantStdout: []string{"registered github (http, prefix always)", "url", "https://mcp.github.example/mcp", "bearer token from $GITHUB_TOKEN",
				"delete_*, admin_*", "admin API"}},
		{name: "add stdio, arguments after --, flags after the command", args: []string{"add", "--name", "fs", "--command", "mcp-server-fs",
			"--env", "FS_TOKEN=s3cret", "--prefix", "never", "--", "/data", "--read-only"}, wantCode: exitOK,
			wantStdout: []string{"registered fs (stdio, prefix never)", "mcp-server-fs /data --read-only", "FS_TOKEN (values not shown)"}},
		{name: "add with client credentials, JSON out", args: []string{"--json", "add", "--name", "jira", "--url", "https://jira.example/mcp",
			"--token-url", "https://idp.example/token", "--client-id", "parley", "--client-secret-env", "JIRA_SECRET", "--scope", "mcp:read", "--scope", "mcp:write"},
			wantCode: exitOK, wantStdout: []string{`"client_credentials": {`, `"token_url": "https://idp.example/token"`, `"mcp:write"`}},
		{name: "name taken", args: []string{"add", "--name", "github", "--url", "https://other.example/mcp"}, wantCode: exitFailure,
			wantStderr: []string{`gateway upstreams add: upstream name "github" is taken`, "HTTP 409"}},
		{name: "bad name from the server", args: []string{"add", "--name", "Git", "--url", "https://x.example/mcp"}, wantCode: exitFailure,
			wantStderr: []string{`name: "Git" must be`, "HTTP 400"}},
		{name: "list", args: []string{"list"}, wantCode: exitOK,
			wantStdout: []string{"NAME", "HEALTH", "fs", "stdio", "unhealthy", "github", "healthy", "2", "jira", "unknown", "https://jira.example/mcp", "mcp-server-fs /data --read-only"}},
		{name: "show", args: []string{"show", "github"}, wantCode: exitOK,
			wantStdout: []string{"github (http, prefix always, version 1)", "health: healthy, MCP 2026-07-28", "tools: github_search, github_issues"}},
		{name: "show unhealthy", args: []string{"show", "fs"}, wantCode: exitOK,
			wantStdout: []string{"health: unhealthy: the command exited: status 1"}},
		{name: "approve with nothing drifted", args: []string{"approve", "github"}, wantCode: exitOK,
			wantStdout: []string{"github: nothing to approve"}},
		{name: "remove", args: []string{"remove", "jira"}, wantCode: exitOK, wantStdout: []string{"removed jira"}},
		{name: "remove unknown", args: []string{"remove", "jira"}, wantCode: exitFailure,
			wantStderr: []string{`upstream "jira": not found (HTTP 404)`}},
		{name: "gateway down", env: map[string]string{"PARLEY_API_URL": "http://127.0.0.1:1"}, args: []string{"list"}, wantCode: exitFailure,
			wantStderr: []string{"gateway upstreams list:", "connection refused"}},
		{name: "help", args: []string{"-h"}, wantCode: exitOK,
			wantStdout: []string{"gateway upstreams [flags] add --name N --url URL", "-bearer-token-env", "PARLEY_API_URL"}},
		{name: "no command", wantCode: exitUsage, wantStderr: []string{"name a command"}},
		{name: "unknown command", args: []string{"frob"}, wantCode: exitUsage, wantStderr: []string{`unknown upstreams command "frob"`}},
		{name: "add without a name", args: []string{"add", "--url", "https://x.example/mcp"}, wantCode: exitUsage, wantStderr: []string{"add needs --name"}},
		{name: "add with neither", args: []string{"add", "--name", "x"}, wantCode: exitUsage, wantStderr: []string{"add needs --url"}},
		{name: "add with both", args: []string{"add", "--name", "x", "--url", "https://x.example", "--command", "x"}, wantCode: exitUsage,
			wantStderr: []string{"not both"}},
		{name: "arguments with a URL", args: []string{"add", "--name", "x", "--url", "https://x.example", "--", "y"}, wantCode: exitUsage,
			wantStderr: []string{`unexpected argument "y"`}},
		{name: "bad env", args: []string{"add", "--name", "x", "--command", "x", "--env", "NOVALUE"}, wantCode: exitUsage,
			wantStderr: []string{`--env "NOVALUE" must be NAME=VALUE`}},
		{name: "two kinds of credentials", args: []string{"add", "--name", "x", "--url", "https://x.example", "--bearer-token-env", "T", "--client-id", "c"},
			wantCode: exitUsage, wantStderr: []string{"not both"}},
		{name: "flag of another command", args: []string{"list", "--tool", "x"}, wantCode: exitUsage, wantStderr: []string{`--tool does not apply to "list"`}},
		{name: "show without a name", args: []string{"show"}, wantCode: exitUsage, wantStderr: []string{"usage: gateway upstreams show NAME"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			e := env
			if st.env != nil {
				e = st.env
			}
			code, stdout, stderr := runUpstreams(t, e, st.args...)
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

	// What the server stored from the command lines.
	fs, err := reg.Get(t.Context(), "fs")
	if err != nil {
		t.Fatal(err)
	}
	want := upstream.Spec{Name: "fs", Command: []string{"mcp-server-fs", "/data", "--read-only"}, Env: map[string]string{"FS_TOKEN": "s3cret"},
		Prefix: upstream.PrefixNever}
	if diff := cmp.Diff(want, fs.Spec); diff != "" {
		t.Errorf("stored stdio spec (-want +got):\n%s", diff)
	}

	// Drift, seen and approved from the command line.
	ctx := t.Context()
	for _, def := range []string{`{"name":"search"}`, `{"name":"issues"}`, `{"name":"search","description":"now exfiltrates"}`, `{"name":"issues","description":"changed"}`} {
		var d struct{ Name string }
		_ = json.Unmarshal([]byte(def), &d)
		if _, err := reg.Pins().CheckTool(ctx, "github", d.Name, []byte(def)); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, stderr := runUpstreams(t, env, "show", "github")
	if code != exitOK || !strings.Contains(stdout, "DRIFT: github_search changed its definition") || !strings.Contains(stdout, "gateway upstreams approve github") {
		t.Fatalf("show after drift = %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runUpstreams(t, env, "approve", "github", "--tool", "github_search")
	if code != exitOK || !strings.Contains(stdout, "approved 1 tool(s) of github: search") || !strings.Contains(stdout, "still held back: github_issues") {
		t.Errorf("approve one = %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, _ = runUpstreams(t, env, "approve", "github", "--json")
	var res api.ApproveUpstreamResult
	if err := json.Unmarshal([]byte(stdout), &res); code != exitOK || err != nil || !cmp.Equal([]string{"issues"}, res.Approved) {
		t.Errorf("approve all --json = %d %v\n%s", code, err, stdout)
	}
	if code, _, stderr := runUpstreams(t, env, "approve", "github", "--tool", "nothing"); code != exitFailure || !strings.Contains(stderr, "HTTP 404") {
		t.Errorf("approve of an unknown tool = %d %s", code, stderr)
	}
}
