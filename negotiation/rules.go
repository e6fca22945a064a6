package negotiation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/ext"

	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/workspace"
)

// DefaultRuleCostLimit bounds the cost of one evaluation of one rule
// expression (a condition or a term) in cel-go's cost units: roughly one
// per operation, more for work proportional to the size of strings and
// lists.
const DefaultRuleCostLimit = 10_000

// Rules are the compiled escalation rules. They are safe for concurrent
// use.
type Rules struct {
	rules []*compiledRule
	limit uint64
}

// RuleOptions tune compilation.
type RuleOptions struct {
	// CostLimit bounds each evaluation of one expression; one that goes
	// over fails (and its rule does not match). Default
	// DefaultRuleCostLimit.
	CostLimit uint64
}

// Match is a rule that holds for a ticket: what to start.
type Match struct {
	Rule string
	// Participants in turn order: the rule's, rotated so that the opener
	// is first.
	Participants []string
	// Question is the rule's question template executed for the ticket,
	// or, when the rule has none, a question built from the ticket id, the
	// rule and the terms.
	Question string
	// Terms is a JSON object: each term's name and the value of its CEL
	// expression for the ticket (numbers as JSON numbers). {} without
	// terms.
	Terms     json.RawMessage
	MaxRounds int
	Deadline  time.Duration
	// Fallback is deny, approve or ask_human.
	Fallback string
}

type compiledRule struct {
	cfg      config.Rule // with defaults applied
	when     cel.Program
	terms    []compiledTerm // sorted by name
	question *template.Template
}

type compiledTerm struct {
	name string
	prog cel.Program
}

// ruleTicketVar is the variable rule expressions see: the ticket as stored,
// as a map with its JSON field names.
const ruleTicketVar = "ticket"

// CompileRules compiles every rule (config defaults applied). The error
// names the first bad rule and field: `rule "refund-over-limit": when:
// <CEL error>`. A condition must be of type bool (or dyn, checked when it
// runs); term expressions must compile; fields of ticket that a
// condition or a term selects must exist (a misspelt field would
// otherwise fail every evaluation); the question template (text/template
// with the function money, over .ticket, .terms and .rule) must parse and
// execute against an example ticket with every field set, with
// missingkey=error, so that typos stop start-up rather than every
// negotiation.
func CompileRules(rules []config.Rule, opts RuleOptions) (*Rules, error) {
	if opts.CostLimit == 0 {
		opts.CostLimit = DefaultRuleCostLimit
	}
	env, err := cel.NewEnv(
		cel.Variable(ruleTicketVar, cel.MapType(cel.StringType, cel.DynType)),
		ext.Strings(),
	)
	if err != nil {
		return nil, fmt.Errorf("negotiation: rules: CEL environment: %w", err)
	}
	out := &Rules{limit: opts.CostLimit}
	seen := make(map[string]bool)
	for i, rc := range rules {
		name := rc.Name
		if name == "" {
			name = fmt.Sprintf("#%d", i+1)
		}
		if err := rc.Validate(); err != nil {
			return nil, fmt.Errorf("rule %q: %w", name, err)
		}
		if seen[rc.Name] {
			return nil, fmt.Errorf("rule %q: name: used by an earlier rule", name)
		}
		seen[rc.Name] = true
		r, err := compileRule(env, rc.WithDefaults(), opts)
		if err != nil {
			return nil, fmt.Errorf("rule %q: %w", name, err)
		}
		out.rules = append(out.rules, r)
	}
	return out, nil
}

