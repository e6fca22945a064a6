// Package e2e builds the real gateway binary and drives it as an operator
// would: as a process, over real sockets, with signals.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the gateway built once by TestMain for every test.
var binary string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "parley-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	binary = filepath.Join(dir, "gateway")
	if runtime.GOOS == "windows" {
		binary += ".exe"
	}
	build := exec.Command("go", "build", "-o", binary, "./cmd/gateway")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building the gateway: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// moduleRoot asks the go command where go.mod is, so the tests do not
// depend on the directory they are run from.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}

// cleanEnv is this process's environment without PARLEY_* variables, so
// that a developer's own settings cannot leak into a test.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PARLEY_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// logWatcher collects a process's stderr and reports the address of its
// "listening" line.
type logWatcher struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	listening chan string
	found     bool
}

// listeningRE matches the text log line; the address may be quoted by slog
// only if it held spaces, which a TCP address does not.
var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

func (w *logWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.found {
		if m := listeningRE.FindSubmatch(w.buf.Bytes()); m != nil {
			w.found = true
			w.listening <- string(m[1])
		}
	}
	return len(p), nil
}

func (w *logWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// process is a running gateway.
type process struct {
	cmd    *exec.Cmd
	logs   *logWatcher
	exited chan struct{} // closed once Wait has returned; then err is set
	err    error
}

// start runs the gateway in dir with env and args. The test's cleanup
// kills it if it is still running and waits for it.
func start(t *testing.T, dir string, env []string, args ...string) *process {
	t.Helper()
	p := &process{
		cmd:    exec.Command(binary, args...),
		logs:   &logWatcher{listening: make(chan string, 1)},
		exited: make(chan struct{}),
	}
	p.cmd.Dir = dir
	p.cmd.Env = env
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting the gateway: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// addr waits for the gateway to log the address it listens on.
func (p *process) addr(t *testing.T) string {
	t.Helper()
	select {
	case addr := <-p.logs.listening:
		return addr
	case <-p.exited:
		t.Fatalf("gateway exited (%v) before listening:\n%s", p.err, p.logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("gateway did not log its address:\n%s", p.logs)
	}
	return ""
}

// wait waits for the process to exit and returns its exit status.
func (p *process) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(within):
		t.Fatalf("gateway still running after %s:\n%s", within, p.logs)
	}
	var exitErr *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &exitErr):
		return exitErr.ExitCode()
	default:
		t.Fatalf("waiting for the gateway: %v", p.err)
		return -1
	}
}

func TestStartsWithNoConfig(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGTERM")
	}
	dir := t.TempDir()

	// The point is that no configuration at all is needed. That means port
	// 8080, which may be taken on a developer's machine; then the only
	// setting given is a free port.
	// The same goes for gRPC's 8081.
	var args []string
	wantAddr := "127.0.0.1:8080"
	for _, def := range []string{wantAddr, "127.0.0.1:8081"} {
		if ln, err := net.Listen("tcp", def); err == nil {
			ln.Close()
		} else {
			t.Logf("%s is taken (%v); listening on free ports instead", def, err)
			args, wantAddr = []string{"--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0"}, ""
		}
	}

	p := start(t, dir, cleanEnv(), args...)
	addr := p.addr(t)
	if wantAddr != "" && addr != wantAddr {
		t.Errorf("listening on %s, want %s", addr, wantAddr)
	}

	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"status":"ready"`) {
		t.Errorf("GET /readyz = %d %s, want 200 ready", resp.StatusCode, body)
	}
	if _, err := os.Stat(filepath.Join(dir, "parley.db")); err != nil {
		t.Errorf("default store not created in the working directory: %v", err)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0:\n%s", code, p.logs)
	}
	if !strings.Contains(p.logs.String(), `msg="shut down"`) {
		t.Errorf("log does not say it shut down:\n%s", p.logs)
	}
}

func TestInvalidConfigExitsWithStatus2(t *testing.T) {
	tests := []struct {
		name  string
		env   []string
		args  []string
		field string
	}{
		{"store from env", []string{"PARLEY_STORE=mysql://x"}, nil, "store"},
		{"listen from flag", nil, []string{"--listen", "nowhere"}, "listen"},
		{"missing config file", []string{"PARLEY_CONFIG=missing.yaml"}, nil, "config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := start(t, t.TempDir(), cleanEnv(tt.env...), tt.args...)
			if code := p.wait(t, 30*time.Second); code != 2 {
				t.Errorf("exit status %d, want 2:\n%s", code, p.logs)
			}
			if want := "invalid config: " + tt.field + " "; !strings.Contains(p.logs.String(), want) {
				t.Errorf("stderr does not name %q:\n%s", tt.field, p.logs)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "version")
	cmd.Env = cleanEnv()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gateway version: %v", err)
	}
	if !strings.HasPrefix(string(out), "parley ") {
		t.Errorf("gateway version printed %q, want it to start with \"parley \"", out)
	}
}
