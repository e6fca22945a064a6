package demo

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parleyhq/parley/config"
)

// Rule is the demo's escalation rule: a billing refund over 200 that
// nobody has approved yet is negotiated between billing and escalation.
var Rule = config.Rule{
	Name:         "refund-over-limit",
	Trigger:      config.TriggerTicketSaved,
	When:         `ticket.category == "billing" && ticket.refund_amount > 200.0 && !has(ticket.approval)`,
	Participants: []string{"billing", "escalation"},
	Question:     "Approve an exception refund of {{money .ticket.refund_amount}} for ticket {{.ticket.id}}?",
	Terms:        map[string]string{"amount": "ticket.refund_amount"},
	MaxRounds:    6,
	Fallback:     config.FallbackAskHuman,
}

// customer and ticketText are the ticket the demo files: a customer of 6
// years and 12k lifetime value asking for a refund of 500 in words.
const (
	customer   = "acme"
	ticketText = "I was charged twice for our annual subscription this month and I'm frustrated. " +
		"Please refund $500 for the duplicate charge."
)

// configure makes the gateway's configuration: loopback, HTTP only, no
// auth, the demo's rule, and the store opts names or a temporary one.
// PARLEY_* settings and config files are not read.
func configure(opts Options) (config.Config, *demoStore, error) {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.GRPCListen = "" // the demo speaks HTTP only
	cfg.LogLevel = opts.LogLevel
	cfg.AllowPrivateAgentURLs = true // the agents listen on loopback
	// Long enough for the HTTP server to give up on connections a client
	// opened and never used (net/http waits 5s for their first request).
	cfg.ShutdownTimeout = 10 * time.Second
	cfg.Negotiation.Rules = []config.Rule{Rule}
	if opts.Store != "" {
		cfg.Store = storeURL(opts.Store)
		if err := cfg.Validate(); err != nil {
			return cfg, nil, invalidOptions{err}
		}
		return cfg, &demoStore{}, nil
	}
	dir, err := os.MkdirTemp("", "parley-demo-")
	if err != nil {
		return cfg, nil, fmt.Errorf("a temporary directory for the store: %w", err)
	}
	cfg.Store = "sqlite://" + filepath.Join(dir, "parley.db")
	if err := cfg.Validate(); err != nil {
		_ = os.RemoveAll(dir)
		return cfg, nil, invalidOptions{err}
	}
	return cfg, &demoStore{temporary: true, dir: dir, keep: opts.Keep}, nil
}

// storeURL makes a URL of the --store value: a bare path is a SQLite file.
func storeURL(s string) string {
	if !strings.Contains(s, "://") {
		return "sqlite://" + s
	}
	return s
}

// demoStore is where the demo's store lives: a temporary directory, or
// the caller's store, left as it is.
type demoStore struct {
	temporary bool
	dir       string
	keep      bool
}

// release removes the temporary store's directory, or says where it is
// kept.
func (s *demoStore) release(d *demo) {
	switch {
	case !s.temporary:
	case s.keep:
		d.out.plain("\nThe store is kept in %s (--keep).", s.dir)
	default:
		if err := os.RemoveAll(s.dir); err != nil {
			d.log.Warn("cannot remove the demo's temporary store", "dir", s.dir, "err", err)
		}
	}
}
