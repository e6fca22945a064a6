package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/mcpbridge"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/postgres"
	"github.com/parleyhq/parley/store/sqlite"
	"github.com/parleyhq/parley/workspace"
)

// The gateway's server timeouts (gateway/gateway.go), used for both
// servers so that they differ only in what serves /mcp.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
)

// env is what a run loads: the servers' /mcp URLs (Parley's and the bare
// server's, or Parley's with auth off and on), the seeded ticket IDs, and
// for -compare auth the issuer of the clients' tokens.
type env struct {
	urls          map[string]string // by server name
	ids           []string
	responseBytes map[string]int
	closers       []func()
	issuer        *issuer // -compare auth

	mu         sync.Mutex
	transports []*http.Transport
	tokens     map[int]string // by client index, for serverAuthOn
}

func (e *env) endpoint(server string) string { return e.urls[server] }

// httpClient is a new HTTP client for client number i (-1: a probe) of
// server, with a connection pool of its own, as each MCP host process
// would have: clients do not queue behind each other on one pool's lock.
// It keeps enough idle connections for a session's standalone GET stream
// beside its POSTs (http.DefaultTransport keeps two per host). For the
// server with auth on, every request carries the client's bearer token
// (one per client, subject mcpload-i, signed once).
func (e *env) httpClient(server string, i int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 8
	e.mu.Lock()
	defer e.mu.Unlock()
	e.transports = append(e.transports, tr)
	if server != serverAuthOn || e.issuer == nil {
		return &http.Client{Transport: tr}
	}
	tok, ok := e.tokens[i]
	if !ok {
		subject := fmt.Sprintf("mcpload-%d", i)
		if i < 0 {
			subject = "mcpload-probe"
		}
		var err error
		if tok, err = e.issuer.token(subject, e.urls[serverAuthOn]); err != nil {
			panic(err) // marshalling a map of strings and numbers
		}
		if e.tokens == nil {
			e.tokens = map[int]string{}
		}
		e.tokens[i] = tok
	}
	return &http.Client{Transport: &bearer{header: "Bearer " + tok, next: tr}}
}

// close stops what setup started, last first.
func (e *env) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
}

// setup starts (or reaches) Parley, seeds it, and starts what it is
// compared with: for -compare bare, copies Parley's tickets into the bare
// server's map and starts the bare server; for -compare auth, starts the
// OIDC issuer first and Parley twice over the same store (auth off and on),
// and checks that auth is enforced on the second. Then it checks that every
// server answers get_ticket with results of the same size.
func setup(ctx context.Context, cfg *Config) (e *env, err error) {
	e = &env{ids: ticketIDs(cfg.Tickets), urls: map[string]string{}}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	e.closers = append(e.closers, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, tr := range e.transports {
			tr.CloseIdleConnections()
		}
	})

	if cfg.Compare == compareAuth {
		iss, err := startIssuer()
		if err != nil {
			return nil, err
		}
		e.closers = append(e.closers, iss.stop)
		e.issuer = iss
		cfg.progress("OIDC issuer (RS256) at %s", iss.url)
	}

	var tickets map[string]workspace.Ticket
	if cfg.Target == "" {
		p, err := startParley(ctx, cfg, e.issuer)
		if err != nil {
			return nil, err
		}
		e.closers = append(e.closers, p.close)
		maps.Copy(e.urls, p.urls)
		cfg.progress("parley: %s store, seeding %d tickets through the workspace", cfg.Store, cfg.Tickets)
		if tickets, err = seedWorkspace(ctx, p.ws, e.ids); err != nil {
			return nil, err
		}
	} else {
		e.urls[serverParley] = cfg.Target
		cfg.progress("parley at %s: seeding %d tickets over MCP", cfg.Target, cfg.Tickets)
		if tickets, err = seedOverMCP(ctx, cfg, e, e.ids); err != nil {
			return nil, err
		}
	}

	switch cfg.Compare {
	case compareAuth:
		cfg.progress("parley /mcp with auth off at %s, with auth on at %s", e.urls[serverAuthOff], e.urls[serverAuthOn])
		if err := checkAuthEnforced(ctx, cfg, e); err != nil {
			return nil, err
		}
	default:
		bareURL, stop, err := serve(serverBare, newBareHandler(tickets))
		if err != nil {
			return nil, err
		}
		e.closers = append(e.closers, stop)
		e.urls[serverBare] = bareURL
		cfg.progress("parley /mcp at %s, bare go-sdk server at %s", e.urls[serverParley], bareURL)
	}

	e.responseBytes = map[string]int{}
	for _, server := range cfg.servers() {
		n, err := resultSize(ctx, cfg, e.endpoint(server), e.httpClient(server, -1), e.ids[0])
		if err != nil {
			return nil, fmt.Errorf("%s: get_ticket %s: %w", server, e.ids[0], err)
		}
		e.responseBytes[server] = n
	}
	return e, nil
}

func ticketIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("LOAD-%05d", i)
	}
	return ids
}

// serve serves h at /mcp on a fresh loopback port with the gateway's server
// settings (see serveOn).
func serve(name string, h http.Handler) (url string, stop func(), err error) {
	ln, err := listen(name)
	if err != nil {
		return "", nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", h)
	return "http://" + ln.Addr().String() + "/mcp", serveOn(name, ln, mux), nil
}

// listen opens a fresh loopback port for the server called name.
func listen(name string) (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("%s: listen: %w", name, err)
	}
	return ln, nil
}

// serveOn serves h on ln with the gateway's server settings until stop is
// called. Its goroutines carry the profiler labels role=server and
// target=name (connection goroutines inherit them from the accept loop).
func serveOn(name string, ln net.Listener, h http.Handler) (stop func()) {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          log.New(discard{}, "", 0),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		pprof.Do(context.Background(), pprof.Labels("role", "server", "target", name), func(context.Context) {
			_ = srv.Serve(ln)
		})
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close() // a stream still open: cut it
		}
		<-done
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// parley is the in-process gateway's MCP side: one /mcp per server of the
// comparison (serverParley; or serverAuthOff and serverAuthOn), each its
// own bridge over the one store and workspace.
type parley struct {
	urls  map[string]string
	url   string // the first server's
	ws    *workspace.Workspace
	close func()
}

