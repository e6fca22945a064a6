package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is an io.Writer safe for a running command and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func getenvFrom(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestRunCommands(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantCode   int
		wantStdout []string
		wantStderr []string
	}{
		{name: "version", args: []string{"version"}, wantCode: exitOK,
			wantStdout: []string{"parley dev go1."}},
		{name: "version takes no arguments", args: []string{"version", "x"}, wantCode: exitUsage,
			wantStderr: []string{"usage: gateway version"}},
		{name: "help", args: []string{"help"}, wantCode: exitOK,
			wantStdout: []string{"Usage: gateway", "serve", "version"}},
		{name: "unknown command", args: []string{"frobnicate"}, wantCode: exitUsage,
			wantStderr: []string{`unknown command "frobnicate"`, "Usage: gateway", "serve"}},
		{name: "serve flags help", args: []string{"serve", "-h"}, wantCode: exitOK,
			wantStdout: []string{"-listen", "PARLEY_LISTEN", "-store"}},
		{name: "flags alone mean serve", args: []string{"--help"}, wantCode: exitOK,
			wantStdout: []string{"-listen"}},
		{name: "invalid store", env: map[string]string{"PARLEY_STORE": "mysql://x"}, wantCode: exitUsage,
			wantStderr: []string{`invalid config: store "mysql://x" (from PARLEY_STORE)`}},
		{name: "unknown flag", args: []string{"--lisen", ":1"}, wantCode: exitUsage,
			wantStderr: []string{"invalid config", "lisen"}},
		{name: "missing config file", args: []string{"serve", "--config", "/nonexistent/parley.yaml"}, wantCode: exitUsage,
			wantStderr: []string{`config "/nonexistent/parley.yaml" (from --config): no such file`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr syncBuffer
			code := run(t.Context(), tt.args, strings.NewReader(""), &stdout, &stderr, getenvFrom(tt.env))
			if code != tt.wantCode {
				t.Errorf("exit status = %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, &stdout, &stderr)
			}
			for _, want := range tt.wantStdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, &stdout)
				}
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, &stderr)
				}
			}
		})
	}
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// waitFor polls the log until re matches, run returns, or the deadline
// passes; the log is written by another goroutine with no other signal.
func waitFor(t *testing.T, logs *syncBuffer, re *regexp.Regexp, exited <-chan int) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			return m[len(m)-1]
		}
		select {
		case code := <-exited:
			t.Fatalf("exited with %d before %s:\n%s", code, re, logs)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("log never matched %s:\n%s", re, logs)
	return ""
}

func TestServeLifecycle(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "parley.db")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	var stdout, stderr syncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0", "--store", "sqlite://" + dbPath},
			strings.NewReader(""), &stdout, &stderr, getenvFrom(nil))
	}()
	addr := waitFor(t, &stderr, listeningRE, exited)

	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /readyz = %d %s", resp.StatusCode, body)
	}
	if _, err := os.Stat(dbPath); err != nil {
		t.Errorf("store file: %v", err)
	}

	cancel() // what SIGTERM does through signal.NotifyContext
	select {
	case code := <-exited:
		if code != exitOK {
			t.Errorf("exit status = %d, want 0\n%s", code, &stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not stop:\n%s", &stderr)
	}
	if !strings.Contains(stderr.String(), `msg="shut down"`) {
		t.Errorf("log does not say it shut down:\n%s", &stderr)
	}
}

func TestServeStartupFailures(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"store cannot be opened",
			[]string{"--listen", "127.0.0.1:0", "--store", "sqlite://" + filepath.Join(t.TempDir(), "no", "such", "dir", "p.db")},
			"cannot open the store"},
		{"address in use",
			[]string{"--listen", taken.Addr().String(), "--store", "sqlite://" + filepath.Join(t.TempDir(), "p.db")},
			"listen on " + taken.Addr().String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr syncBuffer
			code := run(t.Context(), tt.args, strings.NewReader(""), &stdout, &stderr, getenvFrom(nil))
			if code != exitFailure {
				t.Errorf("exit status = %d, want %d", code, exitFailure)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, &stderr)
			}
		})
	}
}

// TestInvalidRuleStopsStartup: a rule that does not compile stops start-up
// with the usage status, naming the rule and what is wrong.
func TestInvalidRuleStopsStartup(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "parley.yaml")
	if err := os.WriteFile(cfg, []byte(`
negotiation:
  rules:
    - name: refund-over-limit
      when: ticket.refund_amout > 200.0
      participants: [billing, escalation]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr syncBuffer
	code := run(t.Context(), []string{"serve", "--config", cfg, "--store", "sqlite://" + filepath.Join(dir, "p.db")},
		strings.NewReader(""), &stdout, &stderr, getenvFrom(nil))
	if code != exitUsage {
		t.Errorf("exit status = %d, want %d", code, exitUsage)
	}
	for _, want := range []string{"invalid escalation rule", "refund-over-limit", "refund_amout"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, &stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "p.db")); err == nil {
		t.Error("the store was opened although a rule is invalid")
	}
}
