// Package hostclient is an MCP host client for people and scripts: the
// logic behind "gateway client". It connects to an MCP server over
// Streamable HTTP with go-sdk's mcp client and either runs an interactive
// prompt ([Client.Run]) or makes one tool call ([Client.Call]).
//
// While a request runs it prints progress and log messages as they
// arrive, asks elicitation questions at the prompt and answers sampling
// requests (by asking the person, or with a scripted reply). Everything
// goes through the io.Reader and io.Writers in [Options], so it runs the
// same in tests as at a terminal.
//
// # Sessions and resuming
//
// With a session-based protocol version (2025-11-25 and older) and a
// state file, [Client.Run] saves the session (URL, session ID, protocol
// version, the last event ID of the standalone stream, the server's
// initialize result and the subscribed URIs) and does not end the session
// when it quits. The next Run for the same URL asks the server, with a
// ping on that session, whether it still knows it:
//
//   - If it does, the session is adopted without a new initialize, and
//     the standalone GET stream is reopened with Last-Event-ID, so that
//     what the server sent meanwhile (resource updates, say) is replayed,
//     if the server keeps an event store.
//   - If it does not (HTTP 404, e.g. after a server restart: sessions live
//     in the server's memory), a new session is started, the client says
//     so, and it subscribes again to the saved URIs.
//
// go-sdk v1.8.0 cannot do the first part by itself (its client always
// initializes a new session and keeps event IDs to itself); see
// sessionTransport for what this package adds. Requests that were in
// flight when the earlier process stopped are not resumed: their
// responses belong to a JSON-RPC connection that no longer exists.
//
// The stateless protocol (2026-07-28) has no session, so nothing is saved.
//
// # Input
//
// Elicitation and sampling questions read from the same input as the
// prompt, in order: a line typed (or scripted) while a call runs answers
// the call's next question. [Client.Call] reads its answers from
// Options.In too (stdin for "gateway client call"), so a script can pipe
// them in; when the input ends, an elicitation is cancelled and a
// sampling request is refused.
package hostclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Options configure a Client.
type Options struct {
	// URL is the MCP endpoint, e.g. http://127.0.0.1:8080/mcp.
	URL string
	// Token, if set, is sent as "Authorization: Bearer <Token>" on every
	// request.
	Token string
	// ProtocolVersion pins the protocol version to ask for (for example
	// "2025-11-25"). Empty lets the SDK negotiate: it tries the stateless
	// 2026-07-28 first and falls back to 2025-11-25.
	ProtocolVersion string
	// SamplingReply, if set, answers every sampling request with this
	// text (model "parley-client/scripted") instead of asking.
	SamplingReply string
	// StatePath is where Run keeps the session for the next run. Empty
	// disables that: the session ends when Run returns. Call never uses
	// it.
	StatePath string
	// LogLevel is the least severe server log level to show; "info" when
	// empty.
	LogLevel string
	// In is where commands and answers are read, one per line.
	In io.Reader
	// Out gets results, and in Run also prompts and notifications.
	Out io.Writer
	// Err gets errors and tool error results, and in Call also prompts
	// and notifications (so that Out holds only the result).
	Err io.Writer
	// HTTPClient, if set, is the base HTTP client. It should have no
	// overall Timeout: streams stay open for long.
	HTTPClient *http.Client
	// ClientVersion is the version reported in the client's
	// implementation info.
	ClientVersion string
}

// ErrToolError is returned by Call when the tool's result has isError set.
var ErrToolError = errors.New("the tool reported an error")

const connectTimeout = 30 * time.Second

var logLevels = []string{"debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"}

var versionPattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// A Client is a connection, made on demand, from a person or a script to
// an MCP server. Use one Client for one Run or Call at a time.
type Client struct {
	opts     Options
	logLevel mcp.LoggingLevel
	in       *lineBroker
	out      io.Writer // results
	errOut   io.Writer // errors
	ui       io.Writer // prompts, notifications, notes
	http     *http.Client
	mcp      *mcp.Client
	promptMu sync.Mutex // one question (form, sampling) at a time
	seq      atomic.Int64

	mu         sync.Mutex
	session    *mcp.ClientSession
	conn       *sessionConn
	state      *State // the kept session, or nil
	saveFailed bool
}

