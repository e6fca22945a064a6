package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestPrometheusScrapesGateway runs the gateway with /metrics on a listener
// of its own (metrics.listen), Debian's Prometheus (2.42) scraping it every
// second, and drives MCP and A2A calls through the gateway. Prometheus's
// own query API must then show those calls, counted by method and tool;
// and promtool must find the exposition clean.
//
// It needs /usr/bin/prometheus and /usr/bin/promtool (apt-get install
// prometheus): without them it skips, or fails under CI (.ci/run installs
// them).
func TestPrometheusScrapesGateway(t *testing.T) {
	prometheus, promtool := prometheusBinaries(t)
	dir := t.TempDir()
	metricsAddr := freeAddr(t)
	p := start(t, dir, cleanEnv(),
		"--listen", "127.0.0.1:0",
		"--grpc-listen", "127.0.0.1:0",
		"--store", "sqlite://"+filepath.Join(dir, "parley.db"),
		"--metrics-listen", metricsAddr,
	)
	base := "http://" + p.addr(t)

	// The exposition before any call: what promtool checks is what a
	// scraper gets, the Go and process collectors included.
	exposition := getMetrics(t, "http://"+metricsAddr+"/metrics")
	for _, want := range []string{"go_goroutines ", "process_cpu_seconds_total ", "parley_http_requests_in_flight "} {
		if !strings.Contains(exposition, want) {
			t.Errorf("the exposition has no %q:\n%s", want, exposition)
		}
	}

	// MCP: a session, two calls of a tool that succeed, one of a tool that
	// does not exist (a caller cannot add a label value by naming tools).
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "e2e-prometheus", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: base + "/mcp"}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect: %v\n%s", err, p.logs)
	}
	defer cs.Close()
	for _, id := range []string{"T-PROM-1", "T-PROM-2"} {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "save_ticket", Arguments: map[string]any{"ticket_id": id, "customer": "acme", "category": "billing"}})
		if err != nil || res.IsError {
			t.Fatalf("save_ticket %s: %v %+v", id, err, res)
		}
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "no_such_tool_e2e", Arguments: map[string]any{}}); err == nil {
		t.Fatal("calling a tool that does not exist succeeded")
	}

	// A2A, the gateway's own face over JSON-RPC: a tool call as a message,
	// and a task that does not exist.
	a := a2aFaceClient(t, base, a2ago.TransportProtocolJSONRPC)
	sendTool(t, a, "get_ticket", map[string]any{"ticket_id": "T-PROM-1"})
	if _, err := a.GetTask(ctx, &a2ago.GetTaskRequest{ID: "no-such-task"}); err == nil {
		t.Fatal("GetTask of a task that does not exist succeeded")
	}

	// After the calls: the counters are in the exposition, and it is still
	// clean (histograms, label values and all).
	exposition = getMetrics(t, "http://"+metricsAddr+"/metrics")
	check := exec.CommandContext(ctx, promtool, "check", "metrics")
	check.Stdin = strings.NewReader(exposition)
	if out, err := check.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	if strings.Contains(exposition, "no_such_tool_e2e") {
		t.Errorf("a tool name the caller made up is a label value:\n%s", grepLines(exposition, "no_such_tool_e2e"))
	}

	prom := startPrometheus(t, prometheus, metricsAddr)
	queries := []struct {
		query string
		want  float64 // at least
	}{
		{`up{job="parley"}`, 1},
		{`parley_mcp_requests_total{method="tools/call"}`, 3},
		{`parley_mcp_request_errors_total{method="tools/call"}`, 1},
		{`parley_mcp_tool_calls_total{tool="save_ticket",upstream=""}`, 2},
		{`parley_mcp_tool_calls_total{tool="unknown"}`, 1},
		{`parley_mcp_sessions_open`, 1},
		{`parley_a2a_requests_total{binding="jsonrpc",method="SendMessage"}`, 1},
		{`parley_a2a_request_errors_total{binding="jsonrpc",method="GetTask"}`, 1},
		{`sum(parley_http_requests_total{route="/mcp"})`, 3},
		{`parley_store_transaction_duration_seconds_count{op="create ticket"}`, 2},
		{`parley_store_feed_delivery_lag_seconds_count`, 2},
		{`parley_audit_batch_records_sum`, 3},
		{`parley_mcp_request_duration_seconds_count{method="tools/call"}`, 3},
		{`parley_mcp_tool_call_duration_seconds_bucket{tool="save_ticket",le="+Inf"}`, 2},
	}
	for _, q := range queries {
		prom.waitFor(t, q.query, q.want)
	}

	// With a listener of its own, /metrics is not on the main listener.
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on the main listener = %d, want 404 (metrics.listen is set)", resp.StatusCode)
	}

	if err := cs.Close(); err != nil {
		t.Errorf("closing the MCP session: %v", err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0:\n%s", code, p.logs)
	}
}

