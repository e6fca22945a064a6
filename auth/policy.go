package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/ext"

	"github.com/parleyhq/parley/config"
)

// Permission kinds, the part of a permission before the first colon.
const (
	KindTool  = "tool"
	KindAgent = "agent"
	KindAdmin = "admin"
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
)

var (
	agentActions = []string{AgentMessage, AgentNegotiate, AgentApprove}
	adminActions = []string{AdminListAgents, AdminGetAgent, AdminRegisterAgent, AdminReplaceAgent,
		AdminRefetchAgent, AdminApproveAgent, AdminRemoveAgent, AdminListAudit}
	reservedAdmin = []string{AdminRegisterAgent, AdminReplaceAgent, AdminRefetchAgent, AdminApproveAgent, AdminRemoveAgent}
)

// ToolPermission is the permission to call MCP tool name: "tool:NAME".
func ToolPermission(name string) string { return KindTool + ":" + name }

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
type Policy struct {
	rules []rule
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
	raw    string
	kind   string
	tool   string // tool
	agent  string // agent
	action string // agent, admin
}

func parsePermission(s string) (permission, error) {
	p := permission{raw: s}
	kind, rest, ok := strings.Cut(s, ":")
	if !ok || rest == "" {
		return p, errors.New("must be tool:NAME, agent:NAME:ACTION or admin:ACTION")
	}
	p.kind = kind
	switch kind {
	case KindTool:
		p.tool = rest
	case KindAgent:
		i := strings.LastIndex(rest, ":")
		if i <= 0 || i == len(rest)-1 {
			return p, errors.New("must be agent:NAME:ACTION")
		}
		p.agent, p.action = rest[:i], rest[i+1:]
	case KindAdmin:
		p.action = rest
	default:
		return p, fmt.Errorf("unknown kind %q (tool, agent, admin)", kind)
	}
	return p, nil
}

// permPattern is a permission in a rule: "*", or a permission whose
// parts may hold * wildcards.
type permPattern struct {
	all    bool
	kind   string
	name   string // tool or agent name glob
	action string // agent or admin action glob
}

func parsePattern(s string) (permPattern, error) {
	s = strings.TrimSpace(s)
	if s == "*" {
		return permPattern{all: true}, nil
	}
	kind, rest, ok := strings.Cut(s, ":")
	if !ok || rest == "" {
		return permPattern{}, errors.New(`must be "*", tool:NAME, agent:NAME:ACTION or admin:ACTION (a * matches anything)`)
	}
	pp := permPattern{kind: kind}
	switch kind {
	case KindTool:
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
		return pp, fmt.Errorf("unknown kind %q (tool, agent, admin)", kind)
	}
	return pp, nil
}

func (pp permPattern) matches(p permission) bool {
	if pp.all {
		return true
	}
	if pp.kind != p.kind {
		return false
	}
	switch p.kind {
	case KindTool:
		return glob(pp.name, p.tool)
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
