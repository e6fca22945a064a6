package agents

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/a2aproject/a2a-go/v2/a2a"
)

// TriageType is the type of the data part triage answers with.
const TriageType = "parley.triage"

// Triage is triage's assessment of a ticket.
type Triage struct {
	TicketID     string   `json:"ticket_id,omitempty"`
	Category     string   `json:"category"`  // billing, technical, account or other
	Priority     string   `json:"priority"`  // low, medium, high or urgent
	Sentiment    string   `json:"sentiment"` // negative, neutral or positive
	RefundAmount float64  `json:"refund_amount,omitempty"`
	Signals      []string `json:"signals"`
	Rationale    string   `json:"rationale"`
}

// Data is the assessment as the data part's content.
func (r Triage) Data() map[string]any {
	d := map[string]any{
		"type": TriageType, "category": r.Category, "priority": r.Priority,
		"sentiment": r.Sentiment, "rationale": r.Rationale, "signals": r.Signals,
	}
	if r.TicketID != "" {
		d["ticket_id"] = r.TicketID
	}
	if r.RefundAmount > 0 {
		d["refund_amount"] = r.RefundAmount
	}
	return d
}

// Text is the assessment in one line.
func (r Triage) Text() string {
	id := ""
	if r.TicketID != "" {
		id = " " + r.TicketID
	}
	return fmt.Sprintf("Triage%s: %s, %s priority, %s sentiment. %s", id, r.Category, r.Priority, r.Sentiment, r.Rationale)
}

type keywords struct {
	name string
	re   *regexp.Regexp
}

func stems(name string, words ...string) keywords {
	quoted := make([]string, len(words))
	for i, w := range words {
		// A word ending in $ matches only whole; others match as a stem.
		if whole, ok := strings.CutSuffix(w, "$"); ok {
			quoted[i] = regexp.QuoteMeta(whole) + `\b`
		} else {
			quoted[i] = regexp.QuoteMeta(w)
		}
	}
	return keywords{name, regexp.MustCompile(`\b(?:` + strings.Join(quoted, "|") + `)`)}
}

