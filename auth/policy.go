package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/ext"

	"github.com/parleyhq/parley/config"
)

// Permission kinds, the part of a permission before the first colon.
const (
	KindTool   = "tool"
	KindPrompt = "prompt"
	// KindResource is the permission to use an upstream's resources:
	// "resource:UPSTREAM" lets a caller list, read, subscribe to and
	// complete the resources and resource templates upstream UPSTREAM
	// serves. Parley's own resources (ticket://, negotiation://,
	// status://) need none: every authenticated caller reads them.
	KindResource = "resource"
	KindAgent    = "agent"
	KindAdmin    = "admin"
	// KindUpstream is not a permission of its own but a pattern for rules:
	// "upstream:NAME" covers the tool:…, prompt:… and resource:…
	// permissions of every tool, prompt and resource that upstream NAME
	// serves (see Policy.SetUpstreams).
	KindUpstream = "upstream"
)

// Agent actions: agent:NAME:ACTION.
const (
	AgentMessage   = "message"   // send it messages (relays, agent tools)
	AgentNegotiate = "negotiate" // make it a negotiation participant
	AgentApprove   = "approve"   // make it a negotiation's approver
)

// Admin actions: admin:ACTION. Those marked reserved need an admin role
// whatever the policy says.
const (
	AdminListAgents    = "list_agents"
	AdminGetAgent      = "get_agent"
	AdminRegisterAgent = "register_agent" // reserved
	AdminReplaceAgent  = "replace_agent"  // reserved
	AdminRefetchAgent  = "refetch_agent"  // reserved
	AdminApproveAgent  = "approve_agent"  // reserved
	AdminRemoveAgent   = "remove_agent"   // reserved
	AdminListAudit     = "list_audit"

	AdminListUpstreams    = "list_upstreams"
	AdminGetUpstream      = "get_upstream"
	AdminRegisterUpstream = "register_upstream" // reserved: a stdio upstream runs a command on the gateway's host
	AdminRemoveUpstream   = "remove_upstream"   // reserved
	AdminApproveUpstream  = "approve_upstream"  // reserved

	// The support pipeline and the audit chain, as the admin UI shows
	// them. Deciding a negotiation also needs agent:NAME:approve on every
	// participant (package negotiation checks it).
	AdminListTickets       = "list_tickets"
	AdminGetTicket         = "get_ticket"
	AdminListNegotiations  = "list_negotiations"
	AdminGetNegotiation    = "get_negotiation"
	AdminDecideNegotiation = "decide_negotiation"
	AdminVerifyAudit       = "verify_audit"
	AdminWatchChanges      = "watch_changes"

	// AdminReadMetrics reads /metrics on the main listener: grant it to
	// the scraper's client (admin:read_metrics) rather than an admin role.
	AdminReadMetrics = "read_metrics"
)

var (
	agentActions = []string{AgentMessage, AgentNegotiate, AgentApprove}
	adminActions = []string{AdminListAgents, AdminGetAgent, AdminRegisterAgent, AdminReplaceAgent,
		AdminRefetchAgent, AdminApproveAgent, AdminRemoveAgent, AdminListAudit,
		AdminListUpstreams, AdminGetUpstream, AdminRegisterUpstream, AdminRemoveUpstream, AdminApproveUpstream, AdminReadMetrics,
		AdminListTickets, AdminGetTicket, AdminListNegotiations, AdminGetNegotiation, AdminDecideNegotiation,
		AdminVerifyAudit, AdminWatchChanges}
	reservedAdmin = []string{AdminRegisterAgent, AdminReplaceAgent, AdminRefetchAgent, AdminApproveAgent, AdminRemoveAgent,
		AdminRegisterUpstream, AdminRemoveUpstream, AdminApproveUpstream}
)

// ToolPermission is the permission to call MCP tool name: "tool:NAME".
func ToolPermission(name string) string { return KindTool + ":" + name }

// PromptPermission is the permission to get MCP prompt name (every prompt
// Parley serves is an upstream's): "prompt:NAME".
func PromptPermission(name string) string { return KindPrompt + ":" + name }

