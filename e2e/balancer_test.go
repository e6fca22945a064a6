package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/store/postgres/pgtest"
)

// sharedStores are the stores the replicas of the balancer tests share:
// one PostgreSQL, and one SQLite file (two processes on one host).
var sharedStores = []struct {
	name  string
	store func(t *testing.T) string
}{
	{"postgres", func(t *testing.T) string { return pgtest.NewSchema(t) }},
	{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "parley.db") }},
}

// TestSessionsThroughNginx puts a real balancer, Debian's nginx, round robin
// and without stickiness, in front of two gateway processes on one store
// (issue 13): on one PostgreSQL, and on one host with both processes sharing
// a SQLite file. A go-sdk client and the reference TypeScript client, both in
// 2025-11-25 session mode, run tool calls of one session each through it.
// Every call must succeed, although nginx alternates the replicas, and
// nginx's own access log must show that both replicas served the session.
// wait_for_ticket's progress reaches the client while the changes it reports
// are made on the same session through the balancer; on SQLite the other
// process's writes reach the waiting replica only through the store's polled
// change feed.
//
// Each client also answers a big refund's confirmation (elicitation, from
// save_resolution) and writes a summary (sampling, from summarize_ticket):
// nginx sends the answer's POST to the replica after the one running the
// call, and the answer must still reach the call.
//
// Not covered, because it is not built yet (docs/design.md, "What is left"):
// resource subscriptions, whose updates go out on the GET stream only if
// it is open on the replica the subscription was made on.
//
// It needs /usr/sbin/nginx (apt-get install nginx), and PostgreSQL
// (PARLEY_TEST_POSTGRES_URL) for its postgres half; without them it is
// skipped locally, but fails under CI (CI set), where .ci/run installs both.
func TestSessionsThroughNginx(t *testing.T) {
	nginx := nginxBinary(t)
	for _, tc := range sharedStores {
		t.Run(tc.name, func(t *testing.T) {
			sessionsThroughNginx(t, nginx, tc.store(t))
		})
	}
}

// sessionsThroughNginx runs both clients' sessions through nginx in front of
// two gateway processes on the store at storeURL.
func sessionsThroughNginx(t *testing.T, nginx, storeURL string) {
	var addrs []string
	var gateways []*process
	for range 2 {
		p := start(t, t.TempDir(), cleanEnv("PARLEY_STORE="+storeURL, "PARLEY_MCP_STATE_KEY=shared-secret-for-replicas"), "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0")
		addrs = append(addrs, p.addr(t))
		gateways = append(gateways, p)
	}
	lb := startNginx(t, nginx, addrs)
	gatewayLogs := func() string {
		var b strings.Builder
		for i, p := range gateways {
			fmt.Fprintf(&b, "gateway %d (%s), end of log:\n%s\n", i, addrs[i], tail(p.logs.String(), 40))
		}
		fmt.Fprintf(&b, "nginx error log (end):\n%s", tail(lb.logs.String(), 20))
		return b.String()
	}

	t.Run("go-sdk", func(t *testing.T) {
		sid := goSessionThroughBalancer(t, "http://"+lb.addr+"/mcp", gatewayLogs)
		lb.assertServedByAll(t, sid, addrs)
	})
	t.Run("typescript", func(t *testing.T) {
		node, script := nodeClient(t)
		script = filepath.Join(filepath.Dir(script), "mcp-balanced.mjs")
		url := "http://" + lb.addr + "/mcp"
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, script, url)
		cmd.Dir = filepath.Dir(script)
		cmd.Env = cleanEnv()
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.CombinedOutput()
		switch {
		case ctx.Err() != nil:
			t.Fatalf("node %s did not finish within its timeout:\n%s\n%s", filepath.Base(script), out, gatewayLogs())
		case err != nil:
			t.Fatalf("node %s %s: %v\n%s\n%s", filepath.Base(script), url, err, out, gatewayLogs())
		}
		t.Logf("node %s %s:\n%s", filepath.Base(script), url, out)
		if !strings.Contains(string(out), "PASS ") {
			t.Fatalf("the script exited 0 without its PASS line:\n%s", out)
		}
		m := regexp.MustCompile(`(?m)^SESSION (\S+)$`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("the script did not print its session ID:\n%s", out)
		}
		lb.assertServedByAll(t, string(m[1]), addrs)
	})
}

