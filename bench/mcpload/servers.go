package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/bench/internal/child"
	"github.com/parleyhq/parley/bench/internal/mcpclient"
	"github.com/parleyhq/parley/bench/internal/oidcissuer"
	"github.com/parleyhq/parley/bench/internal/parallel"
	"github.com/parleyhq/parley/bench/internal/shipped"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/internal/gcfloor"
	"github.com/parleyhq/parley/workspace"
)

// The servers run in child processes of their own (this program started
// again, see package child), so that each one's CPU time and memory are
// read from its process and not mixed with the clients'.
const (
	childParley = "mcpload-parley" // the gateway, app.Build from config.Default()
	childBare   = "mcpload-bare"   // the bare go-sdk server
)

// serveFuncs are the child processes this program can be.
var serveFuncs = map[string]child.Func{
	childParley: serveParley,
	childBare:   serveBare,
}

// benchRole is the role every client's token carries with auth on; the
// policy allows it get_ticket and save_ticket.
const benchRole = "mcpload-client"

// benchPolicy is the permission policy of the gateway with auth on.
var benchPolicy = config.PolicyRule{
	Name:  "mcpload-clients",
	Match: config.PolicyMatch{Role: benchRole},
	Allow: []string{auth.ToolPermission(toolGet), auth.ToolPermission(toolSave)},
}

// ready is what a server child reports: its /mcp URL.
type ready struct {
	URL string `json:"url"`
}

// serveParley is the gateway's child (shipped.ServeChild): config.Default()
// with the store (-store), a free port on 127.0.0.1 and, with -issuer,
// auth on with the bench's policy.
func serveParley(ctx context.Context, args []string, readyFn func(any) error) error {
	return shipped.ServeChild(ctx, childParley, args, readyFn, shipped.ChildOptions{Policy: []config.PolicyRule{benchPolicy}})
}