// New makes a Client. It does not connect yet.
func New(opts Options) (*Client, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("the URL must be an http or https address, got %q", opts.URL)
	}
	if opts.ProtocolVersion != "" && !versionPattern.MatchString(opts.ProtocolVersion) {
		return nil, fmt.Errorf("a protocol version looks like 2025-11-25, got %q", opts.ProtocolVersion)
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "info"
	}
	if !slices.Contains(logLevels, opts.LogLevel) {
		return nil, fmt.Errorf("log level %q is not one of %s", opts.LogLevel, strings.Join(logLevels, ", "))
	}
	if opts.In == nil {
		opts.In = strings.NewReader("")
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Err == nil {
		opts.Err = io.Discard
	}
	if opts.ClientVersion == "" {
		opts.ClientVersion = "dev"
	}
	var hc http.Client
	if opts.HTTPClient != nil {
		hc = *opts.HTTPClient
	}
	if opts.Token != "" {
		hc.Transport = &BearerTransport{Token: opts.Token, Base: hc.Transport}
	}
	mu := new(sync.Mutex) // one lock for both writers keeps lines whole
	c := &Client{
		opts:     opts,
		logLevel: mcp.LoggingLevel(opts.LogLevel),
		in:       newLineBroker(opts.In),
		out:      syncWriter{mu, opts.Out},
		errOut:   syncWriter{mu, opts.Err},
		http:     &hc,
	}
	c.ui = c.out
	c.mcp = mcp.NewClient(&mcp.Implementation{Name: "parley-client", Version: opts.ClientVersion}, &mcp.ClientOptions{
		// No roots; forms and URLs for elicitation; sampling is implied
		// by the handler.
		Capabilities: &mcp.ClientCapabilities{
			Elicitation: &mcp.ElicitationCapabilities{
				Form: &mcp.FormElicitationCapabilities{},
				URL:  &mcp.URLElicitationCapabilities{},
			},
		},
		ElicitationHandler:          c.elicit,
		CreateMessageHandler:        c.sample,
		ProgressNotificationHandler: c.onProgress,
		LoggingMessageHandler:       c.onLog,
		ResourceUpdatedHandler:      c.onUpdated,
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			fmt.Fprintln(c.ui, "[tools changed]")
		},
	})
	return c, nil
}

// CheckArguments validates tool arguments given as JSON text: an object,
// or empty for none.
func CheckArguments(s string) (json.RawMessage, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return json.RawMessage("{}"), nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("the arguments must be a JSON object, got %q", s)
	}
	return json.RawMessage(s), nil
}

// Call connects, calls the tool name with args (a JSON object; nil means
// none), prints the result and disconnects, ending the session. A result
// with isError set is printed to Err and returned as ErrToolError.
// Questions from the server are answered from Options.In.
func (c *Client) Call(ctx context.Context, name string, args json.RawMessage) error {
	if name == "" {
		return errors.New("no tool name")
	}
	args, err := CheckArguments(string(args))
	if err != nil {
		return err
	}
	c.ui = c.errOut
	if err := c.connect(ctx, false); err != nil {
		return err
	}
	defer c.disconnect(false)
	res, err := c.callTool(ctx, name, args)
	if err != nil {
		return err
	}
	c.printResult(res, false)
	if res.IsError {
		return ErrToolError
	}
	return nil
}

