package demo

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// describeFindings writes an analysis's findings on one line: key: value,
// in key order.
func describeFindings(f any) string {
	m, ok := f.(map[string]any)
	if !ok {
		b, _ := json.Marshal(f)
		return string(b)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		switch x := m[k].(type) {
		case string:
			parts = append(parts, k+": "+x)
		case float64:
			parts = append(parts, k+": "+strconv.FormatFloat(x, 'f', -1, 64))
		default:
			b, _ := json.Marshal(x)
			parts = append(parts, k+": "+string(b))
		}
	}
	return strings.Join(parts, "; ")
}

// describeDetail says what a ticket history entry changed.
func describeDetail(detail json.RawMessage) string {
	var d map[string]any
	if json.Unmarshal(detail, &d) != nil || len(d) == 0 {
		return ""
	}
	var parts []string
	if to, ok := d["to"].(string); ok {
		parts = append(parts, "status → "+to)
	}
	if ch, ok := d["changed"].([]any); ok && len(ch) > 0 {
		var names []string
		for _, c := range ch {
			names = append(names, fmt.Sprint(c))
		}
		parts = append(parts, "changed "+strings.Join(names, ", "))
	}
	if dec, ok := d["decision"].(string); ok {
		parts = append(parts, "decision "+dec)
	}
	if id, ok := d["negotiation_id"].(string); ok {
		parts = append(parts, "negotiation "+id)
	}
	return strings.Join(parts, "; ")
}

// amountOf reads the amount of a negotiation's terms.
func amountOf(terms json.RawMessage) float64 {
	var m struct {
		Amount float64 `json:"amount"`
	}
	_ = json.Unmarshal(terms, &m)
	return m.Amount
}

// splitReasons splits triage's rationale into its parts, at "; " outside
// parentheses: "category billing (refund); priority high (a; b)".
func splitReasons(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth = max(0, depth-1)
		case ';':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	if rest := strings.TrimSpace(s[start:]); rest != "" {
		out = append(out, rest)
	}
	return out
}

// reasonFor returns the part of triage's rationale about what (the part
// that starts with it), or "".
func reasonFor(rationale, what string) string {
	for _, r := range splitReasons(rationale) {
		if strings.HasPrefix(r, what+" ") {
			return r
		}
	}
	return ""
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// redactStore hides a store URL's password.
func redactStore(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "(unparsable store URL)"
}