func compileRule(env *cel.Env, rc config.Rule, opts RuleOptions) (*compiledRule, error) {
	r := &compiledRule{cfg: rc}
	var err error
	if r.when, err = compileExpr(env, rc.When, opts, true); err != nil {
		return nil, fmt.Errorf("when: %w", err)
	}
	for _, name := range slices.Sorted(maps.Keys(rc.Terms)) {
		prog, err := compileExpr(env, rc.Terms[name], opts, false)
		if err != nil {
			return nil, fmt.Errorf("terms.%s: %w", name, err)
		}
		r.terms = append(r.terms, compiledTerm{name: name, prog: prog})
	}
	if strings.TrimSpace(rc.Question) != "" {
		t, err := template.New(rc.Name).Option("missingkey=error").Funcs(questionFuncs).Parse(rc.Question)
		if err != nil {
			return nil, fmt.Errorf("question: %w", err)
		}
		r.question = t
		// Execute it once on the example ticket, with the terms as they
		// come out for it; a term that fails there (its expression depends
		// on values the example does not have) stands in as 0.
		ex := exampleTicketMap()
		terms := make(map[string]any, len(r.terms))
		for _, tm := range r.terms {
			v, err := evalTerm(context.Background(), tm.prog, map[string]any{ruleTicketVar: ex})
			if err != nil {
				v = 0.0
			}
			terms[tm.name] = v
		}
		if _, err := r.render(ex, terms); err != nil {
			return nil, fmt.Errorf("question: on an example ticket: %w", err)
		}
	}
	return r, nil
}

// compileExpr compiles one CEL expression over ticket; a condition must
// be of type bool or dyn.
func compileExpr(env *cel.Env, expr string, opts RuleOptions, condition bool) (cel.Program, error) {
	a, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	if t := a.OutputType(); condition && !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType) {
		return nil, fmt.Errorf("the condition is of type %s; it must be a boolean", t)
	}
	if err := checkTicketFields(a); err != nil {
		return nil, err
	}
	return env.Program(a,
		cel.CostLimit(opts.CostLimit),
		cel.InterruptCheckFrequency(100),
		cel.EvalOptions(cel.OptOptimize),
	)
}

// Names lists rule names in order.
func (r *Rules) Names() []string {
	if r == nil {
		return nil
	}
	names := make([]string, len(r.rules))
	for i, cr := range r.rules {
		names[i] = cr.cfg.Name
	}
	return names
}

// Evaluate returns the rules whose trigger is trigger (config's
// TriggerTicketSaved or TriggerEscalated; empty means ticket.saved) and
// whose condition holds for t, in rule order. A rule whose evaluation fails
// (a runtime error such as a missing map key, the cost limit, a term or
// the question failing, ctx ending) does not match; its error, naming the
// rule, is returned joined with the others (errors.Join) alongside the
// matches of the rules that evaluated.
func (r *Rules) Evaluate(ctx context.Context, trigger string, t workspace.Ticket) ([]Match, error) {
	if r == nil || len(r.rules) == 0 {
		return nil, nil
	}
	if trigger == "" {
		trigger = config.TriggerTicketSaved
	}
	var (
		tm      map[string]any // the ticket as CEL sees it, built on first use
		matches []Match
		errs    []error
	)
	for _, cr := range r.rules {
		if cr.cfg.Trigger != trigger {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("rule %q: %w", cr.cfg.Name, err))
			continue
		}
		if tm == nil {
			var err error
			if tm, err = ticketMap(t); err != nil {
				return nil, fmt.Errorf("negotiation: rules: ticket %q: %w", t.ID, err)
			}
		}
		m, ok, err := cr.evaluate(ctx, tm, r.limit)
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %q: %w", cr.cfg.Name, err))
			continue
		}
		if ok {
			matches = append(matches, m)
		}
	}
	return matches, errors.Join(errs...)
}