// Run connects and runs the prompt until "quit", the end of the input or
// the end of ctx. With a state file it resumes the saved session when it
// can, and keeps the session for the next run when it returns.
func (c *Client) Run(ctx context.Context) error {
	c.ui = c.out
	keep := c.opts.StatePath != ""
	if err := c.connect(ctx, keep); err != nil {
		return err
	}
	defer c.disconnect(keep)
	fmt.Fprintln(c.ui, `type "help" for the commands`)
	for {
		fmt.Fprint(c.ui, "> ")
		line, err := c.in.next(ctx, false)
		if err != nil {
			fmt.Fprintln(c.ui)
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if c.sessionLost() {
			if err := c.reconnect(ctx, keep); err != nil {
				return err
			}
		}
		if quit := c.exec(ctx, line); quit {
			return nil
		}
		if c.sessionLost() {
			if err := c.reconnect(ctx, keep); err != nil {
				return err
			}
			fmt.Fprintln(c.ui, "[session] run the command again")
		}
	}
}

// CleanState forgets the saved session: it deletes the state file and,
// when the file is for this client's URL, ends the session on the server
// (best effort). It returns the session ID forgotten, "" if there was
// none.
func (c *Client) CleanState(ctx context.Context) (string, error) {
	if c.opts.StatePath == "" {
		return "", errors.New("no state file")
	}
	st, err := LoadState(c.opts.StatePath)
	if err != nil {
		// Unreadable: still remove it.
		st = nil
	}
	removed, rmErr := RemoveState(c.opts.StatePath)
	if rmErr != nil {
		return "", rmErr
	}
	if !removed || st == nil {
		return "", nil
	}
	// Send our token only to the server it is meant for.
	if st.URL == c.opts.URL && st.SessionID != "" {
		_ = endSession(ctx, c.http, st)
	}
	return st.SessionID, nil
}

// connect opens a session: the saved one when keep is set and the server
// still knows it, otherwise a new one.
func (c *Client) connect(ctx context.Context, keep bool) error {
	var prev, resume *State
	if keep {
		st, err := LoadState(c.opts.StatePath)
		if err != nil {
			c.notef("[session] ignoring the state file: %v", err)
		}
		prev = st
		resume = c.resumable(ctx, st)
	}
	tr := &sessionTransport{cfg: connConfig{
		url:         c.opts.URL,
		http:        c.http,
		resume:      resume,
		keepSession: keep,
		onEventID:   c.persist,
		notef:       c.notef,
	}}
	sameURL := prev != nil && prev.URL == c.opts.URL
	version := c.opts.ProtocolVersion
	switch {
	case resume != nil:
		version = resume.ProtocolVersion
	case version == "" && sameURL && sessionBased(prev.ProtocolVersion):
		// A new session in place of a lost one: keep to the protocol
		// the saved one used, rather than negotiate a stateless one.
		version = prev.ProtocolVersion
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	cs, err := c.mcp.Connect(cctx, tr, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", c.opts.URL, err)
	}
	initRes := cs.InitializeResult()
	negotiated := initRes.ProtocolVersion
	sid := cs.ID()

	c.mu.Lock()
	c.session, c.conn, c.state = cs, tr.conn, nil
	c.mu.Unlock()

	if resume != nil {
		c.notef("[session] resumed session %s (protocol %s)", sid, negotiated)
	} else {
		server := "the server"
		if initRes.ServerInfo != nil && initRes.ServerInfo.Name != "" {
			server = initRes.ServerInfo.Name
			if initRes.ServerInfo.Version != "" {
				server += " " + initRes.ServerInfo.Version
			}
		}
		if sid != "" {
			c.notef("[session] connected to %s, session %s (protocol %s)", server, sid, negotiated)
		} else {
			c.notef("[session] connected to %s (protocol %s, no session)", server, negotiated)
		}
	}

	if keep && sessionBased(negotiated) && sid != "" {
		initJSON, _ := json.Marshal(initRes)
		st := &State{URL: c.opts.URL, SessionID: sid, ProtocolVersion: negotiated, Server: initJSON}
		if resume != nil {
			st.Subscriptions = resume.Subscriptions
		}
		c.mu.Lock()
		c.state = st
		c.mu.Unlock()
		c.persist()
	} else if keep && sameURL {
		if _, err := RemoveState(c.opts.StatePath); err == nil {
			c.notef("[session] protocol %s has no session to keep; forgot the saved one", negotiated)
		}
	}
	if resume == nil && sameURL {
		for _, uri := range prev.Subscriptions {
			if err := c.subscribe(ctx, uri); err != nil {
				c.notef("[session] cannot subscribe again to %s: %v", uri, err)
			} else {
				c.notef("[session] subscribed again to %s", uri)
			}
		}
	}

	if sessionBased(negotiated) && initRes.Capabilities != nil && initRes.Capabilities.Logging != nil {
		if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: c.logLevel}); err != nil {
			c.notef("[session] cannot set the log level: %v", err)
		}
	}
	return nil
}

