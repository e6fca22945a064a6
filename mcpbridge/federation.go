package mcpbridge

// Federation: the tools, prompts, resources and resource templates of the
// upstream MCP servers Parley fronts (package upstream), mirrored into the
// bridge's own MCP server, so that one endpoint serves them all under the
// same auth, policy and audit as Parley's own tools.
//
// Mirroring follows the Manager's catalogs, never the upstreams
// themselves: tools/list is answered from what is mirrored, so an
// upstream that is down or slow never holds up a listing, and its tools
// leave (and come back) with list_changed notifications, which go-sdk
// sends when the server's lists change.
//
// Names. Tools and prompts take their upstream's exposed names
// (upstream.Spec.Exposed: "<upstream>_<name>", or their own with prefix
// never). Parley's own tools win over an upstream's, and of two upstreams
// serving one name the earlier registered keeps it; the other's is left
// out with a warning (registration refuses such collisions, so this only
// happens when an upstream's catalog changes after it was registered).
//
// Resources are routed by URI: an upstream's resources and resource
// templates keep their URIs, and a read, subscription or completion of a
// URI goes to the upstream that listed it (or whose template matches it).
// Parley's own schemes (ticket://, negotiation://, status://) are never
// served from an upstream, and of two upstreams listing one URI (or one
// template) the earlier registered serves it; the other's is left out
// with a warning.

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/yosida95/uritemplate/v3"

	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/upstream"
)

// federation mirrors the upstreams into b.server and forwards to them.
type federation struct {
	b      *Bridge
	m      *upstream.Manager
	log    *slog.Logger
	sealer stateSealer

	// ctx bounds the calls in flight to session upstreams (which may
	// outlive a host request); it ends when the bridge stops.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	conts     map[string]*continuation
	tools     map[string]*mirrored // by exposed name
	prompts   map[string]*mirrored // by exposed name
	resources map[string]*mirrored // by URI
	templates map[string]*mirrored // by URI template

	wmu    sync.Mutex
	warned map[string]bool // collisions already logged

	// started, if set, is called once a session upstream's call runs on
	// its goroutine, before the host request waits for it (a test hook).
	started func(*continuation)
}

// mirrored is one upstream tool, prompt, resource or template as the
// bridge's server serves it.
type mirrored struct {
	conn *upstream.Conn
	name string         // the upstream's tool or prompt name, or the URI (template)
	def  []byte         // what was added, to tell a change
	re   *regexp.Regexp // templates: what URIs it matches
}

func newFederation(b *Bridge, m *upstream.Manager) *federation {
	ctx, cancel := context.WithCancel(context.Background())
	return &federation{
		b: b, m: m, log: b.log.With("component", "federation"),
		sealer: newStateSealer(b.opts.StateKey, b.opts.Now, 15*time.Minute),
		ctx:    ctx, cancel: cancel,
		conts: map[string]*continuation{}, tools: map[string]*mirrored{}, prompts: map[string]*mirrored{},
		resources: map[string]*mirrored{}, templates: map[string]*mirrored{}, warned: map[string]bool{},
	}
}

