package negotiation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"
	"cel.dev/cel-go/parser"

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

// ruleTicketVar is the variable rule expressions see: the ticket as
// stored, an object with its JSON field names and their types
// (ruletypes.go).
const ruleTicketVar = "ticket"

// CompileRules compiles every rule (config defaults applied). The error
// names the first bad rule and field: `rule "refund-over-limit": when:
// ...`. Expressions are type-checked against the ticket's declared fields:
// a condition must be a boolean (or dyn, from JSON of no declared shape,
// checked when it runs), a term must give a value the JSON terms can hold,
// and an expression that uses a value where its type does not fit
// (`ticket.refund_amount > "200"`), or selects a field the ticket does not
// have, is refused, saying so in the operator's terms, since it would fail
// on every ticket. The question template (text/template with the function
// money, over .ticket, .terms and .rule) must parse and execute against
// an example ticket with every field set, with missingkey=error, so that
// typos stop start-up rather than every negotiation.
func CompileRules(rules []config.Rule, opts RuleOptions) (*Rules, error) {
	if opts.CostLimit == 0 {
		opts.CostLimit = DefaultRuleCostLimit
	}
	env, err := ruleEnv()
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
	if r.when, err = compileExpr(env, rc.When, opts, exprCondition); err != nil {
		return nil, fmt.Errorf("when: %w", err)
	}
	for _, name := range slices.Sorted(maps.Keys(rc.Terms)) {
		prog, err := compileExpr(env, rc.Terms[name], opts, exprTerm)
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

// ruleEnv is the CEL environment rules compile in: the ticket with its
// declared types, the string extensions, and comparisons across numeric
// types (ticket.refund_amount > 200 compares a double with an int, as
// it did when the ticket was untyped).
func ruleEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Types(ticketObjectsAny()...),
		cel.Variable(ruleTicketVar, ticketSchema.cel),
		cel.CrossTypeNumericComparisons(true),
		ext.Strings(),
	)
}

// exprKind is what a rule expression is for.
type exprKind int

const (
	exprCondition exprKind = iota // when: a boolean
	exprTerm                      // terms.*: a JSON value
)

// compileExpr compiles one CEL expression over ticket and checks its type
// for its use.
func compileExpr(env *cel.Env, expr string, opts RuleOptions, kind exprKind) (cel.Program, error) {
	a, err := checkExpr(env, expr)
	if err != nil {
		return nil, err
	}
	switch t := a.OutputType(); {
	case kind == exprCondition && !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType):
		return nil, fmt.Errorf("the condition gives %s; it must be a boolean (true or false), e.g. ticket.refund_amount > 200.0", describeType(t))
	case kind == exprTerm && !jsonable(t):
		return nil, fmt.Errorf("the term gives %s, which JSON terms cannot hold: give a number, a string, true or false, a time, or a list or map of them", describeType(t))
	}
	return env.Program(a,
		cel.CostLimit(opts.CostLimit),
		cel.InterruptCheckFrequency(100),
		cel.EvalOptions(cel.OptOptimize),
	)
}

// checkExpr parses and type-checks one expression, and says what is wrong
// with one that does not check: fields the ticket does not have with the
// fields it has, type errors in operator terms where the checker's
// message names an operator or function (explainIssue).
func checkExpr(env *cel.Env, expr string) (*cel.Ast, error) {
	checked, iss, err := parseAndCheck(env, expr)
	if err != nil || iss.Err() == nil {
		return checked, err
	}
	// Check may rewrite parts of the tree it checks: explain from a fresh
	// parse.
	fresh, _ := env.Parse(expr)
	selectTicketFields(fresh.NativeRep())
	for _, e := range iss.Errors() {
		if msg, ok := explainIssue(env, fresh.NativeRep(), e.ExprID); ok {
			if e.Location.Line() > 0 {
				msg = fmt.Sprintf("%s (line %d, column %d)", msg, e.Location.Line(), e.Location.Column()+1)
			}
			return nil, errors.New(msg)
		}
	}
	return nil, iss.Err()
}

// parseAndCheck parses and type-checks one expression: a parse error or a
// field the ticket does not have is err; type errors are iss, for
// checkExpr to explain. ticket["field"] is read as ticket.field first: the
// type checker indexes maps, not objects, and rules were written against
// the ticket as a map.
func parseAndCheck(env *cel.Env, expr string) (*cel.Ast, *cel.Issues, error) {
	parsed, iss := env.Parse(expr)
	if iss.Err() != nil {
		return nil, nil, iss.Err()
	}
	selectTicketFields(parsed.NativeRep())
	if err := checkTicketFields(parsed); err != nil {
		return nil, nil, err
	}
	checked, iss := env.Check(parsed)
	if iss.Err() != nil {
		return nil, iss, nil
	}
	return checked, nil, nil
}

