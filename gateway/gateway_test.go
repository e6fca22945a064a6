package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/gateway"
)

// pingFunc adapts a function to gateway.Pinger.
type pingFunc func(ctx context.Context) error

func (f pingFunc) Ping(ctx context.Context) error { return f(ctx) }

var pingOK = pingFunc(func(context.Context) error { return nil })

// logBuffer collects log output from concurrent goroutines and reports the
// address of the first "listening" line.
type logBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	listening chan string // receives the bound address once
	sent      bool
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if m := listeningRE.FindSubmatch(p); m != nil && !l.sent {
		l.sent = true
		l.listening <- string(m[1])
	}
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// newGateway builds a gateway on the default config as changed by mod,
// logging at debug level into the returned buffer.
func newGateway(t *testing.T, mod func(*config.Config), store gateway.Pinger) (*gateway.Gateway, *logBuffer) {
	t.Helper()
	cfg := config.Default()
	if mod != nil {
		mod(&cfg)
	}
	logs := &logBuffer{listening: make(chan string, 1)}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g, err := gateway.New(cfg, gateway.Deps{Store: store}, logger)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return g, logs
}

// newRequest is httptest.NewRequest addressed to a Host the gateway
// allows by default (httptest's example.com is not).
func newRequest(method, target string, body io.Reader) *http.Request {
	r := httptest.NewRequest(method, target, body)
	r.Host = "127.0.0.1:8080"
	return r
}

// decode reads a JSON object body.
func decode(t *testing.T, r io.Reader) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		t.Fatalf("decoding JSON body: %v", err)
	}
	return m
}

func TestNew(t *testing.T) {
	bad := config.Default()
	bad.MaxBodyBytes = 0
	tests := []struct {
		name  string
		cfg   config.Config
		store gateway.Pinger
		want  string
	}{
		{"no store", config.Default(), nil, "Deps.Store is required"},
		{"invalid config", bad, pingOK, "max_body_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := gateway.New(tt.cfg, gateway.Deps{Store: tt.store}, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestHealthEndpoints(t *testing.T) {
	tests := []struct {
		name       string
		path       string
		ping       pingFunc
		wantStatus int
		wantBody   map[string]any
		wantErr    string // substring of the "error" field
	}{
		{
			name: "healthz ignores the store", path: "/healthz",
			ping:       func(context.Context) error { return errors.New("down") },
			wantStatus: http.StatusOK, wantBody: map[string]any{"status": "ok"},
		},
		{
			name: "readyz with a healthy store", path: "/readyz",
			ping:       pingOK,
			wantStatus: http.StatusOK, wantBody: map[string]any{"status": "ready"},
		},
		{
			name: "readyz bounds the ping", path: "/readyz",
			ping: func(ctx context.Context) error {
				if d, ok := ctx.Deadline(); !ok || time.Until(d) > 2*time.Second {
					return errors.New("ping has no deadline of at most 2s")
				}
				return nil
			},
			wantStatus: http.StatusOK, wantBody: map[string]any{"status": "ready"},
		},
		{
			name: "readyz with a failing store", path: "/readyz",
			ping:       func(context.Context) error { return errors.New("database is locked") },
			wantStatus: http.StatusServiceUnavailable, wantBody: map[string]any{"status": "unavailable"},
			wantErr: "store: database is locked",
		},
		{
			name: "readyz with a store that times out", path: "/readyz",
			ping:       func(context.Context) error { return context.DeadlineExceeded },
			wantStatus: http.StatusServiceUnavailable, wantBody: map[string]any{"status": "unavailable"},
			wantErr: "store did not answer within 2s",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _ := newGateway(t, nil, tt.ping)
			rec := httptest.NewRecorder()
			g.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))

			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			got := decode(t, rec.Body)
			if errMsg, _ := got["error"].(string); tt.wantErr != "" && !strings.Contains(errMsg, tt.wantErr) {
				t.Errorf("error = %q, want it to contain %q", errMsg, tt.wantErr)
			}
			delete(got, "error")
			if len(got) != len(tt.wantBody) || got["status"] != tt.wantBody["status"] {
				t.Errorf("body = %v, want %v", got, tt.wantBody)
			}
		})
	}
}

func TestNotFoundAndMethodNotAllowedAreJSON(t *testing.T) {
	g, _ := newGateway(t, nil, pingOK)
	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/nope", http.StatusNotFound},
		{http.MethodPost, "/healthz", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		g.Handler().ServeHTTP(rec, newRequest(tt.method, tt.path, nil))
		if rec.Code != tt.want {
			t.Errorf("%s %s: status = %d, want %d", tt.method, tt.path, rec.Code, tt.want)
		}
		if body := decode(t, rec.Body); body["error"] == "" {
			t.Errorf("%s %s: body %v has no error", tt.method, tt.path, body)
		}
	}
}