// startParley opens the store (a fresh SQLite file in a temp dir, or
// PostgreSQL) and serves /mcp for each server of cfg's comparison: a
// bridge built as cmd/gateway builds it (session streams in the store's
// durable event store, unless cfg.Events is "memory", the bridge's own
// default) that follows the change feed. With -compare auth, one bridge
// has auth in front in no-auth mode (auth off, as the gateway runs without
// an issuer) and the other with iss as its issuer (auth on), both wired as
// serve.go wires them.
func startParley(ctx context.Context, cfg *Config, iss *issuer) (p *parley, err error) {
	var (
		closers []func()
		st      store.Store
	)
	p = &parley{urls: map[string]string{}, close: func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	switch cfg.Store {
	case "postgres":
		s, err := postgres.Open(ctx, cfg.PostgresURL, postgres.Options{})
		if err != nil {
			return nil, err
		}
		st = s
	default:
		dir, err := os.MkdirTemp("", "mcpload-*")
		if err != nil {
			return nil, err
		}
		closers = append(closers, func() { os.RemoveAll(dir) })
		s, err := sqlite.Open(ctx, filepath.Join(dir, "parley.db"), sqlite.Options{Readers: cfg.SQLiteReaders})
		if err != nil {
			return nil, err
		}
		st = s
	}
	closers = append(closers, func() { st.Close() })
	p.ws = workspace.New(st, workspace.Options{})

	runCtx, stopRun := context.WithCancel(context.Background())
	var runs sync.WaitGroup
	closers = append(closers, func() { stopRun(); runs.Wait() })
	for _, server := range cfg.servers() {
		if server == serverBare {
			continue
		}
		var (
			opts   mcpbridge.Options
			events *mcpbridge.EventStore
		)
		if cfg.Events != eventsMemory {
			events = mcpbridge.NewEventStore(st, mcpbridge.EventStoreOptions{})
			opts.EventStore = events
		}
		bridge, err := mcpbridge.New(p.ws, st, opts)
		if err != nil {
			return nil, err
		}
		background := func(run func(context.Context) error) {
			runs.Go(func() {
				pprof.Do(runCtx, pprof.Labels("role", "server", "target", server), func(ctx context.Context) {
					_ = run(ctx)
				})
			})
		}
		background(bridge.Run)
		if events != nil {
			background(events.Run) // the sweeper, as cmd/gateway runs it
		}
		ln, err := listen(server)
		if err != nil {
			return nil, err
		}
		var h http.Handler = bridge
		switch server {
		case serverAuthOff, serverAuthOn:
			a := authSetup{tokenCache: !cfg.NoTokenCache, audit: cfg.Audit}
			if server == serverAuthOn {
				a.issuer = iss
			}
			authn, auditLog, err := newAuthService(ctx, a, "http://"+ln.Addr().String(), st)
			if err != nil {
				ln.Close()
				return nil, fmt.Errorf("%s: %w", server, err)
			}
			if authn.Enabled() != (server == serverAuthOn) {
				ln.Close()
				return nil, fmt.Errorf("%s: auth enabled = %t", server, authn.Enabled())
			}
			if !cfg.Audit {
				auditLog = nil
			}
			h = withAuth(authn, bridge, auditLog)
		}
		mux := http.NewServeMux()
		mux.Handle("/mcp", h)
		closers = append(closers, serveOn(server, ln, mux))
		p.urls[server] = "http://" + ln.Addr().String() + "/mcp"
		if p.url == "" {
			p.url = p.urls[server]
		}
	}
	return p, nil
}

// seedTicket is the content of the i-th seeded ticket: realistic field
// sizes, varied categories.
func seedTicket(i int) (customer, category, priority, summary string, refund float64) {
	categories := []string{"billing", "technical", "account"}
	customer = fmt.Sprintf("ACME-%05d", i)
	category = categories[i%len(categories)]
	priority = workspace.Priorities[i%len(workspace.Priorities)]
	summary = fmt.Sprintf("Customer %s reports being charged twice for the March invoice and asks for a refund of the duplicate payment.", customer)
	refund = float64(50 + i%400)
	return
}

// seedWorkspace writes the tickets through the workspace, a few writers at
// a time, and returns them as stored.
func seedWorkspace(ctx context.Context, ws *workspace.Workspace, ids []string) (map[string]workspace.Ticket, error) {
	tickets := make(map[string]workspace.Ticket, len(ids))
	var mu sync.Mutex
	err := parallel(ctx, len(ids), 4, func(ctx context.Context, i int) error {
		customer, category, priority, summary, refund := seedTicket(i)
		t, _, err := ws.SaveTicket(ctx, "mcpload", workspace.TicketInput{ID: ids[i], Customer: &customer,
			Category: &category, Priority: &priority, Summary: &summary, RefundAmount: &refund})
		if err != nil {
			return fmt.Errorf("seed %s: %w", ids[i], err)
		}
		// What get_ticket returns: the stored record, read back.
		if t, err = ws.GetTicket(ctx, t.ID); err != nil {
			return fmt.Errorf("seed %s: read back: %w", ids[i], err)
		}
		mu.Lock()
		tickets[t.ID] = t
		mu.Unlock()
		return nil
	})
	return tickets, err
}

// seedOverMCP saves the tickets on a running gateway with save_ticket and
// reads them back with get_ticket.
func seedOverMCP(ctx context.Context, cfg *Config, e *env, ids []string) (map[string]workspace.Ticket, error) {
	const workers = 4
	css := make([]*mcp.ClientSession, workers)
	defer closeAll(css)
	for i := range css {
		var err error
		if css[i], err = connect(ctx, e.urls[serverParley], e.httpClient(serverParley, -1), cfg.Modes[0], "mcpload-seed"); err != nil {
			return nil, fmt.Errorf("connect to %s: %w", e.urls[serverParley], err)
		}
	}
	tickets := make(map[string]workspace.Ticket, len(ids))
	var mu sync.Mutex
	err := parallel(ctx, len(ids), workers, func(ctx context.Context, i int) error {
		cs := css[i%workers]
		customer, category, priority, summary, refund := seedTicket(i)
		args := map[string]any{"ticket_id": ids[i], "customer": customer, "category": category,
			"priority": priority, "summary": summary, "refund_amount": refund}
		cctx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
		defer cancel()
		res, err := cs.CallTool(cctx, &mcp.CallToolParams{Name: toolSave, Arguments: args})
		if err == nil && res.IsError {
			err = errors.New(resultText(res))
		}
		if err != nil {
			return fmt.Errorf("seed %s: %w", ids[i], err)
		}
		if res, err = cs.CallTool(cctx, &mcp.CallToolParams{Name: toolGet, Arguments: ticketArgs{TicketID: ids[i]}}); err == nil && res.IsError {
			err = errors.New(resultText(res))
		}
		if err != nil {
			return fmt.Errorf("seed %s: read back: %w", ids[i], err)
		}
		var t workspace.Ticket
		data, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(data, &t); err != nil || t.ID != ids[i] {
			return fmt.Errorf("seed %s: read back %s: %v", ids[i], data, err)
		}
		mu.Lock()
		tickets[t.ID] = t
		mu.Unlock()
		return nil
	})
	return tickets, err
}

// parallel runs f(0..n-1) on at most workers goroutines and returns the
// first error.
func parallel(ctx context.Context, n, workers int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := f(ctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}

// resultSize is the JSON size of one get_ticket result, as a stateless
// client sees it.
func resultSize(ctx context.Context, cfg *Config, endpoint string, hc *http.Client, id string) (int, error) {
	cctx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
	defer cancel()
	cs, err := connect(cctx, endpoint, hc, cfg.Modes[0], "mcpload-probe")
	if err != nil {
		return 0, err
	}
	defer cs.Close()
	res, err := cs.CallTool(cctx, &mcp.CallToolParams{Name: toolGet, Arguments: ticketArgs{TicketID: id}})
	if err != nil {
		return 0, err
	}
	if err := checkTicket(res, id, func(m map[string]any) any { return m["id"] }); err != nil {
		return 0, err
	}
	data, err := json.Marshal(res)
	return len(data), err
}

// moduleVersion is the version of the module at path in this binary.
func moduleVersion(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, m := range bi.Deps {
		if m.Path == path {
			return "go-sdk " + m.Version
		}
	}
	return ""
}