// selectTicketFields rewrites ticket["category"] as ticket.category, and
// so on down the ticket's objects (ticket["approval"]["decision"]), in
// place. Indexing JSON of no declared shape (approval terms) is left as
// it is.
func selectTicketFields(a *ast.AST) {
	fac := ast.NewExprFactory()
	ast.PostOrderVisit(a.Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() != ast.CallKind {
			return
		}
		call := e.AsCall()
		if call.FunctionName() != operators.Index || call.IsMemberFunction() || len(call.Args()) != 2 ||
			call.Args()[1].Kind() != ast.LiteralKind {
			return
		}
		key, isString := call.Args()[1].AsLiteral().(types.String)
		path, ok := ticketPath(call.Args()[0])
		if !isString || !ok {
			return
		}
		if s := ticketSchema.lookup(path[1:]); s == nil || s.fields == nil {
			return
		}
		e.SetKindCase(fac.NewSelect(e.ID(), call.Args()[0], string(key)))
	}))
}

// comparisons are the operators that compare their operands; arithmetic
// those that compute with numbers.
var (
	comparisons = map[string]bool{
		operators.Equals: true, operators.NotEquals: true, operators.Less: true, operators.LessEquals: true,
		operators.Greater: true, operators.GreaterEquals: true,
	}
	arithmetic = map[string]bool{
		operators.Add: true, operators.Subtract: true, operators.Multiply: true, operators.Divide: true,
		operators.Modulo: true, operators.Negate: true,
	}
	logical = map[string]bool{operators.LogicalAnd: true, operators.LogicalOr: true, operators.LogicalNot: true}
)

// operand is one operand of a call the type checker refused, as an
// operator would read it.
type operand struct {
	expr ast.Expr
	text string     // as written (unparsed): ticket.refund_amount
	kind types.Kind // ErrorKind when it does not check alone
	desc string     // ticket.refund_amount (a number (double))
}

// explainIssue says what is wrong at the expression the type checker
// reported (id) when that is a call it found no overload of for its
// operands, or an operand of &&, || or ! that is not a boolean: which
// operands, of which types, in the operator's terms ("'>' cannot compare
// ticket.refund_amount (a number (double)) with "200" (a string)"), with
// a hint for the usual mistakes. It reports false for any other issue,
// which the checker's own text says well enough (a syntax error, an
// unknown variable or function).
func explainIssue(env *cel.Env, a *ast.AST, id int64) (string, bool) {
	found := ast.MatchDescendants(ast.NavigateAST(a), func(e ast.NavigableExpr) bool { return e.ID() == id })
	if len(found) == 0 {
		return "", false
	}
	at := found[0]
	if at.Kind() != ast.CallKind {
		// A non-boolean operand of a logical operator.
		parent, ok := at.Parent()
		if !ok || parent.Kind() != ast.CallKind || !logical[parent.AsCall().FunctionName()] {
			return "", false
		}
		op, _ := operators.FindReverse(parent.AsCall().FunctionName())
		o := describeOperand(env, a, at)
		return fmt.Sprintf("'%s' needs booleans (true or false), not %s", op, o.desc), true
	}
	c := at.AsCall()
	fn := c.FunctionName()
	if !env.HasFunction(fn) {
		return "", false // undeclared: the checker says so
	}
	var ops []operand
	if c.IsMemberFunction() {
		ops = append(ops, describeOperand(env, a, c.Target()))
	}
	for _, arg := range c.Args() {
		ops = append(ops, describeOperand(env, a, arg))
	}
	if len(ops) == 0 {
		return "", false
	}
	descs := make([]string, len(ops))
	for i, o := range ops {
		descs[i] = o.desc
	}
	op, _ := operators.FindReverse(fn)
	switch {
	case comparisons[fn] && len(ops) == 2:
		return fmt.Sprintf("'%s' cannot compare %s with %s", op, descs[0], descs[1]) + numericHint(ops), true
	case arithmetic[fn] && len(ops) == 1:
		return fmt.Sprintf("'%s' cannot apply to %s", op, descs[0]), true
	case arithmetic[fn]:
		return fmt.Sprintf("'%s' cannot combine %s", op, strings.Join(descs, " and ")) + numericHint(ops), true
	case fn == operators.In && len(ops) == 2:
		return fmt.Sprintf("'in' cannot look for %s in %s", descs[0], descs[1]), true
	case logical[fn]:
		return fmt.Sprintf("'%s' needs booleans (true or false), not %s", op, strings.Join(descs, " and ")), true
	case fn == operators.Index && len(ops) == 2:
		return fmt.Sprintf("%s cannot be indexed with %s", descs[0], descs[1]), true
	case fn == operators.Conditional:
		return fmt.Sprintf("'? :' needs a boolean condition and two results of one type, not %s", strings.Join(descs, ", ")), true
	case c.IsMemberFunction() && len(ops) == 1:
		return fmt.Sprintf("%s() cannot be called on %s", fn, descs[0]), true
	case c.IsMemberFunction():
		return fmt.Sprintf("%s() cannot be called on %s with %s", fn, descs[0], strings.Join(descs[1:], " and ")), true
	}
	return fmt.Sprintf("%s() cannot take %s", fn, strings.Join(descs, " and ")), true
}

