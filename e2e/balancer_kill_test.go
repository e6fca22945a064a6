package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestSessionOutlivesItsReplica kills (SIGKILL) the replica that opened a
// session and runs its wait_for_ticket, behind nginx: the client sends
// those two requests to that replica directly, and the rest through nginx,
// round robin over both. The client resumes its stream
// through nginx, which sends it to the other replica; that replica follows
// the stream, takes the call over once the killed one is not heard of for a
// lease, and goes on with it: the client hears every progress report
// exactly once, in order, and the call's result. The go-sdk client and the
// reference TypeScript client (e2e/js/mcp-kill.mjs), each on two processes on
// one PostgreSQL and on one SQLite file (one host).
func TestSessionOutlivesItsReplica(t *testing.T) {
	nginx := nginxBinary(t)
	for _, tc := range sharedStores {
		t.Run(tc.name, func(t *testing.T) {
			t.Run("go-sdk", func(t *testing.T) {
				goOutlivesItsReplica(t, startDoomedPair(t, nginx, tc.store(t)))
			})
			t.Run("typescript", func(t *testing.T) {
				tsOutlivesItsReplica(t, startDoomedPair(t, nginx, tc.store(t)))
			})
		})
	}
}

// doomedPair is two gateway processes on one store behind nginx; the
// test kills the first, the doomed one.
type doomedPair struct {
	byAddr map[string]*process
	doomed string // the first's address
	lb     *balancer
}

func startDoomedPair(t *testing.T, nginx, storeURL string) *doomedPair {
	p := &doomedPair{byAddr: map[string]*process{}}
	var addrs []string
	for range 2 {
		// A short lease: the killed replica's call is taken over 3s after
		// its last heartbeat.
		g := start(t, t.TempDir(), cleanEnv("PARLEY_STORE="+storeURL, "PARLEY_MCP_STATE_KEY=shared-secret-for-replicas", "PARLEY_MCP_REPLICA_LEASE=3s"),
			"--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0")
		addr := g.addr(t)
		addrs = append(addrs, addr)
		p.byAddr[addr] = g
	}
	p.doomed = addrs[0]
	p.lb = startNginx(t, nginx, addrs)
	return p
}

func (p *doomedPair) logs() string {
	var b strings.Builder
	for addr, g := range p.byAddr {
		fmt.Fprintf(&b, "gateway %s, end of log:\n%s\n", addr, tail(g.logs.String(), 40))
	}
	fmt.Fprintf(&b, "nginx error log (end):\n%s", tail(p.lb.logs.String(), 20))
	return b.String()
}

// kill kills the doomed replica with SIGKILL.
func (p *doomedPair) kill(t *testing.T) {
	t.Helper()
	victim := p.byAddr[p.doomed]
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.exited
}