// goSessionThroughBalancer runs a go-sdk client's session through the
// balancer at url and returns the session's ID. The client keeps its
// standalone GET stream, as a host would.
func goSessionThroughBalancer(t *testing.T, url string, logs func() string) string {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	progress := make(chan string, 16)
	var askedMu sync.Mutex
	var asked []string // what the person and the model were asked
	c := mcp.NewClient(&mcp.Implementation{Name: "e2e-nginx", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			progress <- req.Params.Message
		},
		ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			askedMu.Lock()
			asked = append(asked, "confirm: "+req.Params.Message)
			askedMu.Unlock()
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}, nil
		},
		CreateMessageHandler: func(_ context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			askedMu.Lock()
			asked = append(asked, "sample")
			askedMu.Unlock()
			return &mcp.CreateMessageResult{Model: "e2e-model", Role: "assistant", Content: &mcp.TextContent{Text: "Acme was charged twice."}}, nil
		},
	})
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect through nginx: %v\n%s", err, logs())
	}
	defer cs.Close()
	sid := cs.ID()
	if sid == "" {
		t.Fatal("no Mcp-Session-Id: not a session")
	}
	if got := cs.InitializeResult().ProtocolVersion; got != "2025-11-25" {
		t.Fatalf("negotiated %q, want 2025-11-25", got)
	}
	call := func(name string, args map[string]any) map[string]any {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, logs())
		}
		if res.IsError {
			t.Fatalf("%s: tool error: %v", name, res.Content)
		}
		return asMap(t, name, res.StructuredContent)
	}
	field := func(m map[string]any, path ...string) any {
		var v any = m
		for _, k := range path {
			mm, _ := v.(map[string]any)
			v = mm[k]
		}
		return v
	}

	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v\n%s", err, logs())
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	for _, want := range []string{"save_ticket", "get_ticket", "list_tickets", "save_analysis", "get_all_analysis",
		"create_task", "claim_task", "complete_task", "wait_for_ticket", "escalate", "get_status"} {
		if !slices.Contains(names, want) {
			t.Errorf("tools/list lacks %s (has %v)", want, names)
		}
	}

	saved := call("save_ticket", map[string]any{"ticket_id": "LB-1", "customer": "acme", "category": "billing",
		"priority": "high", "summary": "charged twice", "expected_version": 0})
	if diff := cmp.Diff([]any{true, "new", 1.0}, []any{saved["created"], field(saved, "ticket", "status"), field(saved, "ticket", "version")}); diff != "" {
		t.Errorf("save_ticket (created, status, version) (-want +got):\n%s", diff)
	}
	got := call("get_ticket", map[string]any{"ticket_id": "LB-1"})
	if diff := cmp.Diff(saved["ticket"], any(got)); diff != "" {
		t.Errorf("get_ticket differs from what save_ticket returned (-saved +got):\n%s", diff)
	}
	page := call("list_tickets", map[string]any{"status": []string{"new"}, "category": "billing"})
	var listed []any
	for _, tk := range field(page, "tickets").([]any) {
		listed = append(listed, tk.(map[string]any)["id"])
	}
	if diff := cmp.Diff([]any{"LB-1"}, listed); diff != "" {
		t.Errorf("list_tickets IDs (-want +got):\n%s", diff)
	}
	for _, ns := range []string{"sentiment", "history"} {
		call("save_analysis", map[string]any{"ticket_id": "LB-1", "namespace": ns, "findings": map[string]any{"ns": ns}})
	}
	all := call("get_all_analysis", map[string]any{"ticket_id": "LB-1"})
	var namespaces []string
	for _, a := range field(all, "analyses").([]any) {
		namespaces = append(namespaces, a.(map[string]any)["namespace"].(string))
	}
	sort.Strings(namespaces)
	if diff := cmp.Diff([]string{"history", "sentiment"}, namespaces); diff != "" {
		t.Errorf("get_all_analysis namespaces (-want +got):\n%s", diff)
	}
	task := call("create_task", map[string]any{"type": "billing", "payload": map[string]any{"ticket_id": "LB-1"}})
	claimed := call("claim_task", map[string]any{"types": []string{"billing"}, "lease_seconds": 60})
	if field(claimed, "task", "id") != field(task, "task", "id") || field(claimed, "task", "lease_token") == "" {
		t.Fatalf("claim_task = %v, want the task %v with a lease", claimed, task)
	}
	done := call("complete_task", map[string]any{"task_id": field(claimed, "task", "id"),
		"lease_token": field(claimed, "task", "lease_token"), "result": map[string]any{"ok": true}})
	if s := field(done, "task", "status"); s != "done" {
		t.Errorf("complete_task status = %v, want done", s)
	}

	// wait_for_ticket from the ticket's current version: every later change
	// is reported as progress, whenever the wait starts watching, so the
	// changes need not wait for it. They are made on the same session, while
	// the call runs, and nginx sends them to either replica.
	const reason = "refund above the agent limit"
	params := &mcp.CallToolParams{Name: "wait_for_ticket", Arguments: map[string]any{
		"ticket_id": "LB-1", "statuses": []string{"escalated"}, "timeout_seconds": 60, "since_version": 1}}
	params.SetProgressToken("lb-wait")
	type waitResult struct {
		res *mcp.CallToolResult
		err error
	}
	waited := make(chan waitResult, 1)
	go func() {
		res, err := cs.CallTool(ctx, params)
		waited <- waitResult{res, err}
	}()
	call("save_ticket", map[string]any{"ticket_id": "LB-1", "status": "triaged"})
	call("escalate", map[string]any{"ticket_id": "LB-1", "reason": reason})
	var w waitResult
	select {
	case w = <-waited:
	case <-ctx.Done():
		t.Fatalf("wait_for_ticket did not return\n%s", logs())
	}
	if w.err != nil {
		t.Fatalf("wait_for_ticket: %v\n%s", w.err, logs())
	}
	if w.res.IsError {
		t.Fatalf("wait_for_ticket: tool error: %v", w.res.Content)
	}
	out := asMap(t, "wait_for_ticket", w.res.StructuredContent)
	if diff := cmp.Diff([]any{true, false, "escalated", 2.0}, []any{out["reached"], out["timed_out"], field(out, "ticket", "status"), out["changes"]}); diff != "" {
		t.Errorf("wait_for_ticket (reached, timed_out, status, changes) (-want +got):\n%s", diff)
	}
	// The notifications came before the response on its stream, but the
	// client may hand the response over before its handler has run for
	// the last one.
	var heard []string
	for len(heard) < 2 {
		select {
		case msg := <-progress:
			heard = append(heard, msg)
		case <-time.After(10 * time.Second):
			t.Fatalf("progress heard: %q; want 2 messages", heard)
		}
	}
	if diff := cmp.Diff([]string{"triaged", "escalated: " + reason}, heard); diff != "" {
		t.Errorf("wait_for_ticket progress (-want +got):\n%s", diff)
	}
	status := call("get_status", map[string]any{})
	if n := field(status, "tickets", "escalated"); n != 1.0 {
		t.Errorf("get_status: %v escalated tickets, want 1 (%v)", n, status)
	}

	// Server-to-client requests: the answer's POST goes to the replica
	// after the one running the call. Twice each, so that neither replica's
	// turn decides it.
	for i := range 2 {
		id := fmt.Sprintf("LB-R%d", i)
		call("save_ticket", map[string]any{"ticket_id": id, "customer": "acme", "summary": "charged twice", "refund_amount": 5000})
		resolved := call("save_resolution", map[string]any{"ticket_id": id, "resolution": "refunded"})
		if diff := cmp.Diff([]any{true, "saved", "resolved"}, []any{resolved["saved"], resolved["outcome"], field(resolved, "ticket", "status")}); diff != "" {
			t.Errorf("save_resolution confirmed through elicitation (saved, outcome, status) (-want +got):\n%s", diff)
		}
		sum := call("summarize_ticket", map[string]any{"ticket_id": id})
		if diff := cmp.Diff([]any{"sampling", "e2e-model", "Acme was charged twice."}, []any{sum["source"], sum["model"], sum["summary"]}); diff != "" {
			t.Errorf("summarize_ticket through sampling (source, model, summary) (-want +got):\n%s", diff)
		}
	}
	askedMu.Lock()
	defer askedMu.Unlock()
	if len(asked) != 4 || !strings.HasPrefix(asked[0], "confirm: ") || !strings.Contains(asked[0], "LB-R0") || asked[1] != "sample" {
		t.Errorf("the host was asked %q; want a confirmation naming the ticket, then a sample, twice", asked)
	}
	return sid
}