// describeOperand checks an operand alone to say what it is; one that
// refers to a comprehension's variable does not check alone and is named
// as written.
func describeOperand(env *cel.Env, a *ast.AST, e ast.Expr) operand {
	o := operand{expr: e, kind: types.ErrorKind}
	o.text, _ = parser.Unparse(e, a.SourceInfo())
	if o.text == "" {
		o.text = "an operand"
	}
	o.desc = o.text
	// Types only: explaining the operand's own errors would recurse down
	// the whole tree.
	if sub, iss, err := parseAndCheck(env, o.text); err == nil && iss.Err() == nil {
		o.kind = sub.OutputType().Kind()
		o.desc = fmt.Sprintf("%s (%s)", o.text, describeType(sub.OutputType()))
	}
	return o
}

// numericHint suggests the fix for the usual mistakes with numbers and
// times: a whole number where a number with decimals is needed
// (ticket.refund_amount + 1: write 1.0), a number in quotes ("200"), a
// time as a plain string.
func numericHint(ops []operand) string {
	has := func(k types.Kind) bool { return slices.ContainsFunc(ops, func(o operand) bool { return o.kind == k }) }
	hasDouble := has(types.DoubleKind)
	hasNumber := hasDouble || has(types.IntKind) || has(types.UintKind)
	for _, o := range ops {
		if o.expr.Kind() != ast.LiteralKind {
			continue
		}
		switch v := o.expr.AsLiteral().(type) {
		case types.Int:
			if hasDouble {
				return fmt.Sprintf(": write %d.0 for a number with decimals (double)", int64(v))
			}
		case types.Uint:
			if hasDouble {
				return fmt.Sprintf(": write %d.0 for a number with decimals (double)", uint64(v))
			}
		case types.String:
			if _, err := strconv.ParseFloat(string(v), 64); err == nil && hasNumber {
				return fmt.Sprintf(": write the number %s without quotes", string(v))
			}
			if has(types.TimestampKind) {
				return fmt.Sprintf(`: write a time as timestamp(%q), in RFC 3339 form such as "2026-01-31T00:00:00Z"`, string(v))
			}
		}
	}
	if hasDouble && has(types.IntKind) {
		return ": convert the whole number with double(...) to mix it with a number with decimals"
	}
	return ""
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
// (on values the types cannot rule out: a key missing from the approval's
// JSON terms, a division giving infinity; the cost limit, the question
// failing, ctx ending) does not match; its error, naming the rule, is
// returned joined with the others (errors.Join) alongside the matches of
// the rules that evaluated. Fields the ticket lacks do not fail it: they
// read as zero values (ruletypes.go).
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
	var cancelled interpreter.EvalCancelledError
	switch {
	case errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded:
		return fmt.Errorf("%w (the cost limit is %d per evaluation; simplify the expression)", err, limit)
	case ctx.Err() != nil && !errors.Is(err, ctx.Err()):
		return fmt.Errorf("%w: %w", err, ctx.Err())
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

// checkTicketFields refuses an expression that selects a field the ticket
// does not have (ticket.refund_amout, ticket.approval.decison): it would
// fail on every ticket. Both ticket.x and ticket["x"] are checked, under
// has() too. It refuses building objects (parley.Ticket{...}) too: rules
// read tickets, and the value could not be built when the rule runs.
func checkTicketFields(a *cel.Ast) error {
	native := a.NativeRep()
	var problem error
	ast.PreOrderVisit(native.Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if problem != nil {
			return
		}
		if e.Kind() == ast.StructKind {
			problem = fmt.Errorf("a rule cannot build objects (%s{...})", e.AsStruct().TypeName())
			if loc := native.SourceInfo().GetStartLocation(e.ID()); loc.Line() > 0 {
				problem = fmt.Errorf("%w (line %d, column %d)", problem, loc.Line(), loc.Column()+1)
			}
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
				problem = fmt.Errorf("%s has no fields: it is %s (selecting %q)", strings.Join(path[:i+1], "."), describeType(s.cel), field)
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
		if call.FunctionName() != operators.Index || len(call.Args()) != 2 || call.Args()[1].Kind() != ast.LiteralKind {
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