func TestRequestID(t *testing.T) {
	g, _ := newGateway(t, nil, pingOK)
	g.Router().Get("/id", func(w http.ResponseWriter, r *http.Request) {
		// Handlers that read only headers (go-sdk's) see the same ID.
		if h := r.Header.Get(gateway.RequestIDHeader); h != gateway.RequestIDFrom(r.Context()) {
			io.WriteString(w, "header "+h)
			return
		}
		io.WriteString(w, gateway.RequestIDFrom(r.Context()))
	})
	longest := strings.Repeat("a", 128)

	tests := []struct {
		name     string
		incoming string // "" sends no header
		keep     bool
	}{
		{"generated when absent", "", false},
		{"caller's kept", "req-42_abc.DEF:1", true},
		{"longest kept", longest, true},
		{"too long replaced", longest + "a", false},
		{"space replaced", "a b", false},
		{"control character replaced", "a\x7fb", false},
		{"non-ASCII replaced", "ré", false},
	}
	seen := make(map[string]bool)
	last := ""
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest(http.MethodGet, "/id", nil)
			if tt.incoming != "" {
				req.Header.Set(gateway.RequestIDHeader, tt.incoming)
			}
			rec := httptest.NewRecorder()
			g.Handler().ServeHTTP(rec, req)

			id := rec.Header().Get(gateway.RequestIDHeader)
			if body := rec.Body.String(); body != id {
				t.Errorf("RequestIDFrom (or the request's own header) = %q, response header = %q", body, id)
			}
			if tt.incoming != "" && req.Header.Get(gateway.RequestIDHeader) != tt.incoming {
				t.Errorf("the caller's request header was changed to %q", req.Header.Get(gateway.RequestIDHeader))
			}
			if tt.keep {
				if id != tt.incoming {
					t.Errorf("id = %q, want the caller's %q", id, tt.incoming)
				}
				return
			}
			// A UUIDv7: generated IDs sort by time, so that the audit log's
			// request index takes them at its end.
			if id == "" || id == tt.incoming || !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(id) {
				t.Errorf("id = %q, want a fresh UUIDv7", id)
			}
			if seen[id] {
				t.Errorf("id %q generated twice", id)
			}
			if id <= last {
				t.Errorf("id %q generated after %q sorts before it", id, last)
			}
			seen[id], last = true, id
		})
	}
}

func TestAccessLog(t *testing.T) {
	g, logs := newGateway(t, nil, pingOK)
	req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
	req.Header.Set(gateway.RequestIDHeader, "log-test-1")
	req.RemoteAddr = "192.0.2.7:5555"
	g.Handler().ServeHTTP(httptest.NewRecorder(), req)

	line := logs.String()
	for _, want := range []string{
		"msg=request", "method=GET", "path=/healthz", "status=200", "bytes=16",
		"duration=", "request_id=log-test-1", "remote=192.0.2.7:5555",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("access log lacks %q:\n%s", want, line)
		}
	}
}

func TestBodyLimit(t *testing.T) {
	const limit = 16
	g, _ := newGateway(t, func(c *config.Config) { c.MaxBodyBytes = limit }, pingOK)
	var (
		mu      sync.Mutex
		lengths []int64 // ContentLength of each request the handler saw
	)
	g.Router().Post("/echo", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lengths = append(lengths, r.ContentLength)
		mu.Unlock()
		body, err := io.ReadAll(r.Body)
		if err != nil {
			if gateway.WriteBodyError(w, err) {
				return
			}
			gateway.WriteError(w, http.StatusBadRequest, err.Error())
			return
		}
		w.Write(body)
	})
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)

	tests := []struct {
		name       string
		size       int
		chunked    bool // hide the length so the client streams the body
		wantStatus int
		wantError  string
		wantLength int64 // ContentLength the handler sees; 0 when it must not run
	}{
		{"declared within the limit", limit, false, http.StatusOK, "", limit},
		{"chunked within the limit", limit, true, http.StatusOK, "", -1},
		{"declared over the limit", limit + 1, false, http.StatusRequestEntityTooLarge,
			"request body too large: 17 bytes exceeds the limit of 16 bytes", 0},
		{"chunked over the limit", 10 * limit, true, http.StatusRequestEntityTooLarge,
			"request body too large: it exceeds the limit of 16 bytes", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			lengths = nil
			mu.Unlock()

			payload := strings.Repeat("x", tt.size)
			var body io.Reader = strings.NewReader(payload)
			if tt.chunked {
				body = io.MultiReader(body) // unknown length: sent chunked
			}
			resp, err := http.Post(srv.URL+"/echo", "application/json", body)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()

			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantError != "" {
				if got := decode(t, resp.Body)["error"]; got != tt.wantError {
					t.Errorf("error = %q, want %q", got, tt.wantError)
				}
			} else if got, _ := io.ReadAll(resp.Body); string(got) != payload {
				t.Errorf("echo = %q, want %q", got, payload)
			}

			mu.Lock()
			defer mu.Unlock()
			switch {
			case tt.wantLength == 0 && len(lengths) != 0:
				t.Errorf("handler ran for a declared oversized body")
			case tt.wantLength != 0 && (len(lengths) != 1 || lengths[0] != tt.wantLength):
				t.Errorf("handler saw ContentLength %v, want [%d]", lengths, tt.wantLength)
			}
		})
	}
}