// run mirrors the upstreams until ctx ends, then cancels the calls in
// flight and waits for them.
func (f *federation) run(ctx context.Context) {
	defer func() {
		f.cancel()
		f.wg.Wait()
	}()
	for {
		changed := f.m.Changed()
		f.sync()
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// ownScheme reports whether uri is one of Parley's own resources'.
func ownScheme(uri string) bool {
	return strings.HasPrefix(uri, ticketScheme) || strings.HasPrefix(uri, negotiationScheme) || strings.HasPrefix(uri, "status://")
}

// sync makes the server's mirrored lists what the upstreams serve now.
func (f *federation) sync() {
	local := map[string]bool{}
	for _, n := range f.b.LocalNames() {
		local[n] = true
	}
	wantTools := map[string]*mirrored{}
	toolDefs := map[string]*mcp.Tool{}
	wantPrompts := map[string]*mirrored{}
	promptDefs := map[string]*mcp.Prompt{}
	wantResources := map[string]*mirrored{}
	resourceDefs := map[string]*mcp.Resource{}
	wantTemplates := map[string]*mirrored{}
	templateDefs := map[string]*mcp.ResourceTemplate{}

	for _, conn := range f.m.Conns() {
		cat := conn.Catalog()
		if cat == nil {
			continue // down: its entries leave
		}
		conn.SetOnUpdate(f.resourceUpdated)
		spec := conn.Spec()
		for _, t := range cat.Tools {
			exposed := spec.Exposed(t.Name)
			if f.taken(conn, "tool", exposed, local[exposed] || strings.HasPrefix(exposed, "agent_"), wantTools[exposed]) {
				continue
			}
			if !objectSchema(t.InputSchema) {
				f.warnOnce(conn, "tool "+t.Name, "upstream tool left out: its input schema is not a JSON object schema")
				continue
			}
			def := *t
			def.Name = exposed
			wantTools[exposed] = &mirrored{conn: conn, name: t.Name, def: mustJSON(&def)}
			toolDefs[exposed] = &def
		}
		for _, p := range cat.Prompts {
			exposed := spec.Exposed(p.Name)
			if f.taken(conn, "prompt", exposed, local[exposed], wantPrompts[exposed]) {
				continue
			}
			def := *p
			def.Name = exposed
			wantPrompts[exposed] = &mirrored{conn: conn, name: p.Name, def: mustJSON(&def)}
			promptDefs[exposed] = &def
		}
		for _, r := range cat.Resources {
			if f.taken(conn, "resource", r.URI, ownScheme(r.URI), wantResources[r.URI]) {
				continue
			}
			wantResources[r.URI] = &mirrored{conn: conn, name: r.URI, def: mustJSON(r)}
			resourceDefs[r.URI] = r
		}
		for _, t := range cat.Templates {
			if f.taken(conn, "resource template", t.URITemplate, ownScheme(t.URITemplate), wantTemplates[t.URITemplate]) {
				continue
			}
			tmpl, err := uritemplate.New(t.URITemplate)
			if err != nil {
				f.warnOnce(conn, "template "+t.URITemplate, "upstream resource template left out: it does not parse")
				continue
			}
			wantTemplates[t.URITemplate] = &mirrored{conn: conn, name: t.URITemplate, def: mustJSON(t), re: tmpl.Regexp()}
			templateDefs[t.URITemplate] = t
		}
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.b.server
	if gone := stale(f.tools, wantTools); len(gone) > 0 {
		s.RemoveTools(gone...)
	}
	for name, m := range fresh(f.tools, wantTools) {
		if !f.addTool(toolDefs[name], m) {
			delete(wantTools, name)
		}
	}
	f.tools = wantTools
	if gone := stale(f.prompts, wantPrompts); len(gone) > 0 {
		s.RemovePrompts(gone...)
	}
	for name, m := range fresh(f.prompts, wantPrompts) {
		s.AddPrompt(promptDefs[name], f.promptHandler(m.conn, m.name))
	}
	f.prompts = wantPrompts
	if gone := stale(f.resources, wantResources); len(gone) > 0 {
		s.RemoveResources(gone...)
	}
	for uri, m := range fresh(f.resources, wantResources) {
		s.AddResource(resourceDefs[uri], f.resourceHandler(m.conn))
	}
	f.resources = wantResources
	if gone := stale(f.templates, wantTemplates); len(gone) > 0 {
		s.RemoveResourceTemplates(gone...)
	}
	for tmpl, m := range fresh(f.templates, wantTemplates) {
		s.AddResourceTemplate(templateDefs[tmpl], f.resourceHandler(m.conn))
	}
	f.templates = wantTemplates
}

// addTool adds a mirrored tool; go-sdk panics on a definition it cannot
// serve, which must not take the gateway down.
func (f *federation) addTool(t *mcp.Tool, m *mirrored) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			f.warnOnce(m.conn, "tool "+m.name, "upstream tool left out: the gateway cannot serve its definition")
			ok = false
		}
	}()
	f.b.server.AddTool(t, f.toolHandler(m.conn, m.name, t.Annotations != nil && t.Annotations.ReadOnlyHint))
	return true
}

// taken reports whether name cannot be served from conn: Parley's own
// (reserved), or an earlier upstream's (prev).
func (f *federation) taken(conn *upstream.Conn, what, name string, reserved bool, prev *mirrored) bool {
	switch {
	case reserved:
		f.warnOnce(conn, what+" "+name, "upstream "+what+" left out: the name is Parley's own")
		return true
	case prev != nil:
		f.warnOnce(conn, what+" "+name, "upstream "+what+" left out: an earlier registered upstream ("+prev.conn.Name()+") serves the same name")
		return true
	}
	return false
}