// resumable returns st if its session can be resumed, saying why not
// otherwise.
func (c *Client) resumable(ctx context.Context, st *State) *State {
	if st == nil || st.SessionID == "" || !sessionBased(st.ProtocolVersion) {
		return nil
	}
	if st.URL != c.opts.URL {
		c.notef("[session] the saved session is for %s, not %s; starting a new session", st.URL, c.opts.URL)
		return nil
	}
	if v := c.opts.ProtocolVersion; v != "" && v != st.ProtocolVersion {
		c.notef("[session] the saved session uses protocol %s, not %s; starting a new session", st.ProtocolVersion, v)
		return nil
	}
	alive, why, err := probeSession(ctx, c.http, st)
	if err != nil {
		c.notef("[session] cannot check the saved session %s: %v", st.SessionID, err)
		return nil
	}
	if !alive {
		c.notef("[session] the saved session %s is gone (%s); starting a new session", st.SessionID, why)
		return nil
	}
	return st
}

// persist writes the kept session's state, with the latest event ID.
func (c *Client) persist() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == nil || c.opts.StatePath == "" {
		return
	}
	if c.conn != nil {
		c.state.LastEventID = c.conn.LastEventID()
	}
	c.state.SavedAt = time.Now().UTC().Truncate(time.Second)
	if err := SaveState(c.opts.StatePath, c.state); err != nil && !c.saveFailed {
		c.saveFailed = true
		c.notef("[session] cannot save the state file: %v", err)
	}
}

func (c *Client) disconnect(keep bool) {
	c.mu.Lock()
	cs, st := c.session, c.state
	c.session = nil
	c.mu.Unlock()
	if cs == nil {
		return
	}
	_ = cs.Close()
	// After Close the standalone stream has stopped: its last event ID
	// is final.
	c.persist()
	if keep && st != nil {
		c.notef("[session] kept session %s for the next run (clean-state forgets it)", st.SessionID)
	}
}

func (c *Client) sessionLost() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn != nil && c.conn.sessionGone.Load()
}

// reconnect replaces a session the server has forgotten.
func (c *Client) reconnect(ctx context.Context, keep bool) error {
	c.mu.Lock()
	cs := c.session
	c.session = nil
	c.mu.Unlock()
	if cs != nil {
		if !keep {
			c.notef("[session] the server no longer knows session %s; starting a new session", cs.ID())
		}
		_ = cs.Close()
	}
	return c.connect(ctx, keep)
}

func (c *Client) currentSession() (*mcp.ClientSession, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session == nil {
		return nil, errors.New("not connected")
	}
	return c.session, nil
}

func (c *Client) notef(format string, args ...any) {
	fmt.Fprintf(c.ui, format+"\n", args...)
}

// exec runs one prompt command and reports whether to quit.
func (c *Client) exec(ctx context.Context, line string) bool {
	cmd, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	rest = strings.TrimSpace(rest)
	var err error
	switch cmd {
	case "":
	case "help", "?":
		c.help()
	case "quit", "exit":
		return true
	case "list":
		err = c.list(ctx)
	case "call":
		name, args, _ := strings.Cut(rest, " ")
		if name == "" {
			err = errors.New(`usage: call NAME {"arg": "value"}`)
			break
		}
		var raw json.RawMessage
		if raw, err = CheckArguments(args); err != nil {
			break
		}
		var res *mcp.CallToolResult
		if res, err = c.callTool(ctx, name, raw); err == nil {
			c.printResult(res, true)
		}
	case "read":
		if rest == "" {
			err = errors.New("usage: read URI")
			break
		}
		err = c.read(ctx, rest)
	case "subscribe":
		if rest == "" {
			err = errors.New("usage: subscribe URI")
			break
		}
		if err = c.subscribe(ctx, rest); err == nil {
			fmt.Fprintf(c.ui, "subscribed to %s\n", rest)
		}
	case "unsubscribe":
		if rest == "" {
			err = errors.New("usage: unsubscribe URI")
			break
		}
		if err = c.unsubscribe(ctx, rest); err == nil {
			fmt.Fprintf(c.ui, "unsubscribed from %s\n", rest)
		}
	default:
		err = fmt.Errorf("unknown command %q; type help", cmd)
	}
	if err != nil {
		fmt.Fprintf(c.errOut, "error: %v\n", err)
	}
	return false
}