// serveBare is the bare server's child: newBareHandler over the tickets in
// -tickets (a JSON file), at /mcp, with the gateway's server timeouts.
func serveBare(ctx context.Context, args []string, readyFn func(any) error) error {
	fs := flag.NewFlagSet(childBare, flag.ContinueOnError)
	ticketsFile := fs.String("tickets", "", "tickets to serve (JSON)")
	gcFloor := fs.Int64("gc-floor", 0, "GC heap floor in bytes (0: Go's default pacing)")
	stopProfile, err := child.ParseFlags(fs, args)
	if err != nil {
		return err
	}
	defer stopProfile()
	defer gcfloor.Hold(*gcFloor)()
	data, err := os.ReadFile(*ticketsFile)
	if err != nil {
		return err
	}
	var tickets map[string]workspace.Ticket
	if err := json.Unmarshal(data, &tickets); err != nil {
		return fmt.Errorf("%s: %w", *ticketsFile, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", newBareHandler(tickets))
	return child.ServeHTTP(ctx, mux, func(base string) error {
		return readyFn(ready{URL: base + "/mcp"})
	})
}

// server is one server of a run, as the clients see it.
type server struct {
	name string
	url  string
	auth bool           // clients send a bearer token
	proc *child.Process // nil: not ours (-target)
	pid  int            // whose CPU and memory are read; 0: unknown
}

// env is what a run loads: the servers, the seeded ticket IDs, and with
// auth on the issuer of the clients' tokens.
type env struct {
	servers       []*server
	byName        map[string]*server
	ids           []string
	responseBytes map[string]int
	issuer        *oidcissuer.Issuer
	dir           string // temp dir: SQLite files, the bare server's tickets
	clients       mcpclient.HTTPClients
}

// httpClient is a new HTTP client for client i (-1: a probe) of s, with a
// connection pool of its own, as each MCP host process would have. It
// keeps enough idle connections for a session's standalone GET stream
// beside its POSTs. For a server with auth on, every request carries the
// client's bearer token (one per client, subject mcpload-i, signed once).
func (e *env) httpClient(s *server, i int) *http.Client {
	hc, err := e.clients.New(s.url, s.auth, i)
	if err != nil {
		panic(err) // marshalling a map of strings and numbers
	}
	return hc
}

// close stops what setup started.
func (e *env) close() error {
	var errs []error
	e.clients.CloseIdle()
	for _, s := range e.servers {
		if s.proc != nil {
			errs = append(errs, s.proc.Stop())
		}
	}
	if e.issuer != nil {
		errs = append(errs, e.issuer.Close())
	}
	if e.dir != "" {
		errs = append(errs, os.RemoveAll(e.dir))
	}
	return errors.Join(errs...)
}

// setup starts the servers of cfg (or reaches -target), seeds Parley's
// with tickets over MCP, starts the bare server holding the same tickets,
// checks that auth is enforced where it is on, and that every server
// answers get_ticket with results of the same size.
func setup(ctx context.Context, cfg *Config) (e *env, err error) {
	e = &env{ids: ticketIDs(cfg.Tickets), byName: map[string]*server{}, clients: mcpclient.HTTPClients{Subject: "mcpload", Role: benchRole}}
	started := e // the returns below set e to nil on failure
	defer func() {
		if err != nil {
			err = errors.Join(err, started.close())
		}
	}()
	if e.dir, err = os.MkdirTemp("", "mcpload-*"); err != nil {
		return nil, err
	}
	names := cfg.servers()
	for _, name := range names {
		if name == serverParleyAuth {
			if e.issuer, err = oidcissuer.Start(ctx); err != nil {
				return nil, err
			}
			e.clients.Issuer = e.issuer
			cfg.progress("OIDC issuer (RS256) at %s", e.issuer.URL)
		}
	}
	// Parley's servers first: the bare server serves what they store.
	for _, name := range names {
		if name == serverBare {
			continue
		}
		s := &server{name: name, auth: name == serverParleyAuth}
		if name == serverParley && cfg.Target != "" {
			s.url, s.pid = cfg.Target, cfg.TargetPID
		} else {
			args := []string{"-store", cfg.storeURL(name, e.dir)}
			if s.auth {
				args = append(args, "-issuer", e.issuer.URL)
			}
			args = append(args, cfg.childArgs(name)...)
			var r ready
			if s.proc, err = child.Start(ctx, childParley, args, cfg.Stderr, &r); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			s.url, s.pid = r.URL, s.proc.Pid
			e.addServer(s)
		}
		if s.proc == nil {
			e.addServer(s)
		}
		cfg.progress("%s at %s (pid %d): seeding %d tickets over MCP", name, s.url, s.pid, cfg.Tickets)
	}
	var tickets map[string]workspace.Ticket
	for _, s := range e.servers {
		t, err := seedOverMCP(ctx, cfg, e, s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		if tickets == nil {
			tickets = t
		}
		if s.auth {
			if err := checkAuthEnforced(ctx, cfg, e, s); err != nil {
				return nil, err
			}
		}
	}
	if cfg.Compare == compareBare {
		data, err := json.Marshal(tickets)
		if err != nil {
			return nil, err
		}
		file := filepath.Join(e.dir, "bare-tickets.json")
		if err := os.WriteFile(file, data, 0o600); err != nil {
			return nil, err
		}
		var r ready
		p, err := child.Start(ctx, childBare, append([]string{"-tickets", file, "-gc-floor", strconv.FormatInt(cfg.BareGCFloor, 10)}, cfg.childArgs(serverBare)...), cfg.Stderr, &r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", serverBare, err)
		}
		// The bare server is measured first in every round.
		e.servers = append([]*server{{name: serverBare, url: r.URL, proc: p, pid: p.Pid}}, e.servers...)
		e.byName[serverBare] = e.servers[0]
		cfg.progress("%s at %s (pid %d)", serverBare, r.URL, p.Pid)
	}

	e.responseBytes = map[string]int{}
	for _, s := range e.servers {
		n, err := resultSize(ctx, cfg, s.url, e.httpClient(s, -1), e.ids[0])
		if err != nil {
			return nil, fmt.Errorf("%s: get_ticket %s: %w", s.name, e.ids[0], err)
		}
		e.responseBytes[s.name] = n
	}
	return e, nil
}

func (e *env) addServer(s *server) {
	e.servers = append(e.servers, s)
	e.byName[s.name] = s
}

func ticketIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("LOAD-%05d", i)
	}
	return ids
}

// checkAuthEnforced makes sure auth is really on at s before it is
// measured: a request without a token, or with a token for another
// audience, is refused with 401 and a Bearer challenge.
func checkAuthEnforced(ctx context.Context, cfg *Config, e *env, s *server) error {
	cctx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
	defer cancel()
	wrong, err := e.issuer.Token("mcpload-intruder", "https://elsewhere.example.com/mcp", benchRole)
	if err != nil {
		return err
	}
	for _, tc := range []struct{ what, header string }{
		{"no token", ""},
		{"a token for another audience", "Bearer " + wrong},
	} {
		body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_ticket","arguments":{"ticket_id":"` + e.ids[0] + `"}}}`
		req, err := http.NewRequestWithContext(cctx, http.MethodPost, s.url, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Protocol-Version", mcpclient.StatelessVersion)
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("auth check (%s): %w", tc.what, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			return fmt.Errorf("%s: auth check: a request with %s got %s, want 401 with a Bearer challenge: auth is not on",
				s.name, tc.what, resp.Status)
		}
	}
	return nil
}

// seedTicket is the content of the i-th seeded ticket: realistic field
// sizes, varied categories, refunds below the confirmation threshold.
func seedTicket(i int) (customer, category, priority, summary string, refund float64) {
	categories := []string{"billing", "technical", "account"}
	customer = fmt.Sprintf("ACME-%05d", i)
	category = categories[i%len(categories)]
	priority = workspace.Priorities[i%len(workspace.Priorities)]
	summary = fmt.Sprintf("Customer %s reports being charged twice for the March invoice and asks for a refund of the duplicate payment.", customer)
	refund = float64(50 + i%400)
	return
}

// seedOverMCP saves the tickets on s with save_ticket and reads them back
// with get_ticket.
func seedOverMCP(ctx context.Context, cfg *Config, e *env, s *server) (map[string]workspace.Ticket, error) {
	const workers = 4
	css := make([]*mcp.ClientSession, workers)
	defer mcpclient.CloseAll(css)
	for i := range css {
		var err error
		if css[i], err = mcpclient.Connect(ctx, s.url, e.httpClient(s, -1), mcpclient.ModeStateless, "mcpload-seed"); err != nil {
			return nil, fmt.Errorf("connect to %s: %w", s.url, err)
		}
	}
	tickets := make(map[string]workspace.Ticket, len(e.ids))
	var mu sync.Mutex
	err := parallel.Run(ctx, len(e.ids), workers, func(ctx context.Context, i int) error {
		cs := css[i%workers]
		id := e.ids[i]
		customer, category, priority, summary, refund := seedTicket(i)
		args := map[string]any{"ticket_id": id, "customer": customer, "category": category,
			"priority": priority, "summary": summary, "refund_amount": refund}
		cctx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
		defer cancel()
		res, err := cs.CallTool(cctx, &mcp.CallToolParams{Name: toolSave, Arguments: args})
		if err == nil && res.IsError {
			err = errors.New(mcpclient.ResultText(res))
		}
		if err != nil {
			return fmt.Errorf("seed %s: %w", id, err)
		}
		if res, err = cs.CallTool(cctx, &mcp.CallToolParams{Name: toolGet, Arguments: ticketArgs{TicketID: id}}); err == nil && res.IsError {
			err = errors.New(mcpclient.ResultText(res))
		}
		if err != nil {
			return fmt.Errorf("seed %s: read back: %w", id, err)
		}
		var t workspace.Ticket
		data, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(data, &t); err != nil || t.ID != id {
			return fmt.Errorf("seed %s: read back %s: %v", id, data, err)
		}
		mu.Lock()
		tickets[t.ID] = t
		mu.Unlock()
		return nil
	})
	return tickets, err
}

// resultSize is the JSON size of one get_ticket result, as a stateless
// client sees it.
func resultSize(ctx context.Context, cfg *Config, endpoint string, hc *http.Client, id string) (int, error) {
	cctx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
	defer cancel()
	cs, err := mcpclient.Connect(cctx, endpoint, hc, mcpclient.ModeStateless, "mcpload-probe")
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
