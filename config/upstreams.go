package config

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
)

// Upstream is one MCP server Parley fronts (mcp.upstreams in the file):
// exactly one of URL (Streamable HTTP, either protocol generation) and
// Command (a stdio server Parley starts and supervises). It mirrors
// upstream.Spec, which the gateway builds from it; package config imports
// nothing of Parley's, so the two are kept in step by hand (and by a test
// in package app).
//
// Upstreams from the file are written to the store at start and marked as
// the file's: the admin API may not replace or remove them, and one that
// leaves the file is removed at the next start.
type Upstream struct {
	// Name identifies the upstream and prefixes its tools' and prompts'
	// names ("github" serves "github_search"): lower-case letters, digits,
	// '-' and '_', starting with a letter, at most MaxUpstreamNameLen.
	Name string `yaml:"name"`
	// URL is the upstream's Streamable HTTP endpoint (http or https).
	URL string `yaml:"url"`
	// Command is the program and its arguments, for a stdio upstream.
	Command []string `yaml:"command"`
	// Env adds to a stdio upstream's environment.
	Env map[string]string `yaml:"env"`
	// Dir is a stdio upstream's working directory.
	Dir string `yaml:"dir"`
	// Prefix is always (the default: tools are named <name>_<tool>) or
	// never (their own names, for upstreams whose names are unique).
	Prefix string `yaml:"prefix"`
	// Allow and Deny filter the upstream's tools and prompts by their own
	// names or globs (read_*): with Allow set only matching names are
	// served; Deny removes names from what is left.
	Allow []string `yaml:"allow"`
	Deny  []string `yaml:"deny"`
	// Credentials are what Parley presents to an HTTP upstream; none when
	// unset. The caller's own token is never passed on.
	Credentials *UpstreamCredentials `yaml:"credentials"`
}

// UpstreamCredentials are exactly one of a client-credentials grant, a
// bearer token read from a file, or one read from an environment
// variable. Secrets are never written in the config file itself.
type UpstreamCredentials struct {
	ClientCredentials *UpstreamClientCredentials `yaml:"client_credentials"`
	BearerTokenFile   string                     `yaml:"bearer_token_file"`
	BearerTokenEnv    string                     `yaml:"bearer_token_env"`
}

// UpstreamClientCredentials configures the OAuth 2 client credentials
// grant for an upstream; the secret comes from a file or an environment
// variable.
type UpstreamClientCredentials struct {
	TokenURL         string   `yaml:"token_url"`
	ClientID         string   `yaml:"client_id"`
	ClientSecretFile string   `yaml:"client_secret_file"`
	ClientSecretEnv  string   `yaml:"client_secret_env"`
	Scopes           []string `yaml:"scopes"`
	Audience         string   `yaml:"audience"`
}

// MaxUpstreamNameLen bounds an upstream's name: it prefixes tool names,
// which clients show and some cap at 64 characters.
const MaxUpstreamNameLen = 32

// Prefix values.
const (
	UpstreamPrefixAlways = "always"
	UpstreamPrefixNever  = "never"
)