func (k keywords) find(text string) []string {
	var out []string
	for _, m := range k.re.FindAllString(text, -1) {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

var (
	categories = []keywords{ // in tie-breaking order
		stems("billing", "refund", "charge", "charging", "invoice", "billing", "billed", "bill$", "bills$", "payment", "paid$", "pay$", "subscription", "price", "pricing", "overcharg", "credit card", "money back", "fee$", "fees$", "receipt", "plan$"),
		stems("technical", "error", "bug", "crash", "outage", "is down", "went down", "broken", "not working", "doesn't work", "does not work", "fail", "timeout", "timed out", "slow", "latency", "api$", "http 500", "500 error", "exception", "install"),
		stems("account", "account", "password", "login", "log in", "sign in", "signin", "locked", "username", "email address", "profile", "2fa", "two-factor", "access", "permission", "delete my"),
	}
	urgentWords = stems("urgent", "urgent", "asap", "immediately", "emergency", "critical", "outage", "production down", "right now", "legal action", "lawyer", "chargeback")
	highWords   = stems("high", "charged twice", "double charge", "double-charge", "charged two times", "fraud", "unauthori", "locked out", "data loss", "lost data", "cannot log in", "can't log in", "security", "breach")
	lowWords    = stems("low", "question", "how do i", "how can i", "feature request", "suggestion", "wondering", "curious", "when will")
	negWords    = stems("negative", "angry", "furious", "terrible", "awful", "unacceptable", "frustrat", "disappoint", "worst", "ridiculous", "scam", "hate", "annoy", "upset", "useless", "horrible", "cancel my", "never again")
	posWords    = stems("positive", "thank", "great", "love", "appreciat", "happy", "excellent", "awesome", "pleased", "glad", "wonderful")
	amountRe    = regexp.MustCompile(`(?i)(?:[$€£]\s?([0-9][0-9,]*(?:\.[0-9]+)?))|(?:\b([0-9][0-9,]*(?:\.[0-9]+)?)\s?(?:usd|eur|gbp|dollars|euros)\b)|(?:\brefund(?:\s+of)?\s+([0-9][0-9,]*(?:\.[0-9]+)?))`)
)

var priorities = []string{"low", "medium", "high", "urgent"}

// Assess triages a ticket from its text and, if known, the refund it asks
// for (0 when unknown: the text is searched for an amount then).
func Assess(ticketID, text string, refund float64) Triage {
	lower := " " + strings.ToLower(text) + " "
	r := Triage{TicketID: ticketID, Category: "other", Sentiment: "neutral", Signals: []string{}}
	var reasons []string

	best := 0
	for _, k := range categories {
		if hits := k.find(lower); len(hits) > best {
			best, r.Category = len(hits), k.name
			r.Signals = trimAll(hits)
		}
	}
	if best > 0 {
		reasons = append(reasons, fmt.Sprintf("category %s (%s)", r.Category, strings.Join(r.Signals, ", ")))
	} else {
		reasons = append(reasons, "category other (no billing, technical or account keywords)")
	}

	if refund <= 0 {
		for _, m := range amountRe.FindAllStringSubmatch(text, -1) {
			for _, g := range m[1:] {
				if f, err := strconv.ParseFloat(strings.ReplaceAll(g, ",", ""), 64); err == nil && f > refund {
					refund = f
				}
			}
		}
	}
	r.RefundAmount = round2(refund)

	level, why := 0, "no urgency signals"
	if r.Category != "other" {
		level, why = 1, "a "+r.Category+" issue"
	}
	if hits := lowWords.find(lower); len(hits) > 0 && level == 1 {
		level, why = 0, "a question ("+strings.Join(trimAll(hits), ", ")+")"
	}
	raise := func(to int, reason string) {
		if to > level {
			level, why = to, reason
		} else if to == level && to >= 2 {
			why += "; " + reason
		}
	}
	switch {
	case refund >= 1000:
		raise(3, "refund of "+money(refund))
	case refund >= 200:
		raise(2, "refund of "+money(refund))
	case refund > 0:
		raise(1, "refund of "+money(refund))
	}
	if hits := highWords.find(lower); len(hits) > 0 {
		raise(2, strings.Join(trimAll(hits), ", "))
		r.Signals = append(r.Signals, trimAll(hits)...)
	}
	if hits := urgentWords.find(lower); len(hits) > 0 {
		raise(3, strings.Join(trimAll(hits), ", "))
		r.Signals = append(r.Signals, trimAll(hits)...)
	}
	r.Priority = priorities[level]
	reasons = append(reasons, fmt.Sprintf("priority %s (%s)", r.Priority, why))

	neg, pos := negWords.find(lower), posWords.find(lower)
	switch {
	case len(neg) > len(pos):
		r.Sentiment = "negative"
		reasons = append(reasons, fmt.Sprintf("sentiment negative (%s)", strings.Join(trimAll(neg), ", ")))
	case len(pos) > len(neg):
		r.Sentiment = "positive"
		reasons = append(reasons, fmt.Sprintf("sentiment positive (%s)", strings.Join(trimAll(pos), ", ")))
	default:
		reasons = append(reasons, "sentiment neutral")
	}
	r.Rationale = strings.Join(reasons, "; ")
	return r
}

func trimAll(ss []string) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// triageInput reads a ticket from a message: its text parts, and data
// parts holding a ticket ({"ticket": {...}} or the ticket's fields) or a
// summary.
func triageInput(msg *a2a.Message) (id, text string, refund float64) {
	var texts []string
	if msg == nil {
		return "", "", 0
	}
	for _, p := range msg.Parts {
		if p == nil {
			continue
		}
		var data map[string]any
		switch v := p.Content.(type) {
		case a2a.Text:
			texts = append(texts, string(v))
		case a2a.Data:
			data, _ = v.Value.(map[string]any)
		}
		if data == nil {
			continue
		}
		if t, ok := data["ticket"].(map[string]any); ok {
			data = t
		}
		if s, ok := data["id"].(string); ok && id == "" {
			id = s
		}
		for _, k := range []string{"summary", "text", "description", "message", "subject", "body"} {
			if s, ok := data[k].(string); ok && s != "" {
				texts = append(texts, s)
			}
		}
		if f, ok := number(data["refund_amount"]); ok && f > refund {
			refund = f
		}
	}
	return id, strings.Join(texts, "\n"), refund
}