func asMap(t *testing.T, name string, v any) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: structured content is %T, not an object", name, v)
	}
	return m
}

// nginxBinary is Debian's nginx, or skips the test (fails it under CI).
func nginxBinary(t *testing.T) string {
	t.Helper()
	const path = "/usr/sbin/nginx"
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("nginx is not installed (%v); CI is set, so this test must run (.ci/run installs it)", err)
		}
		t.Skipf("nginx is not installed (apt-get install nginx): %v", err)
	}
	return path
}

// balancer is a running nginx.
type balancer struct {
	addr   string
	dir    string
	logs   *syncWriter
	cmd    *exec.Cmd
	exited chan struct{}
}

// startNginx runs nginx in the foreground, with its own configuration, pid
// and logs in a temporary directory, as a round-robin balancer without
// stickiness in front of upstreams. It returns once nginx has answered a
// request. The test's cleanup stops it.
func startNginx(t *testing.T, nginx string, upstreams []string) *balancer {
	t.Helper()
	dir := t.TempDir()
	addr := freeAddr(t)
	var servers strings.Builder
	for _, u := range upstreams {
		fmt.Fprintf(&servers, "\t\tserver %s;\n", u)
	}
	user := ""
	if os.Geteuid() == 0 {
		// The master would switch its workers to nobody, who cannot enter
		// the test's temporary directory.
		user = "user root;"
	}
	// A session's requests carry Mcp-Session-Id; nginx logs which upstream
	// served each. Buffering off and long read timeouts keep SSE streams
	// flowing and open; HTTP/1.1 to the upstreams for chunked responses.
	conf := fmt.Sprintf(`%s
worker_processes 1;
pid %[2]s/nginx.pid;
error_log stderr notice;
events { worker_connections 512; }
http {
	log_format balanced '$upstream_addr $request_method $status "$http_mcp_session_id" "$sent_http_mcp_session_id"';
	access_log %[2]s/access.log balanced;
	client_body_temp_path %[2]s/client_body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	upstream parley {
%[3]s	}
	server {
		listen %[4]s;
		location / {
			proxy_pass http://parley;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host $http_host;
			proxy_buffering off;
			proxy_request_buffering off;
			proxy_cache off;
			proxy_read_timeout 1h;
			proxy_send_timeout 1h;
			# Which replica answered, for a test to stop that one.
			add_header X-Upstream $upstream_addr always;
		}
	}
}
`, user, dir, servers.String(), addr)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	b := &balancer{addr: addr, dir: dir, logs: &syncWriter{}, exited: make(chan struct{})}
	// -e: the error log before the configuration is read, which would
	// otherwise be /var/log/nginx/error.log.
	b.cmd = exec.Command(nginx, "-p", dir, "-c", confPath, "-e", "stderr", "-g", "daemon off;")
	b.cmd.Stdout, b.cmd.Stderr = b.logs, b.logs
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("starting nginx: %v", err)
	}
	var waitErr error
	go func() {
		waitErr = b.cmd.Wait()
		close(b.exited)
	}()
	t.Cleanup(func() {
		// SIGTERM is nginx's fast shutdown: open streams do not hold it.
		_ = b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("nginx did not stop on SIGTERM; killing it:\n%s", b.logs)
			_ = b.cmd.Process.Kill()
			<-b.exited
		}
	})

	// Ready once it answers: nginx logs "start worker process" after it has
	// bound its socket; then a request through it shows it proxies.
	select {
	case <-b.logs.seen("start worker process"):
	case <-b.exited:
		t.Fatalf("nginx exited (%v) before starting:\n%s", waitErr, b.logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("nginx did not start its worker:\n%s", b.logs)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("a request through nginx: %v\n%s", err, b.logs)
	}
	resp.Body.Close()
	if resp.Header.Get("Server") == "" || !strings.HasPrefix(resp.Header.Get("Server"), "nginx") {
		t.Fatalf("%s answered without nginx's Server header: %v", addr, resp.Header)
	}
	return b
}

