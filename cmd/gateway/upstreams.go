package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/parleyhq/parley/adminapi"
	"github.com/parleyhq/parley/api"
)

// upstreamsCmd is "gateway upstreams", the upstream MCP servers Parley
// fronts, from the command line, through the gateway's admin API:
//
//	gateway upstreams add --name N --url URL [--prefix P] [--allow G]… [--deny G]… [credentials]
//	gateway upstreams add --name N --command PROG [--env K=V]… [--dir D] [...] [-- ARGS…]
//	gateway upstreams list
//	gateway upstreams show NAME
//	gateway upstreams approve NAME [--tool T]…
//	gateway upstreams remove NAME
//
// Flags may come before or after the subcommand; everything after "--" is
// the command's arguments.
func upstreamsCmd(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("gateway upstreams", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	apiURL := fs.String("api", "", "the gateway's base `URL` (env PARLEY_API_URL; default "+defaultAPIURL+")")
	token := fs.String("token", "", "bearer `token` sent on every request (env PARLEY_TOKEN)")
	asJSON := fs.Bool("json", false, "print the API's JSON answer instead of text")
	name := fs.String("name", "", "add: the upstream's `name` (lower-case; prefixes its tools' names)")
	url := fs.String("url", "", "add: the upstream's Streamable HTTP endpoint `URL`")
	command := fs.String("command", "", "add: the `program` of a stdio upstream; its arguments follow --")
	dir := fs.String("dir", "", "add: a stdio upstream's working `directory`")
	prefix := fs.String("prefix", "", "add: always (tools named <name>_<tool>, the default) or never (their own names)")
	var env, allow, deny, scopes, tools listFlag
	fs.Var(&env, "env", "add: `K=V` added to a stdio upstream's environment (repeatable)")
	fs.Var(&allow, "allow", "add: serve only the tools and prompts matching this name or `glob` (repeatable)")
	fs.Var(&deny, "deny", "add: leave out the tools and prompts matching this name or `glob` (repeatable)")
	bearerEnv := fs.String("bearer-token-env", "", "add: present the bearer token in the gateway's environment `variable`")
	bearerFile := fs.String("bearer-token-file", "", "add: present the bearer token in this `file` on the gateway's host")
	tokenURL := fs.String("token-url", "", "add: client credentials grant: the issuer's token endpoint `URL`")
	clientID := fs.String("client-id", "", "add: client credentials grant: the client `ID`")
	secretEnv := fs.String("client-secret-env", "", "add: client credentials grant: the gateway's environment `variable` holding the secret")
	secretFile := fs.String("client-secret-file", "", "add: client credentials grant: the `file` holding the secret")
	fs.Var(&scopes, "scope", "add: client credentials grant: a `scope` to ask for (repeatable)")
	audience := fs.String("audience", "", "add: client credentials grant: the `audience` to ask for")
	fs.Var(&tools, "tool", "approve: approve this `tool` only (repeatable; default: every drifted tool)")

	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		upstreamsUsage(e.stdout, fs)
		return exitOK
	}
	if err != nil {
		return upstreamsUsageError(e, fs, err.Error())
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
		return upstreamsUsageError(e, fs, "name a command: add, list, show, approve or remove")
	}
	sub, pos := pos[0], pos[1:]

	// Flags that belong to one command only.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	addFlags := []string{"name", "url", "command", "dir", "prefix", "env", "allow", "deny", "bearer-token-env", "bearer-token-file",
		"token-url", "client-id", "client-secret-env", "client-secret-file", "scope", "audience"}
	allowed := map[string][]string{"add": addFlags, "approve": {"tool"}}
	for _, f := range append(addFlags, "tool") {
		if set[f] && !contains(allowed[sub], f) {
			return upstreamsUsageError(e, fs, fmt.Sprintf("--%s does not apply to %q", f, sub))
		}
	}

	c, err := adminapi.NewClient(*apiURL, adminapi.ClientOptions{Token: *token})
	if err != nil {
		return upstreamsUsageError(e, fs, err.Error())
	}
	out := upstreamsOutput{agentsOutput{w: e.stdout, json: *asJSON}}

	var runErr error
	switch sub {
	case "add":
		req := api.RegisterUpstreamRequest{Name: *name, URL: *url, Dir: *dir, Prefix: *prefix, Allow: allow, Deny: deny}
		switch {
		case *name == "":
			return upstreamsUsageError(e, fs, "add needs --name")
		case *url == "" && *command == "":
			return upstreamsUsageError(e, fs, "add needs --url (an HTTP upstream) or --command (a stdio upstream)")
		case *url != "" && *command != "":
			return upstreamsUsageError(e, fs, "give --url or --command, not both")
		case *url != "" && len(pos) > 0:
			return upstreamsUsageError(e, fs, fmt.Sprintf("unexpected argument %q (arguments after -- are a --command's)", pos[0]))
		case *command != "":
			req.Command = append([]string{*command}, pos...)
		}
		if len(env) > 0 {
			req.Env = map[string]string{}
			for _, kv := range env {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return upstreamsUsageError(e, fs, fmt.Sprintf("--env %q must be NAME=VALUE", kv))
				}
				req.Env[k] = v
			}
		}
		switch {
		case *tokenURL != "" || *clientID != "" || *secretEnv != "" || *secretFile != "" || len(scopes) > 0 || *audience != "":
			req.Credentials = &api.UpstreamCredentials{ClientCredentials: &api.UpstreamClientCredentials{
				TokenURL: *tokenURL, ClientID: *clientID, ClientSecretEnv: *secretEnv, ClientSecretFile: *secretFile,
				Scopes: scopes, Audience: *audience,
			}}
			if *bearerEnv != "" || *bearerFile != "" {
				return upstreamsUsageError(e, fs, "give a bearer token or a client credentials grant, not both")
			}
		case *bearerEnv != "" || *bearerFile != "":
			req.Credentials = &api.UpstreamCredentials{BearerTokenEnv: *bearerEnv, BearerTokenFile: *bearerFile}
		}
		var u api.Upstream
		if u, runErr = c.RegisterUpstream(ctx, req); runErr == nil {
			out.added(u)
		}
	case "list":
		if len(pos) > 0 {
			return upstreamsUsageError(e, fs, fmt.Sprintf("unexpected argument %q", pos[0]))
		}
		var all []api.Upstream
		if all, runErr = c.ListUpstreams(ctx); runErr == nil {
			out.list(all)
		}
	case "show", "remove", "approve":
		if len(pos) != 1 {
			return upstreamsUsageError(e, fs, fmt.Sprintf("usage: gateway upstreams %s NAME", sub))
		}
		n := pos[0]
		switch sub {
		case "show":
			var u api.Upstream
			if u, runErr = c.GetUpstream(ctx, n); runErr == nil {
				out.show(u)
			}
		case "remove":
			if runErr = c.RemoveUpstream(ctx, n); runErr == nil {
				out.removed(n)
			}
		case "approve":
			var res api.ApproveUpstreamResult
			if res, runErr = c.ApproveUpstream(ctx, n, tools); runErr == nil {
				out.approved(res)
			}
		}
	default:
		return upstreamsUsageError(e, fs, fmt.Sprintf("unknown upstreams command %q", sub))
	}
	if runErr != nil {
		fmt.Fprintf(e.stderr, "gateway upstreams %s: %v\n", sub, runErr)
		return exitFailure
	}
	return exitOK
}

