package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/parleyhq/parley/adminapi"
	"github.com/parleyhq/parley/api"
)

const defaultAPIURL = "http://127.0.0.1:8080"

// agentsCmd is "gateway agents", the registry of A2A agents from the
// command line, through the gateway's admin API:
//
//	gateway agents register URL [--name N]
//	gateway agents register --file card.json [--name N]
//	gateway agents list [--skill S] [--tag T] [--q TEXT]
//	gateway agents show NAME
//	gateway agents refetch NAME
//	gateway agents approve NAME [--hash H]
//	gateway agents remove NAME
//
// Flags may come before or after the subcommand.
func agentsCmd(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("gateway agents", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	apiURL := fs.String("api", "", "the gateway's base `URL` (env PARLEY_API_URL; default "+defaultAPIURL+")")
	token := fs.String("token", "", "bearer `token` sent on every request (env PARLEY_TOKEN)")
	asJSON := fs.Bool("json", false, "print the API's JSON answer instead of text")
	name := fs.String("name", "", "register: the agent's `name` (default: the card's name)")
	file := fs.String("file", "", "register: the card document to register (`path`, - for stdin)")
	skill := fs.String("skill", "", "list: agents with this skill `ID`")
	tag := fs.String("tag", "", "list: agents with a skill of this `tag`")
	text := fs.String("q", "", "list: agents whose name, description or skills contain these `words`")
	hash := fs.String("hash", "", "approve: adopt the pending card only if its hash is this `hash`")

	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		agentsUsage(e.stdout, fs)
		return exitOK
	}
	if err != nil {
		return agentsUsageError(e, fs, err.Error())
	}
	if *apiURL == "" {
		*apiURL = e.getenv("PARLEY_API_URL")
	}
	if *apiURL == "" {
		*apiURL = defaultAPIURL
	}
	if *token == "" {
		*token = e.getenv("PARLEY_TOKEN")
	}
	if len(pos) == 0 {
		return agentsUsageError(e, fs, "name a command: register, list, show, refetch, approve or remove")
	}
	sub, pos := pos[0], pos[1:]

	// Flags that belong to one command only.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	allowed := map[string][]string{
		"register": {"name", "file"},
		"list":     {"skill", "tag", "q"},
		"approve":  {"hash"},
	}
	for _, f := range []string{"name", "file", "skill", "tag", "q", "hash"} {
		if set[f] && !contains(allowed[sub], f) {
			return agentsUsageError(e, fs, fmt.Sprintf("--%s does not apply to %q", f, sub))
		}
	}

	c, err := adminapi.NewClient(*apiURL, adminapi.ClientOptions{Token: *token})
	if err != nil {
		return agentsUsageError(e, fs, err.Error())
	}
	out := agentsOutput{w: e.stdout, json: *asJSON}

	var runErr error
	switch sub {
	case "register":
		req := api.RegisterAgentRequest{Name: *name}
		switch {
		case *file != "" && len(pos) > 0:
			return agentsUsageError(e, fs, "give a URL or --file, not both")
		case *file != "":
			doc, err := readCardFile(e, *file)
			if err != nil {
				fmt.Fprintf(e.stderr, "gateway agents: %v\n", err)
				return exitFailure
			}
			req.Card = doc
		case len(pos) == 1:
			req.URL = pos[0]
		default:
			return agentsUsageError(e, fs, "usage: gateway agents register URL [--name N] | register --file card.json [--name N]")
		}
		var a api.Agent
		if a, runErr = c.Register(ctx, req); runErr == nil {
			out.registered(a)
		}
	case "list":
		if len(pos) > 0 {
			return agentsUsageError(e, fs, fmt.Sprintf("unexpected argument %q (search with --skill, --tag or --q)", pos[0]))
		}
		var agents []api.Agent
		if agents, runErr = c.ListAll(ctx, adminapi.ListOptions{Skill: *skill, Tag: *tag, Query: *text}); runErr == nil {
			out.list(agents)
		}
	case "show", "remove", "refetch", "approve":
		if len(pos) != 1 {
			return agentsUsageError(e, fs, fmt.Sprintf("usage: gateway agents %s NAME", sub))
		}
		n := pos[0]
		switch sub {
		case "show":
			var a api.Agent
			if a, runErr = c.Get(ctx, n); runErr == nil {
				out.show(a)
			}
		case "remove":
			if runErr = c.Remove(ctx, n); runErr == nil {
				out.removed(n)
			}
		case "refetch":
			var res api.RefetchResult
			if res, runErr = c.Refetch(ctx, n); runErr == nil {
				out.refetched(res)
			}
		case "approve":
			var a api.Agent
			if a, runErr = c.Approve(ctx, n, *hash); runErr == nil {
				out.approved(a)
			}
		}
	default:
		return agentsUsageError(e, fs, fmt.Sprintf("unknown agents command %q", sub))
	}
	if runErr != nil {
		fmt.Fprintf(e.stderr, "gateway agents %s: %v\n", sub, runErr)
		return exitFailure
	}
	return exitOK
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func readCardFile(e env, path string) (json.RawMessage, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(e.stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read card: %w", err)
	}
	if !json.Valid(data) {
		return nil, fmt.Errorf("card %s is not valid JSON", path)
	}
	return data, nil
}

// agentsOutput prints results for people, or the API's JSON.
type agentsOutput struct {
	w    io.Writer
	json bool
}