const helpText = `commands:
  list                 the server's tools, resources and resource templates
  call NAME [JSON]     call a tool; JSON is an object of arguments (default {})
  read URI             read a resource
  subscribe URI        print [updated] when the resource changes
  unsubscribe URI      stop printing its updates
  help                 this text
  quit                 leave (Ctrl-D too); a kept session is resumed next time
While a call runs, the server may ask questions (elicitation: answer each
field, then accept, decline or cancel) or ask for a model reply (sampling:
type it, or /decline). Progress and log messages are printed as they arrive.
`

func (c *Client) help() { fmt.Fprint(c.ui, helpText) }

// callTool calls a tool with a progress token, so that the server sends
// progress notifications.
func (c *Client) callTool(ctx context.Context, name string, args json.RawMessage) (*mcp.CallToolResult, error) {
	cs, err := c.currentSession()
	if err != nil {
		return nil, err
	}
	params := &mcp.CallToolParams{Name: name, Arguments: args, Meta: mcp.Meta{}}
	params.SetProgressToken(fmt.Sprintf("parley-client-%d", c.seq.Add(1)))
	if !sessionBased(cs.InitializeResult().ProtocolVersion) {
		// No session log level in the stateless protocol: ask per request.
		params.Meta[mcp.MetaKeyLogLevel] = c.logLevel
	}
	return cs.CallTool(ctx, params)
}

func (c *Client) read(ctx context.Context, uri string) error {
	cs, err := c.currentSession()
	if err != nil {
		return err
	}
	res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
	if err != nil {
		return err
	}
	for _, rc := range res.Contents {
		if len(res.Contents) > 1 {
			fmt.Fprintf(c.out, "%s (%s):\n", rc.URI, rc.MIMEType)
		}
		switch {
		case rc.Text != "" && strings.Contains(rc.MIMEType, "json") && json.Valid([]byte(rc.Text)):
			writeJSON(c.out, json.RawMessage(rc.Text))
		case rc.Text != "":
			fmt.Fprintln(c.out, rc.Text)
		case len(rc.Blob) > 0:
			fmt.Fprintf(c.out, "[%s, %d bytes]\n", rc.MIMEType, len(rc.Blob))
		default:
			fmt.Fprintln(c.out, "(empty)")
		}
	}
	return nil
}

func (c *Client) subscribe(ctx context.Context, uri string) error {
	cs, err := c.currentSession()
	if err != nil {
		return err
	}
	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri}); err != nil {
		return err
	}
	c.mu.Lock()
	changed := c.state != nil && !slices.Contains(c.state.Subscriptions, uri)
	if changed {
		c.state.Subscriptions = append(c.state.Subscriptions, uri)
	}
	c.mu.Unlock()
	if changed {
		c.persist()
	}
	return nil
}

func (c *Client) unsubscribe(ctx context.Context, uri string) error {
	cs, err := c.currentSession()
	if err != nil {
		return err
	}
	if err := cs.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: uri}); err != nil {
		return err
	}
	c.mu.Lock()
	if c.state != nil {
		c.state.Subscriptions = slices.DeleteFunc(c.state.Subscriptions, func(s string) bool { return s == uri })
	}
	c.mu.Unlock()
	c.persist()
	return nil
}

func (c *Client) list(ctx context.Context) error {
	cs, err := c.currentSession()
	if err != nil {
		return err
	}
	caps := cs.InitializeResult().Capabilities
	if caps == nil {
		caps = &mcp.ServerCapabilities{}
	}
	if caps.Tools != nil {
		fmt.Fprintln(c.out, "tools:")
		for t, err := range cs.Tools(ctx, nil) {
			if err != nil {
				return err
			}
			fmt.Fprintf(c.out, "  %s %s", t.Name, argSummary(t.InputSchema))
			if d := firstLine(t.Description); d != "" {
				fmt.Fprintf(c.out, "  %s", d)
			}
			fmt.Fprintln(c.out)
		}
	}
	if caps.Resources != nil {
		fmt.Fprintln(c.out, "resources:")
		for r, err := range cs.Resources(ctx, nil) {
			if err != nil {
				return err
			}
			fmt.Fprintf(c.out, "  %s  %s\n", r.URI, firstLine(firstNonEmpty(r.Title, r.Name, r.Description)))
		}
		fmt.Fprintln(c.out, "resource templates:")
		for r, err := range cs.ResourceTemplates(ctx, nil) {
			if err != nil {
				return err
			}
			fmt.Fprintf(c.out, "  %s  %s\n", r.URITemplate, firstLine(firstNonEmpty(r.Title, r.Name, r.Description)))
		}
	}
	return nil
}