// listFlag is a flag that may be given several times.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// upstreamsOutput prints results for people, or the API's JSON.
type upstreamsOutput struct{ agentsOutput }

func (o upstreamsOutput) added(u api.Upstream) {
	if o.printJSON(u) {
		return
	}
	fmt.Fprintf(o.w, "registered %s (%s, prefix %s)\n", u.Name, u.Kind, u.Prefix)
	o.details(u)
}

func (o upstreamsOutput) details(u api.Upstream) {
	tw := tabwriter.NewWriter(o.w, 0, 0, 2, ' ', 0)
	if u.URL != "" {
		fmt.Fprintf(tw, "  url\t%s\n", u.URL)
	} else {
		fmt.Fprintf(tw, "  command\t%s\n", strings.Join(u.Command, " "))
	}
	if len(u.EnvNames) > 0 {
		fmt.Fprintf(tw, "  env\t%s (values not shown)\n", strings.Join(u.EnvNames, ", "))
	}
	if u.Dir != "" {
		fmt.Fprintf(tw, "  dir\t%s\n", u.Dir)
	}
	if len(u.Allow) > 0 {
		fmt.Fprintf(tw, "  allow\t%s\n", strings.Join(u.Allow, ", "))
	}
	if len(u.Deny) > 0 {
		fmt.Fprintf(tw, "  deny\t%s\n", strings.Join(u.Deny, ", "))
	}
	if c := u.Credentials; c != nil {
		switch {
		case c.ClientCredentials != nil:
			fmt.Fprintf(tw, "  credentials\tclient credentials from %s as %s\n", c.ClientCredentials.TokenURL, c.ClientCredentials.ClientID)
		case c.BearerTokenEnv != "":
			fmt.Fprintf(tw, "  credentials\tbearer token from $%s\n", c.BearerTokenEnv)
		case c.BearerTokenFile != "":
			fmt.Fprintf(tw, "  credentials\tbearer token from %s\n", c.BearerTokenFile)
		}
	}
	source := "admin API"
	if u.Source == "config" {
		source = "config file"
	}
	fmt.Fprintf(tw, "  source\t%s\n", source)
	tw.Flush()
}

