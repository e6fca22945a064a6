package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// upstreamHeader is the header nginx adds to every answer: the address of
// the replica that served it, so that the clients count the calls each
// replica answered.
const upstreamHeader = "X-Upstream"

// balancer is a running nginx: one worker, round robin without
// stickiness, on two ports: one in front of the first gateway alone, two
// in front of both.
type balancer struct {
	one, two string // base URLs, http://127.0.0.1:PORT
	cmd      *exec.Cmd
	exited   chan struct{}
	waitErr  error
	logs     *lockedBuffer
}

// startNginx runs nginx (the binary at path) in the foreground with its
// configuration, pid and logs in dir. keepalive is how many idle
// connections to the gateways the worker keeps (0: a new connection per
// request, nginx's default without a keepalive directive). It returns once
// nginx has proxied a request on each port.
func startNginx(ctx context.Context, path, dir string, gateways []string, keepalive int) (*balancer, error) {
	addrOne, err := freeAddr()
	if err != nil {
		return nil, err
	}
	addrTwo, err := freeAddr()
	if err != nil {
		return nil, err
	}
	user := ""
	if os.Geteuid() == 0 {
		// The master would switch its worker to nobody, who may not enter
		// the temporary directory.
		user = "user root;"
	}
	ka := ""
	if keepalive > 0 {
		ka = fmt.Sprintf("keepalive %d;", keepalive)
	}
	// The MCP endpoint's needs, as in e2e/balancer_test.go: no buffering
	// and long timeouts for SSE, HTTP/1.1 to the upstreams (chunked
	// answers, and kept connections with keepalive). No access log: the
	// clients count the calls by X-Upstream, and nginx's CPU stays the
	// proxying's.
	conf := fmt.Sprintf(`%[1]s
worker_processes 1;
pid %[2]s/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path %[2]s/client_body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	keepalive_requests 1000000;
	upstream one {
		server %[3]s;
		%[5]s
	}
	upstream two {
		server %[3]s;
		server %[4]s;
		%[5]s
	}
	proxy_http_version 1.1;
	proxy_set_header Connection "";
	proxy_set_header Host $http_host;
	proxy_buffering off;
	proxy_request_buffering off;
	proxy_cache off;
	proxy_read_timeout 1h;
	proxy_send_timeout 1h;
	server {
		listen %[6]s;
		location / {
			proxy_pass http://one;
			add_header X-Upstream $upstream_addr always;
		}
	}
	server {
		listen %[7]s;
		location / {
			proxy_pass http://two;
			add_header X-Upstream $upstream_addr always;
		}
	}
}
`, user, dir, gateways[0], gateways[1], ka, addrOne, addrTwo)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	b := &balancer{one: "http://" + addrOne, two: "http://" + addrTwo, exited: make(chan struct{}), logs: &lockedBuffer{}}
	// -e: the error log before the configuration is read (otherwise
	// /var/log/nginx/error.log).
	b.cmd = exec.Command(path, "-p", dir, "-c", confPath, "-e", "stderr", "-g", "daemon off;")
	b.cmd.Stdout, b.cmd.Stderr = b.logs, b.logs
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	go func() {
		b.waitErr = b.cmd.Wait()
		close(b.exited)
	}()
	for _, base := range []string{b.one, b.two} {
		if err := b.waitProxying(ctx, base); err != nil {
			return nil, errors.Join(err, b.stop())
		}
	}
	return b, nil
}

// waitProxying polls base until nginx answers there with a replica's
// answer (the gateway's /healthz through it): nginx binds its ports
// after it has read its configuration, with no signal of it but its
// answering.
func (b *balancer) waitProxying(ctx context.Context, base string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && resp.Header.Get(upstreamHeader) != "" {
				return nil
			}
		}
		select {
		case <-b.exited:
			return fmt.Errorf("nginx exited (%v):\n%s", b.waitErr, b.logs)
		case <-ctx.Done():
			return fmt.Errorf("nginx did not proxy %s (last: %v):\n%s", base, err, b.logs)
		case <-tick.C:
		}
	}
}

// cpu is the CPU time nginx's master and worker have used.
func (b *balancer) cpu() (time.Duration, error) {
	return treeCPU(b.cmd.Process.Pid)
}

// stop is nginx's fast shutdown (SIGTERM); it kills nginx after 10 s.
func (b *balancer) stop() error {
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.exited
		return fmt.Errorf("nginx did not stop on SIGTERM: killed")
	}
	return nil
}

// treeCPU is the CPU time (user + system) of process pid and of its
// children, from /proc/PID/stat: nginx's work is done by a worker the
// master forks.
func treeCPU(pid int) (time.Duration, error) {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var ticks int64
	found := false
	for _, d := range dirs {
		n, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue // gone
		}
		ppid, t, ok := statPPIDTicks(data)
		if ok && (n == pid || ppid == pid) {
			ticks += t
			found = found || n == pid
		}
	}
	if !found {
		return 0, fmt.Errorf("process %d: not found in /proc", pid)
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// statPPIDTicks reads the parent's PID (field 4) and utime+stime (fields
// 14 and 15) from a /proc/PID/stat line, whose comm may hold spaces.
func statPPIDTicks(data []byte) (ppid int, ticks int64, ok bool) {
	rp := bytes.LastIndexByte(data, ')')
	if rp < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(data[rp+1:]))
	if len(f) < 13 {
		return 0, 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return 0, 0, false
	}
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		ticks += n
	}
	return ppid, ticks, true
}

// freeAddr is a loopback address whose port was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// lockedBuffer is nginx's output, written by os/exec's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String is the last 20 lines.
func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(l.buf.Bytes()))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}