func goOutlivesItsReplica(t *testing.T, pair *doomedPair) {
	logs := pair.logs
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	type report struct {
		progress float64
		msg      string
	}
	progress := make(chan report, 16)
	c := mcp.NewClient(&mcp.Implementation{Name: "e2e-kill", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			progress <- report{req.Params.Progress, req.Params.Message}
		},
	})
	waitedOn := &opensAndWaitsOn{addr: pair.doomed}
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:   "http://" + pair.lb.addr + "/mcp",
		HTTPClient: &http.Client{Transport: waitedOn},
		MaxRetries: 10,
	}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect through nginx: %v\n%s", err, logs())
	}
	defer cs.Close()
	call := func(name string, args map[string]any) {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil || res.IsError {
			t.Fatalf("%s: %v %v\n%s", name, err, res, logs())
		}
	}
	call("save_ticket", map[string]any{"ticket_id": "KILL-1", "customer": "Ada", "summary": "refund"})

	params := &mcp.CallToolParams{Name: "wait_for_ticket", Arguments: map[string]any{
		"ticket_id": "KILL-1", "statuses": []string{"resolved"}, "timeout_seconds": 90, "since_version": 1}}
	params.SetProgressToken("kill-wait")
	type waitResult struct {
		res *mcp.CallToolResult
		err error
	}
	waited := make(chan waitResult, 1)
	go func() {
		res, err := cs.CallTool(ctx, params)
		waited <- waitResult{res, err}
	}()
	var heard []report
	hear := func() {
		t.Helper()
		select {
		case r := <-progress:
			heard = append(heard, r)
		case <-ctx.Done():
			t.Fatalf("progress heard: %v; want one more\n%s", heard, logs())
		}
	}
	call("save_ticket", map[string]any{"ticket_id": "KILL-1", "status": "triaged"})
	hear()

	// The report reached the client, so its stream is in the store: kill
	// the replica running the call, with no chance to say so.
	pair.kill(t)

	call("save_ticket", map[string]any{"ticket_id": "KILL-1", "category": "billing"})
	call("save_ticket", map[string]any{"ticket_id": "KILL-1", "status": "resolved"})
	var w waitResult
	select {
	case w = <-waited:
	case <-ctx.Done():
		t.Fatalf("wait_for_ticket did not return after its replica was killed\n%s", logs())
	}
	if w.err != nil || w.res.IsError {
		t.Fatalf("wait_for_ticket: %v %v\n%s", w.err, w.res, logs())
	}
	for len(heard) < 3 {
		hear()
	}
	var got []string
	for _, r := range heard {
		msg := r.msg
		if strings.HasSuffix(msg, "updated category") {
			msg = "… updated category" // by the client, named as the gateway names it
		}
		got = append(got, fmt.Sprintf("%g %s", r.progress, msg))
	}
	if diff := cmp.Diff([]string{"1 triaged", "2 … updated category", "3 resolved"}, got); diff != "" {
		t.Errorf("progress heard across the kill (-want +got):\n%s", diff)
	}
	out := asMap(t, "wait_for_ticket", w.res.StructuredContent)
	if diff := cmp.Diff([]any{true, "resolved", 3.0}, []any{out["reached"], asMap(t, "ticket", out["ticket"])["status"], out["changes"]}); diff != "" {
		t.Errorf("wait_for_ticket (reached, status, changes) (-want +got):\n%s", diff)
	}
	select {
	case r := <-progress:
		t.Errorf("a progress report more than once: %v", r)
	default:
	}
}

func tsOutlivesItsReplica(t *testing.T, pair *doomedPair) {
	node, script := nodeClient(t)
	script = filepath.Join(filepath.Dir(script), "mcp-kill.mjs")
	url := "http://" + pair.lb.addr + "/mcp"
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script, url, "http://"+pair.doomed+"/mcp")
	cmd.Dir = filepath.Dir(script)
	cmd.Env = cleanEnv()
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if line == "KILL" {
			pair.kill(t)
			if _, err := io.WriteString(stdin, "killed\n"); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = cmd.Wait()
	switch {
	case ctx.Err() != nil:
		t.Fatalf("node %s did not finish within its timeout:\n%s\n%s", filepath.Base(script), out.String(), pair.logs())
	case err != nil:
		t.Fatalf("node %s: %v\n%s\n%s", filepath.Base(script), err, out.String(), pair.logs())
	}
	t.Logf("node %s:\n%s", filepath.Base(script), out.String())
	if !strings.Contains(out.String(), "PASS ") {
		t.Fatalf("the script exited 0 without its PASS line:\n%s", out.String())
	}
}

// opensAndWaitsOn is the go-sdk client's transport: initialize and
// wait_for_ticket go to the replica at addr directly, the rest to nginx.
type opensAndWaitsOn struct{ addr string }

func (o *opensAndWaitsOn) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		if bytes.Contains(body, []byte(`"method":"initialize"`)) || bytes.Contains(body, []byte(`"wait_for_ticket"`)) {
			req = req.Clone(req.Context())
			req.URL.Host, req.Host = o.addr, o.addr
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	return http.DefaultTransport.RoundTrip(req)
}