var upstreamNameRe = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// checkUpstreams adds one error per invalid upstream setting.
func (m MCP) checkUpstreams(bad func(field, value, reason string)) {
	seen := make(map[string]int)
	for i, u := range m.Upstreams {
		p := fmt.Sprintf("mcp.upstreams[%d]", i)
		switch {
		case u.Name == "":
			bad(p+".name", u.Name, "every upstream needs a name: it prefixes the upstream's tool names, e.g. github")
		case len(u.Name) > MaxUpstreamNameLen || !upstreamNameRe.MatchString(u.Name):
			bad(p+".name", u.Name, fmt.Sprintf("must be 1 to %d lower-case letters, digits, '-' or '_', starting with a letter, e.g. github", MaxUpstreamNameLen))
		default:
			if j, dup := seen[u.Name]; dup {
				bad(p+".name", u.Name, fmt.Sprintf("must be unique: mcp.upstreams[%d] has the same name", j))
			} else {
				seen[u.Name] = i
			}
		}
		switch {
		case u.URL == "" && len(u.Command) == 0:
			bad(p+".url", "", "must be set, or command: an upstream is a Streamable HTTP endpoint (url) or a stdio server Parley starts (command)")
		case u.URL != "" && len(u.Command) > 0:
			bad(p+".command", strings.Join(u.Command, " "), "must not be set together with url: an upstream is one or the other")
		case u.URL != "":
			if pu, err := url.Parse(u.URL); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || pu.User != nil || pu.Fragment != "" {
				bad(p+".url", u.URL, "must be an absolute http:// or https:// URL without user info or fragment, e.g. https://mcp.example.com/mcp")
			}
			if len(u.Env) > 0 {
				bad(p+".env", "", "applies to a stdio upstream (command) only")
			}
			if u.Dir != "" {
				bad(p+".dir", u.Dir, "applies to a stdio upstream (command) only")
			}
		default:
			if strings.TrimSpace(u.Command[0]) == "" {
				bad(p+".command[0]", u.Command[0], "must name the program to run")
			}
			for k := range u.Env {
				if k == "" || strings.ContainsAny(k, "=\x00") {
					bad(p+".env", k, "variable names must not be empty or contain '=' or NUL")
				}
			}
			if u.Credentials != nil {
				bad(p+".credentials", "", "apply to an HTTP upstream (url) only: give a stdio upstream its secrets through env")
			}
		}
		switch u.Prefix {
		case "", UpstreamPrefixAlways, UpstreamPrefixNever:
		default:
			bad(p+".prefix", u.Prefix, "must be always (the default: tools named <upstream>_<tool>) or never (the tools' own names)")
		}
		for j, g := range u.Allow {
			if reason := checkUpstreamGlob(g); reason != "" {
				bad(fmt.Sprintf("%s.allow[%d]", p, j), g, reason)
			}
		}
		for j, g := range u.Deny {
			if reason := checkUpstreamGlob(g); reason != "" {
				bad(fmt.Sprintf("%s.deny[%d]", p, j), g, reason)
			}
		}
		if c := u.Credentials; c != nil {
			checkUpstreamCredentials(p+".credentials", c, bad)
		}
	}
}

// checkUpstreamGlob returns why a tool-name glob is unusable, or "". Globs
// are path.Match patterns over a tool's own name.
func checkUpstreamGlob(g string) string {
	if strings.TrimSpace(g) == "" {
		return "must be a tool or prompt name or a glob such as read_*, not empty"
	}
	if _, err := path.Match(g, ""); err != nil {
		return "is not a valid glob (* ? [a-z] and \\ escapes): " + err.Error()
	}
	return ""
}

func checkUpstreamCredentials(p string, c *UpstreamCredentials, bad func(field, value, reason string)) {
	n := 0
	for _, set := range []bool{c.ClientCredentials != nil, c.BearerTokenFile != "", c.BearerTokenEnv != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		bad(p, "", "must set exactly one of client_credentials, bearer_token_file, bearer_token_env")
		return
	}
	cc := c.ClientCredentials
	if cc == nil {
		return
	}
	if u, err := url.Parse(cc.TokenURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad(p+".client_credentials.token_url", cc.TokenURL, "must be the issuer's absolute http(s) token endpoint URL")
	}
	if cc.ClientID == "" {
		bad(p+".client_credentials.client_id", "", "must be set")
	}
	if (cc.ClientSecretEnv == "") == (cc.ClientSecretFile == "") {
		bad(p+".client_credentials.client_secret_env", cc.ClientSecretEnv, "set exactly one of client_secret_env and client_secret_file (secrets are not written in the config file)")
	}
	if slices.Contains(cc.Scopes, "") {
		bad(p+".client_credentials.scopes", "", "scopes must not be empty")
	}
}