func (cr *compiledRule) evaluate(ctx context.Context, tm map[string]any, limit uint64) (Match, bool, error) {
	act := map[string]any{ruleTicketVar: tm}
	out, _, err := cr.when.ContextEval(ctx, act)
	if err != nil {
		return Match{}, false, fmt.Errorf("when: %w", evalError(ctx, err, limit))
	}
	holds, ok := out.Value().(bool)
	if !ok {
		return Match{}, false, fmt.Errorf("when: the condition gave %v (%s), not a boolean", out.Value(), out.Type().TypeName())
	}
	if !holds {
		return Match{}, false, nil
	}
	terms := make(map[string]any, len(cr.terms))
	for _, tm := range cr.terms {
		v, err := evalTerm(ctx, tm.prog, act)
		if err != nil {
			return Match{}, false, fmt.Errorf("terms.%s: %w", tm.name, evalError(ctx, err, limit))
		}
		terms[tm.name] = v
	}
	termsJSON, err := json.Marshal(terms)
	if err != nil {
		return Match{}, false, fmt.Errorf("terms: %w", err)
	}
	var question string
	if cr.question != nil {
		if question, err = cr.render(withAllTicketKeys(tm), terms); err != nil {
			return Match{}, false, fmt.Errorf("question: %w", err)
		}
	} else {
		question = defaultQuestion(cr.cfg.Name, tm, cr.terms, terms)
	}
	return Match{
		Rule:         cr.cfg.Name,
		Participants: rotate(cr.cfg.Participants, cr.cfg.Opener),
		Question:     question,
		Terms:        termsJSON,
		MaxRounds:    cr.cfg.MaxRounds,
		Deadline:     cr.cfg.Deadline,
		Fallback:     cr.cfg.Fallback,
	}, true, nil
}

// evalError makes a CEL evaluation error say what happened.
func evalError(ctx context.Context, err error, limit uint64) error {
	switch {
	case strings.Contains(err.Error(), "cost limit exceeded"):
		return fmt.Errorf("%w (the cost limit is %d per evaluation; simplify the expression)", err, limit)
	case ctx.Err() != nil:
		return fmt.Errorf("%w: %w", err, ctx.Err())
	case strings.Contains(err.Error(), "no such key"):
		return fmt.Errorf("%w (the ticket lacks it: guard fields a ticket may lack with has(), e.g. has(ticket.approval) && ...)", err)
	}
	return err
}

// evalTerm evaluates a term expression to a JSON-ready value: nil, bool,
// int64, uint64, float64, string, []any or map[string]any.
func evalTerm(ctx context.Context, prog cel.Program, act map[string]any) (any, error) {
	out, _, err := prog.ContextEval(ctx, act)
	if err != nil {
		return nil, err
	}
	return jsonValue(out)
}

func jsonValue(v ref.Val) (any, error) {
	switch v := v.(type) {
	case types.Int:
		return int64(v), nil
	case types.Uint:
		return uint64(v), nil
	case types.Double:
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("the value %v is not a JSON number", f)
		}
		return float64(v), nil
	case types.Bool:
		return bool(v), nil
	case types.String:
		return string(v), nil
	case types.Null:
		return nil, nil
	}
	switch v := v.(type) {
	case types.Timestamp:
		return v.Time.UTC().Format(time.RFC3339Nano), nil
	case types.Duration:
		return v.Duration.String(), nil
	case traits.Lister:
		var out []any
		for it := v.Iterator(); it.HasNext() == types.True; {
			e, err := jsonValue(it.Next())
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		if out == nil {
			out = []any{}
		}
		return out, nil
	case traits.Mapper:
		out := make(map[string]any)
		for it := v.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			ks, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("a map with %s keys cannot be a term: JSON object keys are strings", k.Type().TypeName())
			}
			e, err := jsonValue(v.Get(k))
			if err != nil {
				return nil, err
			}
			out[string(ks)] = e
		}
		return out, nil
	}
	return nil, fmt.Errorf("a value of type %s cannot be a term", v.Type().TypeName())
}

// rotate returns participants in turn order starting with opener.
func rotate(participants []string, opener string) []string {
	i := slices.IndexFunc(participants, func(p string) bool { return strings.EqualFold(p, opener) })
	if i < 0 {
		i = 0
	}
	return append(slices.Clone(participants[i:]), participants[:i]...)
}