// assertServedByAll checks nginx's access log: requests of session sid
// were answered with success by every one of upstreams.
func (b *balancer) assertServedByAll(t *testing.T, sid string, upstreams []string) {
	t.Helper()
	f, err := os.Open(filepath.Join(b.dir, "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	served := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// upstream method status "request session" "response session"
		fields := strings.Fields(sc.Text())
		if len(fields) != 5 || !strings.HasPrefix(fields[2], "2") {
			continue
		}
		if strings.Trim(fields[3], `"`) == sid || strings.Trim(fields[4], `"`) == sid {
			served[fields[0]]++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("session %s: successful requests by upstream: %v", sid, served)
	for _, u := range upstreams {
		if served[u] < 2 {
			t.Errorf("replica %s answered %d requests of session %s, want at least 2 (by upstream: %v)", u, served[u], sid, served)
		}
	}
}

// freeAddr is a loopback address with a port free at the time of the call.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// syncWriter collects a process's output and tells when a text appears in
// it.
type syncWriter struct {
	mu      sync.Mutex
	buf     strings.Builder
	waiters []textWaiter
}

type textWaiter struct {
	text string
	ch   chan struct{}
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	w.waiters = slices.DeleteFunc(w.waiters, func(tw textWaiter) bool {
		if strings.Contains(w.buf.String(), tw.text) {
			close(tw.ch)
			return true
		}
		return false
	})
	return len(p), nil
}

// seen is closed once text has appeared in the output.
func (w *syncWriter) seen(text string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := make(chan struct{})
	if strings.Contains(w.buf.String(), text) {
		close(ch)
	} else {
		w.waiters = append(w.waiters, textWaiter{text, ch})
	}
	return ch
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