// ResourcePermission is the permission to use the resources upstream
// serves (list, read, subscribe, complete): "resource:UPSTREAM". Resources
// are granted per upstream, not per URI: URIs are the upstream's, open
// ended (templates), and not names a policy can list.
func ResourcePermission(upstream string) string { return KindResource + ":" + upstream }

// AgentPermission is the permission to act on agent name: "agent:NAME:ACTION".
func AgentPermission(name, action string) string { return KindAgent + ":" + name + ":" + action }

// AdminPermission is the permission for an admin action, given as an
// adminapi action constant ("agents.register" gives
// "admin:register_agent") or as an admin action name ("register_agent").
func AdminPermission(action string) string {
	if a, ok := adminAPIActions[action]; ok {
		action = a
	}
	return KindAdmin + ":" + action
}

// adminAPIActions maps adminapi's Action constants to admin actions.
var adminAPIActions = map[string]string{
	"agents.list":     AdminListAgents,
	"agents.get":      AdminGetAgent,
	"agents.register": AdminRegisterAgent,
	"agents.replace":  AdminReplaceAgent,
	"agents.refetch":  AdminRefetchAgent,
	"agents.approve":  AdminApproveAgent,
	"agents.remove":   AdminRemoveAgent,
	"audit.list":      AdminListAudit,

	"upstreams.list":     AdminListUpstreams,
	"upstreams.get":      AdminGetUpstream,
	"upstreams.register": AdminRegisterUpstream,
	"upstreams.remove":   AdminRemoveUpstream,
	"upstreams.approve":  AdminApproveUpstream,

	"tickets.list":        AdminListTickets,
	"tickets.get":         AdminGetTicket,
	"negotiations.list":   AdminListNegotiations,
	"negotiations.get":    AdminGetNegotiation,
	"negotiations.decide": AdminDecideNegotiation,
	"audit.verify":        AdminVerifyAudit,
	"changes.watch":       AdminWatchChanges,
}

// Names of the built-in rules that decisions can name.
const (
	RuleNoAuth            = "no-auth"             // no-auth mode: everything allowed
	RuleUnauthenticated   = "unauthenticated"     // no principal
	RuleAdminRole         = "admin-role"          // admin roles may perform every admin action
	RuleAdminRoleRequired = "admin-role-required" // a reserved admin action without an admin role
	RuleDefaultDeny       = "default-deny"        // no rule allowed it
)

var builtinRules = []string{RuleNoAuth, RuleUnauthenticated, RuleAdminRole, RuleAdminRoleRequired, RuleDefaultDeny}

// Decision is the outcome of a policy check. Rule names the rule that
// decided (a policy rule's name or one of the Rule* built-ins), for the
// audit log.
type Decision struct {
	Allowed bool
	Rule    string
	Reason  string
}

// DefaultCELCostLimit bounds the cost of one evaluation of a rule's CEL
// expression (cel-go's cost units: roughly one per operation, more for
// work proportional to the size of strings and lists).
const DefaultCELCostLimit = 10_000

// PolicyOptions tune NewPolicy.
type PolicyOptions struct {
	// CELCostLimit bounds each CEL evaluation; an expression that goes
	// over fails (and its rule does not allow). Default DefaultCELCostLimit.
	CELCostLimit uint64
}