func (f *federation) warnOnce(conn *upstream.Conn, key, msg string) {
	key = conn.Name() + " " + key
	f.wmu.Lock()
	seen := f.warned[key]
	f.warned[key] = true
	f.wmu.Unlock()
	if !seen {
		f.log.Warn(msg, "upstream", conn.Name(), "name", strings.SplitN(key, " ", 3)[2])
	}
}

// stale lists the entries of have that want drops or changes.
func stale(have, want map[string]*mirrored) []string {
	var out []string
	for name, h := range have {
		if w, ok := want[name]; !ok || w.conn != h.conn || string(w.def) != string(h.def) {
			out = append(out, name)
		}
	}
	return out
}

// fresh lists the entries of want that have lacks or has otherwise.
func fresh(have, want map[string]*mirrored) map[string]*mirrored {
	out := map[string]*mirrored{}
	for name, w := range want {
		if h, ok := have[name]; !ok || w.conn != h.conn || string(w.def) != string(h.def) {
			out[name] = w
		}
	}
	return out
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// objectSchema reports whether s is a JSON schema of type object, which
// go-sdk requires of a tool's input.
func objectSchema(s any) bool {
	var m map[string]any
	b, err := json.Marshal(s)
	if err != nil || json.Unmarshal(b, &m) != nil {
		return false
	}
	return m["type"] == "object"
}

func rand16() string { return rand.Text()[:16] }

// toolHandler forwards calls of a mirrored tool. readOnly: its
// definition, as served (pinned), is annotated readOnlyHint, and its
// calls are audited as reads (see AuditMiddleware). A changed definition
// is a new handler: the tool is removed and added again.
func (f *federation) toolHandler(conn *upstream.Conn, name string, readOnly bool) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if readOnly {
			markUpstreamRead(ctx)
		}
		op := &upstreamOp{conn: conn, method: "tools/call", name: name, args: req.Params.Arguments,
			meta: req.Params.Meta, responses: req.Params.InputResponses}
		res, err := f.forward(ctx, req, req.ClientCapabilities(), op, req.Params.RequestState)
		if err != nil {
			msg, rpcErr := f.hostError(ctx, conn, err)
			if rpcErr != nil {
				return nil, rpcErr
			}
			return upstreamToolError(msg), nil
		}
		return res.(*mcp.CallToolResult), nil
	}
}

// promptHandler forwards prompts/get of a mirrored prompt.
func (f *federation) promptHandler(conn *upstream.Conn, name string) mcp.PromptHandler {
	return func(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		op := &upstreamOp{conn: conn, method: "prompts/get", name: name, pargs: req.Params.Arguments,
			meta: req.Params.Meta, responses: req.Params.InputResponses}
		res, err := f.forward(ctx, req, req.ClientCapabilities(), op, req.Params.RequestState)
		if err != nil {
			return nil, f.rpcError(ctx, conn, err)
		}
		return res.(*mcp.GetPromptResult), nil
	}
}

// resourceHandler forwards resources/read of a mirrored resource, or of
// a URI a mirrored template matches.
func (f *federation) resourceHandler(conn *upstream.Conn) mcp.ResourceHandler {
	return func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		op := &upstreamOp{conn: conn, method: "resources/read", name: req.Params.URI,
			meta: req.Params.Meta, responses: req.Params.InputResponses}
		res, err := f.forward(ctx, req, req.ClientCapabilities(), op, req.Params.RequestState)
		if err != nil {
			return nil, f.rpcError(ctx, conn, err)
		}
		return res.(*mcp.ReadResourceResult), nil
	}
}

// rpcError is hostError for methods without tool results.
func (f *federation) rpcError(ctx context.Context, conn *upstream.Conn, err error) error {
	msg, rpcErr := f.hostError(ctx, conn, err)
	if rpcErr != nil {
		return rpcErr
	}
	return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: msg}
}

// owner is the upstream serving uri: the one that listed it (as a
// resource, or as a template: a completion's ref names the template),
// else the one whose template matches it.
func (f *federation) owner(uri string) *upstream.Conn {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m := f.resources[uri]; m != nil {
		return m.conn
	}
	if m := f.templates[uri]; m != nil {
		return m.conn
	}
	for _, m := range f.templates {
		if m.re.MatchString(uri) {
			return m.conn
		}
	}
	return nil
}