// argSummary renders a tool's input schema as {id*: string, note: string}
// (* = required).
func argSummary(schema any) string {
	data, err := json.Marshal(schema)
	if err != nil {
		return "{}"
	}
	var s struct {
		Properties map[string]struct {
			Type any `json:"type"`
		} `json:"properties"`
		Required []string `json:"required"`
	}
	if json.Unmarshal(data, &s) != nil || len(s.Properties) == 0 {
		return "{}"
	}
	names := make([]string, 0, len(s.Properties))
	for name := range s.Properties {
		names = append(names, name)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, name := range names {
		star := ""
		if slices.Contains(s.Required, name) {
			star = "*"
		}
		typ := "any"
		switch t := s.Properties[name].Type.(type) {
		case string:
			typ = t
		case []any: // e.g. ["null", "integer"]: show the non-null types
			var types []string
			for _, x := range t {
				if x, ok := x.(string); ok && x != "null" {
					types = append(types, x)
				}
			}
			if len(types) > 0 {
				typ = strings.Join(types, "|")
			}
		}
		parts[i] = fmt.Sprintf("%s%s: %s", name, star, typ)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 100 {
		s = s[:97] + "..."
	}
	return s
}

// firstNonEmpty returns the first non-empty string.
func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// printResult prints a tool result: the structured content as indented
// JSON when there is one, else each content block (text as text,
// resource links as "→ uri", others as indented JSON). An error result
// goes to Err.
func (c *Client) printResult(res *mcp.CallToolResult, interactive bool) {
	w := c.out
	if res.IsError {
		w = c.errOut
		if interactive {
			fmt.Fprintln(w, "[tool error]")
		}
	}
	if res.StructuredContent != nil {
		writeJSON(w, res.StructuredContent)
		return
	}
	if len(res.Content) == 0 {
		writeJSON(w, []any{})
		return
	}
	for _, block := range res.Content {
		switch b := block.(type) {
		case *mcp.TextContent:
			fmt.Fprintln(w, b.Text)
		case *mcp.ResourceLink:
			if label := firstNonEmpty(b.Title, b.Name); label != "" && label != b.URI {
				fmt.Fprintf(w, "→ %s (%s)\n", b.URI, label)
			} else {
				fmt.Fprintf(w, "→ %s\n", b.URI)
			}
		default:
			writeJSON(w, b)
		}
	}
}

func writeJSON(w io.Writer, v any) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		fmt.Fprintf(w, "(unprintable: %v)\n", err)
		return
	}
	fmt.Fprintf(w, "%s\n", data)
}

func (c *Client) onProgress(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
	p := req.Params
	frac := fmt.Sprintf("%g", p.Progress)
	if p.Total > 0 {
		frac += fmt.Sprintf("/%g", p.Total)
	}
	if p.Message != "" {
		fmt.Fprintf(c.ui, "[progress %s] %s\n", frac, p.Message)
	} else {
		fmt.Fprintf(c.ui, "[progress %s]\n", frac)
	}
}

func (c *Client) onLog(_ context.Context, req *mcp.LoggingMessageRequest) {
	p := req.Params
	var text string
	switch d := p.Data.(type) {
	case string:
		text = d
	default:
		data, _ := json.Marshal(d)
		text = string(data)
	}
	if p.Logger != "" {
		text = p.Logger + ": " + text
	}
	fmt.Fprintf(c.ui, "[log %s] %s\n", p.Level, text)
}

func (c *Client) onUpdated(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
	fmt.Fprintf(c.ui, "[updated] %s\n", req.Params.URI)
}