// Policy maps principals to permissions. It is built once from the
// configuration and is safe for concurrent use.
//
// Whole upstreams. A rule's "upstream:NAME" (NAME may hold * wildcards;
// "upstream:*" is every upstream) covers tool:T and prompt:P for every
// tool T and prompt P that upstream NAME serves behind Parley now, by the
// names it serves them under (SetUpstreams tells the policy which those
// are), and resource:NAME, its resources. It is an alternative to naming
// them: it covers nothing else, not
// Parley's own tools, not the agent_* tools, and not a tool the upstream
// does not serve now (held back, down, or removed: nothing would answer
// it anyway). With deny it is one more pattern like the others, so the
// usual order decides:
//   - rules are tried in order and the first whose patterns cover the
//     permission (tool:, prompt:, resource: or upstream:) and whose match holds
//     decides: an earlier rule denying tool:github_delete_repo keeps that
//     one tool from a later rule's upstream:github, and an earlier rule
//     allowing tool:github_search for a role lets it through a later
//     rule's deny of upstream:github;
//   - within one rule, deny wins over allow: allow [upstream:github] with
//     deny [tool:github_delete_repo] grants every tool of github but that
//     one;
//   - "*" (everything) covers upstream tools and prompts as it covers the
//     rest.
//
// Resources. "resource:NAME" (NAME may hold * wildcards) grants the
// resources of the upstream registered as NAME: listing them, reading
// them, subscribing to them and completing their templates. A resource
// belongs to the upstream that serves its URI (SetUpstreams, with kind
// KindResource). Parley's own resources are not subject to the policy.
//
// CEL expressions see the upstream as request.upstream (absent for
// Parley's own tools), and a resource's URI as request.uri.
type Policy struct {
	rules []rule
	// usesUpstream: a rule has an upstream: pattern or a CEL expression,
	// so that deciding a tool or prompt permission needs its upstream.
	usesUpstream bool
	upstreams    atomic.Pointer[UpstreamLookup]
}

// UpstreamLookup names the upstream serving the tool (kind KindTool) or
// prompt (KindPrompt) Parley serves as name, or the resource URI or
// resource template (KindResource) name; ok is false for Parley's own and
// for names nothing serves. The MCP bridge's UpstreamOf is one.
type UpstreamLookup func(kind, name string) (upstream string, ok bool)

// SetUpstreams tells the policy which upstream serves which tool and
// prompt, for upstream:NAME patterns and request.upstream. Until it is
// called (or with nil) no tool or prompt belongs to an upstream: an
// upstream:NAME pattern covers nothing, so it grants nothing and its deny
// falls to later rules and the default (deny).
func (p *Policy) SetUpstreams(f UpstreamLookup) {
	if p == nil {
		return
	}
	if f == nil {
		p.upstreams.Store(nil)
		return
	}
	p.upstreams.Store(&f)
}

// UpstreamOf names the upstream serving the tool, prompt or resource
// (kind KindTool, KindPrompt, KindResource) name, by the lookup
// SetUpstreams gave; ok is false for Parley's own, for names nothing
// serves, and before SetUpstreams.
func (p *Policy) UpstreamOf(kind, name string) (upstream string, ok bool) {
	if p == nil {
		return "", false
	}
	f := p.upstreams.Load()
	if f == nil {
		return "", false
	}
	return (*f)(kind, name)
}

// upstreamOf is the upstream serving perm's tool or prompt, or whose
// resources perm grants, "" if none.
func (p *Policy) upstreamOf(perm permission) string {
	if perm.kind == KindResource {
		return perm.upstream // named by the permission itself
	}
	if p == nil || !p.usesUpstream {
		return ""
	}
	var name string
	switch perm.kind {
	case KindTool:
		name = perm.tool
	case KindPrompt:
		name = perm.prompt
	default:
		return ""
	}
	f := p.upstreams.Load()
	if f == nil {
		return ""
	}
	if u, ok := (*f)(perm.kind, name); ok {
		return u
	}
	return ""
}

type rule struct {
	name  string
	match config.PolicyMatch
	prog  cel.Program // nil without a CEL expression
	allow []permPattern
	deny  []permPattern
}

