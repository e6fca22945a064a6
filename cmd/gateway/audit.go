package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/parleyhq/parley/adminapi"
	"github.com/parleyhq/parley/api"
	"github.com/parleyhq/parley/app"
	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/store"
)

// auditCmd is "gateway audit", the audit log read straight from the store
// (the database the gateway's configuration names), so that it works with
// no gateway running and checks the data itself rather than what a
// gateway answers:
//
//	gateway audit verify [--config FILE | --store URL]
//	gateway audit list [filters] [--json] [--config FILE | --store URL]
//
// The store is named as for "gateway serve": --store, --config,
// PARLEY_STORE, PARLEY_CONFIG. The admin API's GET /api/v1/audit lists
// the same records remotely.
func auditCmd(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("gateway audit", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	ticket := fs.String("ticket", "", "list: records about this ticket `ID`")
	principal := fs.String("principal", "", "list: records of this principal (token `subject`)")
	client := fs.String("client", "", "list: records of this OAuth `client`")
	action := fs.String("action", "", "list: records of this `action` (policy.denial; negotiation.* for a prefix)")
	outcome := fs.String("outcome", "", "list: records with this `outcome` (ok, error, denied)")
	request := fs.String("request", "", "list: records of this MCP request `ID`")
	task := fs.String("task", "", "list: records of this A2A task `ID`")
	negotiation := fs.String("negotiation", "", "list: records of this negotiation `ID`")
	since := fs.String("since", "", "list: records at or after this `time` (RFC 3339, or a duration ago such as 24h)")
	until := fs.String("until", "", "list: records before this `time` (RFC 3339, or a duration ago)")
	newest := fs.Bool("newest", false, "list: newest records first")
	after := fs.Int64("after", 0, "list: continue after the record of this `seq` (in the listing's order)")
	limit := fs.Int("limit", 100, "list: print at most `N` records (0: all)")
	asJSON := fs.Bool("json", false, "list: print JSON (the admin API's shape) instead of a table")

	if len(args) == 0 {
		return auditUsageError(e, fs, "name a command: verify or list")
	}
	sub, rest := args[0], args[1:]
	if sub == "-h" || sub == "-help" || sub == "--help" || sub == "help" {
		auditUsage(e.stdout, fs)
		return exitOK
	}
	if sub != "verify" && sub != "list" {
		return auditUsageError(e, fs, fmt.Sprintf("unknown audit command %q (verify or list)", sub))
	}
	ownArgs, cfgArgs := splitFlags(fs, rest)
	if err := fs.Parse(ownArgs); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			auditUsage(e.stdout, fs)
			return exitOK
		}
		return auditUsageError(e, fs, err.Error())
	}
	if sub == "verify" {
		var set []string
		fs.Visit(func(f *flag.Flag) { set = append(set, "--"+f.Name) })
		if len(set) > 0 {
			return auditUsageError(e, fs, fmt.Sprintf("%s does not apply to verify", strings.Join(set, ", ")))
		}
	}
	cfg, err := config.Load(cfgArgs, e.getenv)
	if errors.Is(err, flag.ErrHelp) {
		auditUsage(e.stdout, fs)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "gateway audit %s: %v\n", sub, err)
		return exitUsage
	}

	f := store.AuditFilter{TicketID: *ticket, Subject: *principal, Client: *client, Action: *action, Outcome: *outcome,
		RequestID: *request, TaskID: *task, NegotiationID: *negotiation, Newest: *newest, After: *after}
	now := time.Now()
	for _, p := range []struct {
		name, value string
		t           *time.Time
	}{{"since", *since, &f.Since}, {"until", *until, &f.Until}} {
		if p.value == "" {
			continue
		}
		t, err := parseWhen(p.value, now)
		if err != nil {
			return auditUsageError(e, fs, fmt.Sprintf("--%s: %v", p.name, err))
		}
		*p.t = t
	}
	if *limit < 0 || *after < 0 {
		return auditUsageError(e, fs, "--limit and --after must not be negative")
	}

	st, err := openAuditStore(ctx, cfg, e.stderr)
	if err != nil {
		fmt.Fprintf(e.stderr, "gateway audit %s: %v\n", sub, err)
		return exitFailure
	}
	defer st.Close()
	log := audit.New(st, audit.Options{})

	if sub == "verify" {
		res, err := log.Verify(ctx)
		if err != nil {
			fmt.Fprintf(e.stderr, "gateway audit verify: %v\n", err)
			return exitFailure
		}
		fmt.Fprintln(e.stdout, res.String())
		if !res.OK {
			return exitFailure
		}
		return exitOK
	}

	recs, more, err := listAudit(ctx, log, f, *limit)
	if err != nil {
		fmt.Fprintf(e.stderr, "gateway audit list: %v\n", err)
		return exitFailure
	}
	printAudit(e.stdout, recs, more, *asJSON)
	if more && !*asJSON {
		fmt.Fprintf(e.stderr, "more records follow: continue with --after %d\n", recs[len(recs)-1].Seq)
	}
	return exitOK
}