// questionFuncs are the functions question templates may call.
var questionFuncs = template.FuncMap{"money": money}

// money formats a number with two decimals: {{money .ticket.refund_amount}}
// gives 500.00.
func money(v any) (string, error) {
	var f float64
	switch n := v.(type) {
	case float64:
		f = n
	case float32:
		f = float64(n)
	case int:
		f = float64(n)
	case int64:
		f = float64(n)
	case uint64:
		f = float64(n)
	case json.Number:
		var err error
		if f, err = n.Float64(); err != nil {
			return "", fmt.Errorf("money: %q is not a number", n)
		}
	case nil:
		return "", errors.New("money: no value")
	default:
		return "", fmt.Errorf("money: %v (%T) is not a number", v, v)
	}
	return strconv.FormatFloat(f, 'f', 2, 64), nil
}

func (cr *compiledRule) render(ticket map[string]any, terms map[string]any) (string, error) {
	var b strings.Builder
	err := cr.question.Execute(&b, map[string]any{
		"ticket": ticket,
		"terms":  terms,
		"rule":   cr.cfg.Name,
	})
	return b.String(), err
}

// defaultQuestion is the question of a rule that has none: "Agree on the
// terms for ticket T-42 (rule refund-over-limit): amount 500?".
func defaultQuestion(rule string, ticket map[string]any, order []compiledTerm, terms map[string]any) string {
	id, _ := ticket["id"].(string)
	if len(order) == 0 {
		return fmt.Sprintf("Agree on how to settle ticket %s (rule %s)?", id, rule)
	}
	parts := make([]string, len(order))
	for i, tm := range order {
		var s string
		switch v := terms[tm.name].(type) {
		case string:
			s = v
		case float64:
			s = strconv.FormatFloat(v, 'f', -1, 64)
		default:
			b, _ := json.Marshal(v)
			s = string(b)
		}
		parts[i] = tm.name + " " + s
	}
	return fmt.Sprintf("Agree on the terms for ticket %s (rule %s): %s?", id, rule, strings.Join(parts, ", "))
}

// ticketMap is the ticket's JSON form as a map: what rules see.
func ticketMap(t workspace.Ticket) (map[string]any, error) {
	data, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// withAllTicketKeys returns a copy of a ticket map in which every
// top-level field of workspace.Ticket is present (those omitted from the
// JSON form as "" or nil), so that a question template checked against
// the example ticket does not fail on a ticket without, say, a
// resolution.
func withAllTicketKeys(tm map[string]any) map[string]any {
	out := maps.Clone(tm)
	for k, v := range exampleTicketMap() {
		if _, ok := out[k]; ok {
			continue
		}
		if _, isString := v.(string); isString {
			out[k] = ""
		} else {
			out[k] = nil
		}
	}
	return out
}

// exampleTicket is a ticket with every field set, on which question
// templates are tried at start-up.
func exampleTicket() workspace.Ticket {
	at := time.Date(2026, 11, 21, 19, 58, 12, 0, time.UTC)
	return workspace.Ticket{
		ID:               "T-42",
		Customer:         "acme-co",
		Category:         "billing",
		Priority:         "high",
		Status:           workspace.StatusEscalated,
		Summary:          "Customer asks for a refund of a double charge",
		RefundAmount:     500,
		Resolution:       "Refunded the double charge",
		Escalated:        true,
		EscalationReason: "refund above the billing limit",
		Approval: &workspace.Approval{
			NegotiationID: "neg-example",
			Status:        "agreed",
			Decision:      "approved",
			Terms:         json.RawMessage(`{"amount":350}`),
			Rounds:        3,
			Reason:        "billing accepted escalation's counter",
			DecidedBy:     "agents",
			DecidedAt:     &at,
		},
		GeneratedSummary: &workspace.GeneratedSummary{Text: "Double charge; refund requested", Model: "example", Source: "data", At: at},
		Version:          3,
		CreatedAt:        at.Add(-time.Hour),
		UpdatedAt:        at,
	}
}

func exampleTicketMap() map[string]any {
	m, err := ticketMap(exampleTicket())
	if err != nil {
		panic(err) // a Ticket always marshals
	}
	return m
}

// fieldSchema describes what a JSON value of a Go type holds, for
// checking the fields rule expressions select: fields is nil for a value
// whose fields are not known (a map, raw JSON) and leaf is true for a
// value that has none (a string, a number, a time).
type fieldSchema struct {
	fields map[string]*fieldSchema
	leaf   bool
}

var ticketSchema = schemaOf(reflect.TypeFor[workspace.Ticket]())

func schemaOf(t reflect.Type) *fieldSchema {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeFor[time.Time](), t == reflect.TypeFor[workspace.Status]():
		return &fieldSchema{leaf: true}
	case t == reflect.TypeFor[json.RawMessage]():
		return &fieldSchema{}
	}
	switch t.Kind() {
	case reflect.Struct:
		s := &fieldSchema{fields: make(map[string]*fieldSchema)}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			s.fields[name] = schemaOf(f.Type)
		}
		return s
	case reflect.Map, reflect.Interface, reflect.Slice, reflect.Array:
		return &fieldSchema{}
	}
	return &fieldSchema{leaf: true}
}