// NewPolicy compiles the configured rules. A rule that does not compile
// (a CEL expression that does not parse or type-check, an unknown
// permission) is an error naming the rule; all bad rules are reported.
func NewPolicy(rules []config.PolicyRule, opts PolicyOptions) (*Policy, error) {
	if opts.CELCostLimit == 0 {
		opts.CELCostLimit = DefaultCELCostLimit
	}
	env, err := cel.NewEnv(
		cel.Variable("claims", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("principal", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("request", cel.MapType(cel.StringType, cel.DynType)),
		ext.Strings(),
	)
	if err != nil {
		return nil, fmt.Errorf("auth: policy: CEL environment: %w", err)
	}
	p := &Policy{}
	var errs []error
	seen := map[string]bool{}
	for i, rc := range rules {
		r, err := compileRule(env, rc, opts)
		name := rc.Name
		if name == "" {
			name = fmt.Sprintf("#%d", i+1)
		}
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("auth: policy rule %q: %w", name, err))
			continue
		case seen[rc.Name]:
			errs = append(errs, fmt.Errorf("auth: policy rule %q: the name is used by an earlier rule", name))
			continue
		}
		seen[rc.Name] = true
		p.rules = append(p.rules, r)
		p.usesUpstream = p.usesUpstream || r.prog != nil ||
			slices.ContainsFunc(append(slices.Clip(r.allow), r.deny...), func(pp permPattern) bool { return pp.kind == KindUpstream })
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

func compileRule(env *cel.Env, rc config.PolicyRule, opts PolicyOptions) (rule, error) {
	r := rule{name: rc.Name, match: rc.Match}
	switch {
	case strings.TrimSpace(rc.Name) == "":
		return r, errors.New("a rule needs a name")
	case slices.Contains(builtinRules, rc.Name):
		return r, fmt.Errorf("the name is reserved for a built-in rule (%s)", strings.Join(builtinRules, ", "))
	}
	m := rc.Match
	if m.Subject == "" && m.Client == "" && m.Scope == "" && m.Role == "" && strings.TrimSpace(m.CEL) == "" {
		return r, errors.New("match sets none of subject, client, scope, role, cel (cel: 'true' matches every caller)")
	}
	if len(rc.Allow) == 0 && len(rc.Deny) == 0 {
		return r, errors.New("the rule allows and denies nothing")
	}
	for _, s := range rc.Allow {
		pp, err := parsePattern(s)
		if err != nil {
			return r, fmt.Errorf("allow %q: %w", s, err)
		}
		r.allow = append(r.allow, pp)
	}
	for _, s := range rc.Deny {
		pp, err := parsePattern(s)
		if err != nil {
			return r, fmt.Errorf("deny %q: %w", s, err)
		}
		r.deny = append(r.deny, pp)
	}
	if expr := strings.TrimSpace(m.CEL); expr != "" {
		ast, iss := env.Compile(expr)
		if iss.Err() != nil {
			return r, fmt.Errorf("cel: %w", iss.Err())
		}
		if t := ast.OutputType(); !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType) {
			return r, fmt.Errorf("cel: the expression is of type %s; it must be a boolean", t)
		}
		prog, err := env.Program(ast,
			cel.CostLimit(opts.CELCostLimit),
			cel.InterruptCheckFrequency(100),
			cel.EvalOptions(cel.OptOptimize),
		)
		if err != nil {
			return r, fmt.Errorf("cel: %w", err)
		}
		r.prog = prog
	}
	return r, nil
}

// Rules lists the names of the configured rules, in order.
func (p *Policy) Rules() []string {
	if p == nil {
		return nil
	}
	names := make([]string, len(p.rules))
	for i, r := range p.rules {
		names[i] = r.name
	}
	return names
}

// Decide says whether principal pr may have permission. request adds facts
// about the call for CEL rules (tool arguments, a ticket's fields); Decide
// fills in permission, kind, tool, agent and action from the permission
// where request does not set them. Rules are tried in order: the first
// whose permissions cover the permission (allow or deny) and whose match
// holds decides. Reserved admin actions need an admin role; admin roles
// may perform every admin action. Otherwise nothing is allowed (rule
// default-deny).
func (p *Policy) Decide(ctx context.Context, pr *Principal, permission string, request map[string]any) Decision {
	if pr == nil {
		return Decision{Rule: RuleUnauthenticated, Reason: "no authenticated caller"}
	}
	if pr.Anonymous {
		return Decision{Allowed: true, Rule: RuleNoAuth, Reason: "authentication is off"}
	}
	perm, err := parsePermission(permission)
	if err != nil {
		return Decision{Rule: RuleDefaultDeny, Reason: fmt.Sprintf("permission %q: %v", permission, err)}
	}
	if perm.kind == KindAdmin {
		if pr.Admin {
			return Decision{Allowed: true, Rule: RuleAdminRole, Reason: "admin role"}
		}
		if slices.Contains(reservedAdmin, perm.action) {
			return Decision{Rule: RuleAdminRoleRequired, Reason: permission + " needs an admin role"}
		}
	}

	perm.upstream = p.upstreamOf(perm)
	var act map[string]any // CEL activation, built on first use
	var evalErrs []string
	if p != nil {
		for _, r := range p.rules {
			denies := slices.ContainsFunc(r.deny, func(pp permPattern) bool { return pp.matches(perm) })
			allows := !denies && slices.ContainsFunc(r.allow, func(pp permPattern) bool { return pp.matches(perm) })
			if !denies && !allows {
				continue
			}
			matched, err := r.matches(ctx, pr, func() map[string]any {
				if act == nil {
					act = activation(pr, perm, request)
				}
				return act
			})
			if err != nil {
				if denies {
					// Fail closed: a deny rule that cannot be evaluated
					// denies.
					return Decision{Rule: r.name, Reason: fmt.Sprintf("rule %s denies %s (its expression failed: %v)", r.name, permission, err)}
				}
				evalErrs = append(evalErrs, fmt.Sprintf("rule %s: %v", r.name, err))
				continue
			}
			if !matched {
				continue
			}
			if denies {
				return Decision{Rule: r.name, Reason: fmt.Sprintf("rule %s denies %s", r.name, permission)}
			}
			return Decision{Allowed: true, Rule: r.name, Reason: fmt.Sprintf("rule %s allows %s", r.name, permission)}
		}
	}
	reason := "no rule allows " + permission
	if len(evalErrs) > 0 {
		reason += " (" + strings.Join(evalErrs, "; ") + ")"
	}
	return Decision{Rule: RuleDefaultDeny, Reason: reason}
}

// matches reports whether the rule applies to pr.
func (r rule) matches(ctx context.Context, pr *Principal, act func() map[string]any) (bool, error) {
	m := r.match
	if m.Subject != "" && m.Subject != pr.Subject {
		return false, nil
	}
	if m.Client != "" && m.Client != pr.ClientID {
		return false, nil
	}
	if m.Scope != "" && !pr.HasScope(m.Scope) {
		return false, nil
	}
	if m.Role != "" && !pr.HasRole(m.Role) {
		return false, nil
	}
	if r.prog == nil {
		return true, nil
	}
	out, _, err := r.prog.ContextEval(ctx, act())
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("the expression gave %v (%s), not a boolean", out.Value(), out.Type().TypeName())
	}
	return b, nil
}

