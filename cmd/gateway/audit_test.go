package main

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/api"
	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/store/sqlite"
)

// auditDB makes a SQLite file holding six audit records, seq n at
// 10:0n-1 UTC: odd seqs alice's tool calls on T-1, even seqs bob's
// denials.
func auditDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "parley.db")
	st, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clock := time.Date(2026, 11, 21, 9, 59, 0, 0, time.UTC)
	l := audit.New(st, audit.Options{Now: func() time.Time { clock = clock.Add(time.Minute); return clock }})
	for i := range 6 {
		e := audit.Entry{Action: audit.ActionMCPToolCall, Target: "save_resolution", Principal: audit.Principal{Subject: "alice", Client: "app"},
			Links: audit.Links{TicketID: "T-1", RequestID: "req-1"}}
		if i%2 == 1 {
			e = audit.Entry{Action: audit.ActionPolicyDenial, Target: "approve_refund", Outcome: audit.Denied, Principal: audit.Principal{Subject: "bob"},
				Detail: map[string]string{"rule": "refunds-need-billing"}, Links: audit.Links{Parent: int64(i)}}
		}
		if _, err := l.Append(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// tamper changes the file behind the store's back.
func tamper(t *testing.T, path, query string) {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(t.Context(), query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func runAudit(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut syncBuffer
	code = run(t.Context(), append([]string{"audit"}, args...), strings.NewReader(""), &out, &errOut, getenvFrom(env))
	return code, out.String(), errOut.String()
}

func TestAuditVerifyCommand(t *testing.T) {
	path := auditDB(t)
	storeURL := "sqlite://" + path
	cfgFile := filepath.Join(t.TempDir(), "parley.yaml")
	if err := os.WriteFile(cfgFile, []byte("store: "+storeURL+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Steps run in order on one file: tampering accumulates.
	steps := []struct {
		name       string
		tamper     string
		args       []string
		env        map[string]string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "intact, --store", args: []string{"verify", "--store", storeURL}, wantCode: exitOK,
			wantStdout: "audit chain OK: 6 records\n"},
		{name: "intact, PARLEY_STORE", args: []string{"verify"}, env: map[string]string{"PARLEY_STORE": storeURL}, wantCode: exitOK,
			wantStdout: "audit chain OK: 6 records\n"},
		{name: "intact, --config", args: []string{"verify", "--config", cfgFile}, wantCode: exitOK,
			wantStdout: "audit chain OK: 6 records\n"},
		{name: "a denial rewritten as allowed", tamper: `UPDATE audit_log SET outcome = 'ok' WHERE seq = 4`,
			args: []string{"verify", "--store", storeURL}, wantCode: exitFailure,
			wantStdout: "audit chain BROKEN at record 4: its contents do not match its hash: it was altered"},
		{name: "the altered record removed", tamper: `DELETE FROM audit_log WHERE seq = 4`,
			args: []string{"verify", "--store=" + storeURL}, wantCode: exitFailure,
			wantStdout: "audit chain BROKEN at record 4: record 4 is missing: it was removed (the next record is 5)"},
		{name: "an earlier record altered", tamper: `UPDATE audit_log SET subject = 'carol' WHERE seq = 2`,
			args: []string{"verify", "--config", cfgFile}, wantCode: exitFailure,
			wantStdout: "audit chain BROKEN at record 2: its contents do not match its hash"},
		{name: "no such file", args: []string{"verify", "--store", "sqlite://" + filepath.Join(t.TempDir(), "nothing.db")}, wantCode: exitFailure,
			wantStderr: "gateway audit verify: no SQLite database at"},
		{name: "bad store", args: []string{"verify", "--store", "mysql://x"}, wantCode: exitUsage,
			wantStderr: "store"},
		{name: "list flags do not apply", args: []string{"verify", "--ticket", "T-1", "--store", storeURL}, wantCode: exitUsage,
			wantStderr: "--ticket does not apply to verify"},
		{name: "unknown flag", args: []string{"verify", "--frob"}, wantCode: exitUsage,
			wantStderr: "frob"},
		{name: "no command", args: nil, wantCode: exitUsage,
			wantStderr: "name a command: verify or list"},
		{name: "unknown command", args: []string{"repair"}, wantCode: exitUsage,
			wantStderr: `unknown audit command "repair"`},
		{name: "help", args: []string{"-h"}, wantCode: exitOK,
			wantStdout: "gateway audit verify"},
		{name: "help of a command", args: []string{"verify", "-h"}, wantCode: exitOK,
			wantStdout: "--store sqlite://PATH"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.tamper != "" {
				tamper(t, path, s.tamper)
			}
			code, stdout, stderr := runAudit(t, s.env, s.args...)
			if code != s.wantCode || !strings.Contains(stdout, s.wantStdout) || !strings.Contains(stderr, s.wantStderr) {
				t.Errorf("gateway audit %v = %d\nstdout: %s\nstderr: %s\nwant %d, stdout with %q, stderr with %q",
					s.args, code, stdout, stderr, s.wantCode, s.wantStdout, s.wantStderr)
			}
		})
	}
}

func TestAuditListCommand(t *testing.T) {
	path := auditDB(t)
	storeURL := "sqlite://" + path
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout []string
		notStdout  []string
		wantStderr string
	}{
		{name: "all", args: []string{"list", "--store", storeURL}, wantCode: exitOK,
			wantStdout: []string{"SEQ", "PRINCIPAL", "1 ", "2026-11-21 10:00:00.000", "alice (app)", "mcp.tool_call", "save_resolution", "T-1", "request=req-1",
				"bob", "policy.denial", "denied", "parent=1", `{"rule":"refunds-need-billing"}`, "6 "}},
		{name: "by principal, flags before the store", args: []string{"list", "--principal", "bob", "--store", storeURL}, wantCode: exitOK,
			wantStdout: []string{"bob", "parent=5"}, notStdout: []string{"alice"}},
		{name: "by ticket and time", args: []string{"list", "--store", storeURL, "--ticket", "T-1", "--since", "2026-11-21T10:01:00Z", "--until=2026-11-21T10:04:00Z"}, wantCode: exitOK,
			wantStdout: []string{"\n3 ", "10:02:00"}, notStdout: []string{"\n1 ", "\n5 ", "bob"}},
		{name: "by action prefix", args: []string{"list", "--store", storeURL, "--action", "policy.*", "--outcome", "denied"}, wantCode: exitOK,
			wantStdout: []string{"\n2 ", "\n4 ", "\n6 "}, notStdout: []string{"alice"}},
		{name: "nothing", args: []string{"list", "--store", storeURL, "--ticket", "T-404"}, wantCode: exitOK,
			wantStdout: []string{"no audit records"}},
		{name: "limited", args: []string{"list", "--store", storeURL, "--limit", "2"}, wantCode: exitOK,
			wantStdout: []string{"\n1 ", "\n2 "}, notStdout: []string{"\n3 "}, wantStderr: "more records follow: continue with --after 2"},
		{name: "next page", args: []string{"list", "--store", storeURL, "--limit", "2", "--after", "2"}, wantCode: exitOK,
			wantStdout: []string{"\n3 ", "\n4 "}, notStdout: []string{"\n2 ", "\n5 "}, wantStderr: "--after 4"},
		{name: "newest first", args: []string{"list", "--store", storeURL, "--newest", "--limit", "1"}, wantCode: exitOK,
			wantStdout: []string{"\n6 "}, notStdout: []string{"\n5 "}},
		{name: "bad time", args: []string{"list", "--store", storeURL, "--since", "last week"}, wantCode: exitUsage,
			wantStderr: `--since: "last week" is neither an RFC 3339 time`},
		{name: "a duration ago", args: []string{"list", "--store", storeURL, "--since", "876000h"}, wantCode: exitOK,
			wantStdout: []string{"\n1 ", "\n6 "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runAudit(t, nil, tt.args...)
			ok := code == tt.wantCode && strings.Contains(stderr, tt.wantStderr)
			for _, w := range tt.wantStdout {
				ok = ok && strings.Contains(stdout, w)
			}
			for _, w := range tt.notStdout {
				ok = ok && !strings.Contains(stdout, w)
			}
			if !ok {
				t.Errorf("gateway audit %v = %d\nstdout: %s\nstderr: %s\nwant %d, stdout with %q and without %q, stderr with %q",
					tt.args, code, stdout, stderr, tt.wantCode, tt.wantStdout, tt.notStdout, tt.wantStderr)
			}
		})
	}

	// JSON is the admin API's shape.
	code, stdout, stderr := runAudit(t, nil, "list", "--store", storeURL, "--json", "--limit", "3", "--principal", "alice")
	var l api.AuditList
	if err := json.Unmarshal([]byte(stdout), &l); err != nil || code != exitOK {
		t.Fatalf("list --json = %d %v\n%s%s", code, err, stdout, stderr)
	}
	if len(l.Records) != 3 || l.Records[1].Seq != 3 || l.Records[1].Subject != "alice" || l.Records[1].Client != "app" ||
		len(l.Records[1].Hash) != 64 || l.Next != "" {
		t.Errorf("list --json = %+v", l)
	}
}