// checkTicketFields refuses an expression that selects a field the ticket
// does not have (ticket.refund_amout, ticket.approval.decison): it would
// fail on every ticket. Both ticket.x and ticket["x"] are checked, under
// has() too.
func checkTicketFields(a *cel.Ast) error {
	native := a.NativeRep()
	var problem error
	ast.PreOrderVisit(native.Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if problem != nil {
			return
		}
		path, ok := ticketPath(e)
		if !ok || len(path) < 2 {
			return
		}
		// Only the outermost select of a chain needs checking: it covers
		// the ones inside it; checking each is harmless.
		s := ticketSchema
		for i, field := range path[1:] {
			switch {
			case s.leaf:
				problem = fmt.Errorf("%s has no fields (selecting %q)", strings.Join(path[:i+1], "."), field)
			case s.fields == nil:
				return
			case s.fields[field] == nil:
				problem = fmt.Errorf("%s has no field %q (it has: %s)", strings.Join(path[:i+1], "."), field,
					strings.Join(slices.Sorted(maps.Keys(s.fields)), ", "))
			default:
				s = s.fields[field]
				continue
			}
			if loc := native.SourceInfo().GetStartLocation(e.ID()); loc.Line() > 0 {
				problem = fmt.Errorf("%w (line %d, column %d)", problem, loc.Line(), loc.Column()+1)
			}
			return
		}
	}))
	return problem
}

// ticketPath returns ["ticket", "a", "b"] for ticket.a.b or
// ticket["a"]["b"], and false for anything else. A comprehension variable
// named ticket shadowing the variable is not told apart: its fields are
// checked as the ticket's.
func ticketPath(e ast.Expr) ([]string, bool) {
	switch e.Kind() {
	case ast.IdentKind:
		return []string{e.AsIdent()}, e.AsIdent() == ruleTicketVar
	case ast.SelectKind:
		sel := e.AsSelect()
		p, ok := ticketPath(sel.Operand())
		return append(p, sel.FieldName()), ok
	case ast.CallKind:
		call := e.AsCall()
		if call.FunctionName() != "_[_]" || len(call.Args()) != 2 || call.Args()[1].Kind() != ast.LiteralKind {
			return nil, false
		}
		key, isString := call.Args()[1].AsLiteral().(types.String)
		if !isString {
			return nil, false
		}
		p, ok := ticketPath(call.Args()[0])
		return append(p, string(key)), ok
	}
	return nil, false
}