// prometheusBinaries are Debian's prometheus and promtool, or skip the
// test (fail it under CI).
func prometheusBinaries(t *testing.T) (prometheus, promtool string) {
	t.Helper()
	prometheus, promtool = "/usr/bin/prometheus", "/usr/bin/promtool"
	for _, path := range []string{prometheus, promtool} {
		if _, err := os.Stat(path); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed (%v); CI is set, so this test must run (.ci/run installs it)", path, err)
			}
			t.Skipf("%s is not installed (apt-get install prometheus): %v", path, err)
		}
	}
	return prometheus, promtool
}

// getMetrics GETs a /metrics URL and returns the exposition.
func getMetrics(t *testing.T, u string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d %s", u, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("GET %s: Content-Type %q, want the text exposition format", u, ct)
	}
	return string(body)
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// promServer is a running Prometheus.
type promServer struct {
	url  string
	logs *syncWriter
}

// startPrometheus runs Prometheus in the foreground with its own
// configuration and storage in a temporary directory, scraping target's
// /metrics every second as job "parley". It returns once Prometheus says
// it is ready (GET /-/ready). The test's cleanup stops it.
func startPrometheus(t *testing.T, prometheus, target string) *promServer {
	t.Helper()
	dir := t.TempDir()
	addr := freeAddr(t)
	conf := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: parley
    metrics_path: /metrics
    static_configs:
      - targets: [%q]
`, target)
	confPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &promServer{url: "http://" + addr, logs: &syncWriter{}}
	cmd := exec.Command(prometheus,
		"--config.file="+confPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--web.console.templates="+dir, "--web.console.libraries="+dir,
	)
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting prometheus: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			t.Errorf("prometheus did not stop on SIGTERM; killing it:\n%s", s.logs)
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	// It logs that it is ready once it serves its API.
	select {
	case <-s.logs.seen("Server is ready to receive web requests."):
	case <-exited:
		t.Fatalf("prometheus exited (%v) before it was ready:\n%s", waitErr, s.logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("prometheus did not become ready:\n%s", s.logs)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.url+"/-/ready", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /-/ready: %v\n%s", err, s.logs)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /-/ready = %d\n%s", resp.StatusCode, s.logs)
	}
	return s
}

// waitFor queries Prometheus (an instant query) until the query has a
// sample of at least want: the gateway is scraped every second, so a
// minute is a hang guard, not a wait for readiness.
func (s *promServer) waitFor(t *testing.T, query string, want float64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		got, raw, err := s.query(t.Context(), query)
		if err == nil && got != nil && *got >= want {
			return
		}
		last = raw
		if err != nil {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus query %s: no sample >= %v within a minute; last answer: %s\nprometheus log (end):\n%s",
				query, want, last, tail(s.logs.String(), 20))
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
}

// query runs an instant query and returns the value of its first sample
// (nil when it has none), and the answer as received.
func (s *promServer) query(ctx context.Context, query string) (*float64, string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/api/v1/query?query="+url.QueryEscape(query), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	var answer struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Value [2]any `json:"value"` // [unix time, "value"]
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return nil, string(body), fmt.Errorf("decoding %s: %w", body, err)
	}
	if answer.Status != "success" {
		return nil, string(body), fmt.Errorf("query %s: %s", query, answer.Error)
	}
	if len(answer.Data.Result) == 0 {
		return nil, string(body), nil
	}
	v, _ := answer.Data.Result[0].Value[1].(string)
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return nil, string(body), fmt.Errorf("sample value %q: %w", v, err)
	}
	return &f, string(body), nil
}