// subscribe subscribes to an upstream's resource; handled is false for a
// URI no upstream serves.
func (f *federation) subscribe(ctx context.Context, uri string) (handled bool, err error) {
	conn := f.owner(uri)
	if conn == nil {
		return false, nil
	}
	audit.NoteDetail(ctx, "upstream", conn.Name()) // for the request's audit record
	if err := conn.Subscribe(ctx, uri); err != nil {
		return true, f.rpcError(ctx, conn, err)
	}
	return true, nil
}

func (f *federation) unsubscribe(ctx context.Context, uri string) (handled bool, err error) {
	conn := f.owner(uri)
	if conn == nil {
		return false, nil
	}
	audit.NoteDetail(ctx, "upstream", conn.Name())
	if err := conn.Unsubscribe(ctx, uri); err != nil {
		return true, f.rpcError(ctx, conn, err)
	}
	return true, nil
}

// resourceUpdated passes an upstream's resources/updated on to the
// server's subscribers.
func (f *federation) resourceUpdated(uri string) {
	if err := f.b.server.ResourceUpdated(f.ctx, &mcp.ResourceUpdatedNotificationParams{URI: uri}); err != nil && f.ctx.Err() == nil {
		f.log.Warn("notify resource subscribers", "uri", uri, "error", err)
	}
}

// complete routes completion/complete: a prompt's by its exposed name, a
// resource template's by the template (or a URI) to the upstream serving
// it. Anything else has no completions.
func (f *federation) complete(ctx context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
	empty := &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: []string{}}}
	if req.Params == nil || req.Params.Ref == nil {
		return empty, nil
	}
	ref := *req.Params.Ref
	var conn *upstream.Conn
	f.mu.Lock()
	switch ref.Type {
	case "ref/prompt":
		if m := f.prompts[ref.Name]; m != nil {
			conn, ref.Name = m.conn, m.name
		}
	case "ref/resource":
		if m := f.templates[ref.URI]; m != nil {
			conn = m.conn
		} else if m := f.resources[ref.URI]; m != nil {
			conn = m.conn
		}
	}
	f.mu.Unlock()
	if conn == nil {
		return empty, nil
	}
	audit.NoteDetail(ctx, "upstream", conn.Name())
	caps := req.ClientCapabilities()
	l, err := conn.Acquire(ctx, caps, directSink{hostFor(ctx, req, caps)})
	if err != nil {
		return nil, f.rpcError(ctx, conn, err)
	}
	res, err := l.Session().Complete(ctx, &mcp.CompleteParams{
		Meta:     outboundMeta(ctx, req.Params.Meta, caps, conn.Generation(), requestGen(req)),
		Argument: req.Params.Argument, Context: req.Params.Context, Ref: &ref,
	})
	l.Release(err)
	if err != nil {
		return nil, f.rpcError(ctx, conn, err)
	}
	return &mcp.CompleteResult{Meta: cleanMeta(res.Meta), Completion: res.Completion}, nil
}

// LocalNames are the names of Parley's own tools and prompts, which no
// upstream may take (upstream.ManagerOptions.Local).
func (b *Bridge) LocalNames() []string {
	var out []string
	b.args.mu.Lock()
	for name := range b.args.schemas {
		out = append(out, name)
	}
	b.args.mu.Unlock()
	b.agentTools.mu.Lock()
	for name := range b.agentTools.hash {
		out = append(out, name)
	}
	b.agentTools.mu.Unlock()
	return out
}

// UpstreamOf names the upstream serving the tool (kind auth.KindTool) or
// prompt (auth.KindPrompt) the bridge serves as name, or the resource URI
// or resource template name (auth.KindResource): the policy's lookup for
// upstream:NAME and resource:UPSTREAM permissions
// (auth.Policy.SetUpstreams). It answers
// from what is mirrored now, so Parley's own tools and the agent_* tools
// (never mirrored) belong to no upstream, and neither does a tool its
// upstream does not serve now (down, held back, removed).
func (b *Bridge) UpstreamOf(kind, name string) (string, bool) {
	f := b.fed
	if f == nil {
		return "", false
	}
	if kind == auth.KindResource {
		if ownScheme(name) {
			return "", false
		}
		if conn := f.owner(name); conn != nil {
			return conn.Name(), true
		}
		return "", false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var m *mirrored
	switch kind {
	case auth.KindTool:
		m = f.tools[name]
	case auth.KindPrompt:
		m = f.prompts[name]
	}
	if m == nil {
		return "", false
	}
	return m.conn.Name(), true
}