func (o agentsOutput) printJSON(v any) bool {
	if !o.json {
		return false
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintln(o.w, string(b))
	return true
}

func (o agentsOutput) registered(a api.Agent) {
	if o.printJSON(a) {
		return
	}
	fmt.Fprintf(o.w, "registered %s (%s)\n", a.Name, a.Health.Status)
	o.details(a)
}

func (o agentsOutput) details(a api.Agent) {
	tw := tabwriter.NewWriter(o.w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  endpoint\t%s (%s, A2A %s)\n", a.URL, a.Transport, a.ProtocolVersion)
	if a.SourceURL != "" {
		fmt.Fprintf(tw, "  card\t%s\n", a.SourceURL)
	} else {
		fmt.Fprintf(tw, "  card\tregistered by document\n")
	}
	if a.Description != "" {
		fmt.Fprintf(tw, "  description\t%s\n", a.Description)
	}
	for i, s := range a.Skills {
		label := ""
		if i == 0 {
			label = "skills"
		}
		line := s.ID
		if s.Name != "" && s.Name != s.ID {
			line += " (" + s.Name + ")"
		}
		if len(s.Tags) > 0 {
			line += " [" + strings.Join(s.Tags, ", ") + "]"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", label, line)
	}
	fmt.Fprintf(tw, "  card hash\t%s\n", a.CardHash)
	tw.Flush()
}

func (o agentsOutput) list(agents []api.Agent) {
	if agents == nil {
		agents = []api.Agent{}
	}
	if o.printJSON(api.AgentList{Agents: agents}) {
		return
	}
	if len(agents) == 0 {
		fmt.Fprintln(o.w, "no agents")
		return
	}
	tw := tabwriter.NewWriter(o.w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tHEALTH\tDRIFT\tSKILLS\tURL")
	for _, a := range agents {
		var skills []string
		for _, s := range a.Skills {
			skills = append(skills, s.ID)
		}
		drift := "-"
		if a.Drift {
			drift = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Name, a.Health.Status, drift, strings.Join(skills, ","), a.URL)
	}
	tw.Flush()
}

func (o agentsOutput) show(a api.Agent) {
	if o.printJSON(a) {
		return
	}
	fmt.Fprintf(o.w, "%s (version %d)\n", a.Name, a.Version)
	o.details(a)
	health := a.Health.Status
	if a.Health.CheckedAt != nil {
		health += ", checked " + a.Health.CheckedAt.Local().Format(time.DateTime)
	}
	if a.Health.Error != "" {
		health += ": " + a.Health.Error
	}
	fmt.Fprintf(o.w, "  health: %s\n", health)
	if a.Pending != nil {
		fmt.Fprintf(o.w, "  DRIFT: the agent serves a changed card (%s), detected %s\n", a.Pending.Summary, a.Pending.DetectedAt.Local().Format(time.DateTime))
		fmt.Fprintf(o.w, "  pending card hash: %s\n", a.Pending.CardHash)
		fmt.Fprintf(o.w, "  adopt it with: gateway agents approve %q --hash %s\n", a.Name, a.Pending.CardHash)
	}
}

func (o agentsOutput) removed(name string) {
	if o.printJSON(map[string]string{"removed": name}) {
		return
	}
	fmt.Fprintf(o.w, "removed %s\n", name)
}

func (o agentsOutput) refetched(res api.RefetchResult) {
	if o.printJSON(res) {
		return
	}
	switch res.Outcome {
	case "unchanged":
		fmt.Fprintf(o.w, "%s: card unchanged\n", res.Agent.Name)
		if res.Agent.Pending != nil {
			fmt.Fprintf(o.w, "  still awaiting approval: %s\n", res.Agent.Pending.Summary)
		}
	case "updated":
		fmt.Fprintf(o.w, "%s: cosmetic changes adopted (%s)\n", res.Agent.Name, res.Changes)
	case "drift":
		fmt.Fprintf(o.w, "%s: DRIFT: %s\n", res.Agent.Name, res.Changes)
		fmt.Fprintf(o.w, "  the changed card awaits approval: gateway agents approve %q --hash %s\n", res.Agent.Name, res.Agent.Pending.CardHash)
	case "drift-cleared":
		fmt.Fprintf(o.w, "%s: the agent serves its adopted card again; the pending card was dropped\n", res.Agent.Name)
	default:
		fmt.Fprintf(o.w, "%s: %s\n", res.Agent.Name, res.Outcome)
	}
}

func (o agentsOutput) approved(a api.Agent) {
	if o.printJSON(a) {
		return
	}
	fmt.Fprintf(o.w, "approved %s: card %s adopted\n", a.Name, a.CardHash)
}

func agentsUsageError(e env, fs *flag.FlagSet, msg string) int {
	fmt.Fprintf(e.stderr, "gateway agents: %s\n\n", msg)
	agentsUsage(e.stderr, fs)
	return exitUsage
}

func agentsUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `Usage:
  gateway agents [flags] register URL [--name N]    fetch the agent's card from URL and register it
  gateway agents [flags] register --file CARD.json [--name N]
                                                    register a card document (- reads stdin)
  gateway agents [flags] list [--skill S] [--tag T] [--q WORDS]
  gateway agents [flags] show NAME                  the agent, its health and any drift
  gateway agents [flags] refetch NAME               fetch the card again (changes are flagged as drift)
  gateway agents [flags] approve NAME [--hash H]    adopt the changed card awaiting approval
  gateway agents [flags] remove NAME

These talk to a running gateway's admin API (/api/v1/agents).

Flags:
`)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}