// activation is what CEL expressions see.
func activation(pr *Principal, perm permission, request map[string]any) map[string]any {
	req := make(map[string]any, len(request)+4)
	for k, v := range request {
		req[k] = v
	}
	setDefault := func(k string, v string) {
		if _, ok := req[k]; !ok && v != "" {
			req[k] = v
		}
	}
	setDefault("permission", perm.raw)
	setDefault("kind", perm.kind)
	setDefault("tool", perm.tool)
	setDefault("prompt", perm.prompt)
	setDefault("upstream", perm.upstream)
	setDefault("agent", perm.agent)
	setDefault("action", perm.action)
	claims := pr.Claims
	if claims == nil {
		claims = map[string]any{}
	}
	return map[string]any{
		"claims": claims,
		"principal": map[string]any{
			"sub":    pr.Subject,
			"client": pr.ClientID,
			"iss":    pr.Issuer,
			"scopes": nonNil(pr.Scopes),
			"roles":  nonNil(pr.Roles),
			"admin":  pr.Admin,
		},
		"request": req,
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// permission is a parsed permission being decided.
type permission struct {
	raw      string
	kind     string
	tool     string // tool
	prompt   string // prompt
	agent    string // agent
	action   string // agent, admin
	upstream string // tool, prompt: the upstream serving it, if any; resource: the upstream named
}

func parsePermission(s string) (permission, error) {
	p := permission{raw: s}
	kind, rest, ok := strings.Cut(s, ":")
	if !ok || rest == "" {
		return p, errors.New("must be tool:NAME, prompt:NAME, resource:UPSTREAM, agent:NAME:ACTION or admin:ACTION")
	}
	p.kind = kind
	switch kind {
	case KindTool:
		p.tool = rest
	case KindPrompt:
		p.prompt = rest
	case KindResource:
		p.upstream = rest
	case KindAgent:
		i := strings.LastIndex(rest, ":")
		if i <= 0 || i == len(rest)-1 {
			return p, errors.New("must be agent:NAME:ACTION")
		}
		p.agent, p.action = rest[:i], rest[i+1:]
	case KindAdmin:
		p.action = rest
	default:
		return p, fmt.Errorf("unknown kind %q (tool, prompt, resource, agent, admin)", kind)
	}
	return p, nil
}

// permPattern is a permission in a rule: "*", or a permission whose
// parts may hold * wildcards.
type permPattern struct {
	all    bool
	kind   string
	name   string // tool, prompt, upstream or agent name glob; resource: upstream name glob
	action string // agent or admin action glob
}

func parsePattern(s string) (permPattern, error) {
	s = strings.TrimSpace(s)
	if s == "*" {
		return permPattern{all: true}, nil
	}
	kind, rest, ok := strings.Cut(s, ":")
	if !ok || rest == "" {
		return permPattern{}, errors.New(`must be "*", tool:NAME, prompt:NAME, resource:UPSTREAM, upstream:NAME, agent:NAME:ACTION or admin:ACTION (a * matches anything)`)
	}
	pp := permPattern{kind: kind}
	switch kind {
	case KindTool, KindPrompt:
		pp.name = rest
	case KindUpstream:
		if strings.Contains(rest, ":") {
			return pp, errors.New("must be upstream:NAME (every tool, prompt and resource of the upstream registered as NAME; upstream:* for every upstream)")
		}
		pp.name = rest
	case KindResource:
		if strings.Contains(rest, ":") {
			return pp, errors.New("must be resource:UPSTREAM (the resources of the upstream registered as UPSTREAM, not a URI; resource:* for every upstream's)")
		}
		pp.name = rest
	case KindAgent:
		if rest == "*" {
			pp.name, pp.action = "*", "*"
			break
		}
		i := strings.LastIndex(rest, ":")
		if i <= 0 || i == len(rest)-1 {
			return pp, fmt.Errorf("must be agent:NAME:ACTION with ACTION one of %s or * (agent:* for every agent and action)", strings.Join(agentActions, ", "))
		}
		pp.name, pp.action = rest[:i], rest[i+1:]
		if pp.action != "*" && !slices.Contains(agentActions, pp.action) {
			return pp, fmt.Errorf("unknown agent action %q (known: %s, *)", pp.action, strings.Join(agentActions, ", "))
		}
	case KindAdmin:
		pp.action = rest
		if !strings.Contains(rest, "*") && !slices.Contains(adminActions, rest) {
			return pp, fmt.Errorf("unknown admin action %q (known: %s, *)", rest, strings.Join(adminActions, ", "))
		}
	default:
		return pp, fmt.Errorf("unknown kind %q (tool, prompt, resource, upstream, agent, admin)", kind)
	}
	return pp, nil
}

func (pp permPattern) matches(p permission) bool {
	if pp.all {
		return true
	}
	if pp.kind == KindUpstream {
		// Only a tool or prompt an upstream serves now (p.upstream set),
		// or an upstream's resources.
		return (p.kind == KindTool || p.kind == KindPrompt || p.kind == KindResource) && p.upstream != "" && glob(pp.name, p.upstream)
	}
	if pp.kind != p.kind {
		return false
	}
	switch p.kind {
	case KindTool:
		return glob(pp.name, p.tool)
	case KindPrompt:
		return glob(pp.name, p.prompt)
	case KindResource:
		return glob(pp.name, p.upstream)
	case KindAgent:
		return glob(pp.name, p.agent) && glob(pp.action, p.action)
	case KindAdmin:
		return glob(pp.action, p.action)
	}
	return false
}

// glob matches s against pattern, where each * stands for any run of
// characters (including none) and nothing else is special.
func glob(pattern, s string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == s
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, last)
}