// openAuditStore opens the configured store, refusing a SQLite file that
// does not exist: opening would create an empty one, which verifies.
func openAuditStore(ctx context.Context, cfg config.Config, stderr io.Writer) (store.Store, error) {
	if kind, path := cfg.StoreBackend(); kind == config.BackendSQLite {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("no SQLite database at %s (name it with --store sqlite://PATH or --config): %w", path, err)
		}
	}
	// Only problems are worth a log line here; the output is the report.
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return app.OpenStore(ctx, cfg, logger)
}

// listAudit reads up to limit records (0: all) a page at a time, and
// whether more follow.
func listAudit(ctx context.Context, log *audit.Log, f store.AuditFilter, limit int) ([]store.AuditRecord, bool, error) {
	var out []store.AuditRecord
	for {
		f.Limit = 1000
		if limit > 0 {
			f.Limit = min(1000, limit-len(out))
		}
		page, more, err := log.List(ctx, f)
		if err != nil {
			return nil, false, err
		}
		out = append(out, page...)
		if !more || len(page) == 0 {
			return out, false, nil
		}
		if limit > 0 && len(out) >= limit {
			return out, true, nil
		}
		f.After = page[len(page)-1].Seq
	}
}

func printAudit(w io.Writer, recs []store.AuditRecord, more bool, asJSON bool) {
	if asJSON {
		out := api.AuditList{Records: make([]api.AuditRecord, 0, len(recs))}
		for _, r := range recs {
			out.Records = append(out.Records, adminapi.AuditToAPI(r))
		}
		if more {
			out.Next = strconv.FormatInt(recs[len(recs)-1].Seq, 10)
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintln(w, string(b))
		return
	}
	if len(recs) == 0 {
		fmt.Fprintln(w, "no audit records")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME (UTC)\tPRINCIPAL\tACTION\tTARGET\tOUTCOME\tTICKET\tLINKS\tDETAIL")
	for _, r := range recs {
		principal := r.Subject
		if r.Client != "" {
			principal += " (" + r.Client + ")"
		}
		var links []string
		if r.Parent != 0 {
			links = append(links, "parent="+strconv.FormatInt(r.Parent, 10))
		}
		for _, l := range []struct{ k, v string }{{"request", r.RequestID}, {"task", r.TaskID}, {"negotiation", r.NegotiationID}} {
			if l.v != "" {
				links = append(links, l.k+"="+l.v)
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seq, r.At.UTC().Format("2006-01-02 15:04:05.000"),
			dash(principal), r.Action, dash(r.Target), r.Outcome, dash(r.TicketID), dash(strings.Join(links, " ")), dash(string(r.Detail)))
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// parseWhen reads an RFC 3339 time, or a duration before now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-11-21T10:00:00Z) nor a duration ago (24h)", s)
}

// splitFlags separates the arguments that are fs's flags (with their
// values) from the rest, which go to config.Load: the store and config
// flags of "gateway serve".
func splitFlags(fs *flag.FlagSet, args []string) (own, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, hasValue := strings.TrimLeft(a, "-"), false
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			rest = append(rest, a)
			continue
		}
		if n, _, ok := strings.Cut(name, "="); ok {
			name, hasValue = n, true
		}
		f := fs.Lookup(name)
		if f == nil {
			rest = append(rest, a)
			continue
		}
		own = append(own, a)
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); hasValue || (ok && b.IsBoolFlag()) {
			continue
		}
		if i+1 < len(args) {
			i++
			own = append(own, args[i])
		}
	}
	return own, rest
}

func auditUsageError(e env, fs *flag.FlagSet, msg string) int {
	fmt.Fprintf(e.stderr, "gateway audit: %s\n\n", msg)
	auditUsage(e.stderr, fs)
	return exitUsage
}

func auditUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `Usage:
  gateway audit verify [--store URL | --config FILE]
        walk the audit log's hash chain and report the first record that was
        altered, removed or inserted; exit status 1 if there is one
  gateway audit list [filters] [--json] [--store URL | --config FILE]
        print audit records, oldest first

These read the database directly (no gateway needs to be running), named
as for "gateway serve": --store sqlite://PATH or postgres://…, --config
FILE, PARLEY_STORE or PARLEY_CONFIG (default sqlite://./parley.db). A
running gateway lists the same records at GET /api/v1/audit.

Flags of list:
`)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}