// health is an upstream's health as a word: unknown when the answering
// replica does not know it.
func health(u api.Upstream) string {
	switch {
	case u.Status == nil:
		return "unknown"
	case u.Status.Healthy:
		return "healthy"
	default:
		return "unhealthy"
	}
}

func (o upstreamsOutput) list(all []api.Upstream) {
	if all == nil {
		all = []api.Upstream{}
	}
	if o.printJSON(api.UpstreamList{Upstreams: all}) {
		return
	}
	if len(all) == 0 {
		fmt.Fprintln(o.w, "no upstreams")
		return
	}
	tw := tabwriter.NewWriter(o.w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tHEALTH\tTOOLS\tHELD BACK\tSOURCE\tENDPOINT")
	for _, u := range all {
		tools, held := "-", "-"
		if u.Status != nil {
			tools = fmt.Sprint(len(u.Status.Tools))
			if len(u.Status.HeldBack) > 0 {
				held = fmt.Sprint(len(u.Status.HeldBack))
			}
		}
		endpoint := u.URL
		if endpoint == "" {
			endpoint = strings.Join(u.Command, " ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.Name, u.Kind, health(u), tools, held, u.Source, endpoint)
	}
	tw.Flush()
}

func (o upstreamsOutput) show(u api.Upstream) {
	if o.printJSON(u) {
		return
	}
	fmt.Fprintf(o.w, "%s (%s, prefix %s, version %d)\n", u.Name, u.Kind, u.Prefix, u.Version)
	o.details(u)
	line := health(u)
	if s := u.Status; s != nil {
		if s.Generation != "" {
			line += ", MCP " + s.Generation
		}
		if s.Since != "" {
			line += ", since " + s.Since
		}
		if s.LastError != "" {
			line += ": " + s.LastError
		}
	}
	fmt.Fprintf(o.w, "  health: %s\n", line)
	if s := u.Status; s != nil {
		if len(s.Tools) > 0 {
			fmt.Fprintf(o.w, "  tools: %s\n", strings.Join(s.Tools, ", "))
		}
		if len(s.Prompts) > 0 {
			fmt.Fprintf(o.w, "  prompts: %s\n", strings.Join(s.Prompts, ", "))
		}
	}
	for _, d := range u.Drift {
		fmt.Fprintf(o.w, "  DRIFT: %s changed its definition (%s, was %s), detected %s: held back\n",
			d.Exposed, d.SeenHash, d.ApprovedHash, d.DetectedAt.Local().Format("2006-01-02 15:04:05"))
	}
	if len(u.Drift) > 0 {
		fmt.Fprintf(o.w, "  serve the changed definitions with: gateway upstreams approve %s [--tool NAME]\n", u.Name)
	}
}

func (o upstreamsOutput) approved(res api.ApproveUpstreamResult) {
	if o.printJSON(res) {
		return
	}
	if len(res.Approved) == 0 {
		fmt.Fprintf(o.w, "%s: nothing to approve (no tool held back)\n", res.Upstream.Name)
		return
	}
	fmt.Fprintf(o.w, "approved %d tool(s) of %s: %s\n", len(res.Approved), res.Upstream.Name, strings.Join(res.Approved, ", "))
	if len(res.Upstream.Drift) > 0 {
		var left []string
		for _, d := range res.Upstream.Drift {
			left = append(left, d.Exposed)
		}
		fmt.Fprintf(o.w, "  still held back: %s\n", strings.Join(left, ", "))
	}
}

func upstreamsUsageError(e env, fs *flag.FlagSet, msg string) int {
	fmt.Fprintf(e.stderr, "gateway upstreams: %s\n\n", msg)
	upstreamsUsage(e.stderr, fs)
	return exitUsage
}

func upstreamsUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `Usage:
  gateway upstreams [flags] add --name N --url URL [--prefix always|never] [--allow G] [--deny G]
                               [--bearer-token-env V | --bearer-token-file F |
                                --token-url U --client-id C (--client-secret-env V | --client-secret-file F)
                                [--scope S] [--audience A]]
                                                    register an HTTP upstream
  gateway upstreams [flags] add --name N --command PROG [--env K=V] [--dir D] [...] [-- ARGS...]
                                                    register a stdio upstream Parley starts
  gateway upstreams [flags] list
  gateway upstreams [flags] show NAME               the upstream, its health, tools and drift
  gateway upstreams [flags] approve NAME [--tool T] serve changed tool definitions (default: all)
  gateway upstreams [flags] remove NAME

These talk to a running gateway's admin API (/api/v1/upstreams). Upstreams
in the config file (mcp.upstreams) are listed too, but change them there.

Flags:
`)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}