func TestPanicRecovery(t *testing.T) {
	g, logs := newGateway(t, nil, pingOK)
	g.Router().Get("/panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	g.Router().Get("/panic-late", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial")
		http.NewResponseController(w).Flush()
		panic("late boom")
	})
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)

	t.Run("before the response starts", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/panic", nil)
		req.Header.Set(gateway.RequestIDHeader, "panic-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("status = %d, want 500", resp.StatusCode)
		}
		if got := decode(t, resp.Body)["error"]; got != "internal server error" {
			t.Errorf("error = %q", got)
		}
		for _, want := range []string{`msg="panic serving request"`, "panic=boom", "request_id=panic-1", "stack=", "status=500"} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("log lacks %q:\n%s", want, logs)
			}
		}
	})

	t.Run("after the response started", func(t *testing.T) {
		resp, err := http.Get(srv.URL + "/panic-late")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if _, err := io.ReadAll(resp.Body); err == nil {
			t.Error("reading the body succeeded; want the connection aborted")
		}
	})

	t.Run("server still serves", func(t *testing.T) {
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("status = %d, want 200", resp.StatusCode)
		}
	})
}

// serve starts g on a fresh loopback listener and returns its address and
// Serve's result.
func serve(t *testing.T, ctx context.Context, g *gateway.Gateway) (addr string, served <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, ln) }()
	return ln.Addr().String(), done
}

// get runs an HTTP GET in a goroutine and delivers its outcome.
type result struct {
	status int
	body   string
	err    error
}

func get(client *http.Client, url string) <-chan result {
	out := make(chan result, 1)
	go func() {
		resp, err := client.Get(url)
		if err != nil {
			out <- result{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		out <- result{status: resp.StatusCode, body: string(body), err: err}
	}()
	return out
}

func TestServeDrainsInFlightRequest(t *testing.T) {
	g, logs := newGateway(t, nil, pingOK)
	started, release := make(chan struct{}), make(chan struct{})
	g.Router().Get("/slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "done")
	})
	shuttingDown := make(chan struct{})
	g.OnShutdown(func() { close(shuttingDown) })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, served := serve(t, ctx, g)

	slow := get(&http.Client{}, "http://"+addr+"/slow")
	<-started
	cancel()
	<-shuttingDown // the listener is closed by now

	// New connections are refused while the old request drains.
	noKeepAlive := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if r := <-get(noKeepAlive, "http://"+addr+"/healthz"); r.err == nil {
		t.Errorf("request during shutdown got %d, want a refused connection", r.status)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned (%v) while a request was in flight", err)
	default:
	}

	close(release)
	if r := <-slow; r.err != nil || r.status != http.StatusOK || r.body != "done" {
		t.Errorf("in-flight request = %+v, want 200 done", r)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v, want nil after a clean drain", err)
	}
	for _, want := range []string{`msg="shutting down"`, `msg="server stopped"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
}

func TestServeShutdownTimeout(t *testing.T) {
	g, _ := newGateway(t, func(c *config.Config) { c.ShutdownTimeout = 50 * time.Millisecond }, pingOK)
	started, handlerDone := make(chan struct{}), make(chan struct{})
	g.Router().Get("/stuck", func(w http.ResponseWriter, r *http.Request) {
		defer close(handlerDone)
		close(started)
		<-r.Context().Done() // only the end of the grace period releases it
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, served := serve(t, ctx, g)
	stuck := get(&http.Client{}, "http://"+addr+"/stuck")
	<-started
	cancel()

	if err := <-served; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Serve = %v, want context.DeadlineExceeded", err)
	}
	<-handlerDone // the handler's context was cancelled
	<-stuck
}

func TestRunLogsBoundAddress(t *testing.T) {
	g, logs := newGateway(t, func(c *config.Config) { c.Listen = "127.0.0.1:0" }, pingOK)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- g.Run(ctx) }()

	var addr string
	select {
	case addr = <-logs.listening:
	case err := <-ran:
		t.Fatalf("Run returned before listening: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatalf("no listening line logged:\n%s", logs)
	}
	if strings.HasSuffix(addr, ":0") {
		t.Fatalf("logged address %q is not the bound one", addr)
	}
	if r := <-get(&http.Client{}, "http://"+addr+"/readyz"); r.err != nil || r.status != http.StatusOK {
		t.Fatalf("GET /readyz = %+v", r)
	}
	cancel()
	if err := <-ran; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

func TestRunListenError(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	g, _ := newGateway(t, func(c *config.Config) { c.Listen = taken.Addr().String() }, pingOK)
	err = g.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "listen on "+taken.Addr().String()) {
		t.Fatalf("Run = %v, want a listen error", err)
	}
}
