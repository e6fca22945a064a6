package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/parleyhq/parley/negotiation"
	"github.com/parleyhq/parley/workspace"
)

// printer writes the demo's output: sections and aligned label/value
// lines, whole lines at a time (notifications print from other
// goroutines).
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *printer) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.w.Write(b)
}

func (p *printer) title(s string) {
	fmt.Fprintf(p, "%s\n%s\n", s, strings.Repeat("=", len([]rune(s))))
}

func (p *printer) section(s string) { fmt.Fprintf(p, "\n== %s\n", s) }

func (p *printer) plain(format string, args ...any) { fmt.Fprintf(p, format+"\n", args...) }

func (p *printer) blank() { fmt.Fprintln(p) }

// kv prints an aligned "label  value" line.
func (p *printer) kv(label, value string) { fmt.Fprintf(p, "  %-18s %s\n", label, value) }

// transcript prints a negotiation's head and every transcript entry, one
// line each: when, round, who, what (move, amount) and why.
func (p *printer) transcript(v negotiation.View) {
	o := v.Outcome
	p.kv("question", v.Question)
	p.kv("between", fmt.Sprintf("%s (rule %s, at most %d rounds, fallback %s)", strings.Join(v.Participants, ", "), v.Rule, v.MaxRounds, v.Fallback))
	outcome := fmt.Sprintf("%s, %s", o.Status, o.Decision)
	if len(o.Terms) > 0 {
		outcome += " " + negotiation.FormatTerms(o.Terms)
	}
	outcome += fmt.Sprintf(" after %d rounds", o.Rounds)
	if o.DecidedBy != "" {
		outcome += ", decided by " + o.DecidedBy
	}
	p.kv("outcome", outcome)
	p.kv("reason", o.Reason)
	p.blank()

	tw := tabwriter.NewWriter(p, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  at\tround\twho\tmove\tamount\trationale / detail")
	start := v.StartedAt
	if len(v.Transcript) > 0 {
		start = v.Transcript[0].At
	}
	for _, e := range v.Transcript {
		fmt.Fprintln(tw, transcriptRow(e, start))
	}
	tw.Flush()
}

// transcriptRow is one transcript entry as tab-separated columns: at,
// round, who, move, amount, rationale or detail.
func transcriptRow(e negotiation.Entry, start time.Time) string {
	at := fmt.Sprintf("+%.3fs", e.At.Sub(start).Seconds())
	round := ""
	if e.Round > 0 {
		round = strconv.Itoa(e.Round)
	}
	switch e.Kind {
	case negotiation.EntryStart:
		return fmt.Sprintf("  %s\t\tparley\tstart\t\t%s", at, e.Text)
	case negotiation.EntryTurn, negotiation.EntryResend:
		what := "resent: " + e.Text
		if e.Kind == negotiation.EntryTurn {
			what = describeTurn(e.Data)
		}
		return fmt.Sprintf("  %s\t%s\tparley → %s\tturn\t\t%s", at, round, e.Participant, what)
	case negotiation.EntryReply:
		var m negotiation.Move
		_ = json.Unmarshal(e.Data, &m)
		return fmt.Sprintf("  %s\t%s\t%s\t%s\t%s\t%s", at, round, e.Participant, m.Move, formatTerms(m.Terms), m.Rationale)
	case negotiation.EntryOutcome, negotiation.EntryDecided:
		var oc negotiation.Outcome
		_ = json.Unmarshal(e.Data, &oc)
		return fmt.Sprintf("  %s\t\tparley\t%s\t%s\t%s, %s: %s", at, e.Kind, formatTerms(oc.Terms), oc.Status, oc.Decision, oc.Reason)
	default: // retry, invalid
		return fmt.Sprintf("  %s\t%s\t%s\t%s\t\t%s", at, round, e.Participant, e.Kind, firstNonEmpty(e.Error, e.Text))
	}
}

// describeTurn says what a turn offered: the allowed moves and the terms
// standing.
func describeTurn(data json.RawMessage) string {
	var turn struct {
		AllowedMoves []string `json:"allowed_moves"`
		Standing     *struct {
			By    string          `json:"by"`
			Terms json.RawMessage `json:"terms"`
		} `json:"standing"`
	}
	_ = json.Unmarshal(data, &turn)
	what := "your move: " + strings.Join(turn.AllowedMoves, ", ")
	if turn.Standing != nil {
		what += fmt.Sprintf(" (standing: %s by %s)", negotiation.FormatTerms(turn.Standing.Terms), turn.Standing.By)
	}
	return what
}

// formatTerms formats terms for the amount column: empty when there are
// none.
func formatTerms(terms json.RawMessage) string {
	if len(terms) == 0 {
		return ""
	}
	return negotiation.FormatTerms(terms)
}

// ticket prints the ticket's fields, aligned, then the ticket as JSON.
func (p *printer) ticket(t workspace.Ticket) {
	p.kv("id", t.ID)
	p.kv("customer", t.Customer)
	p.kv("category", t.Category)
	p.kv("priority", t.Priority)
	p.kv("status", string(t.Status))
	p.kv("refund asked", fmt.Sprintf("%.2f", t.RefundAmount))
	if a := t.Approval; a != nil {
		p.kv("approval", fmt.Sprintf("%s %s (%s in %d rounds, decided by %s)", a.Decision, negotiation.FormatTerms(a.Terms), a.Status, a.Rounds, a.DecidedBy))
		p.kv("", "negotiation "+a.NegotiationID+": "+a.Reason)
	}
	p.kv("resolution", t.Resolution)
	p.kv("version", strconv.FormatInt(t.Version, 10))
	compact, _ := json.Marshal(t)
	p.blank()
	p.plain("  %s", compact)
}
