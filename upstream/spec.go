// Package upstream is the MCP servers Parley fronts: their registration
// (config file, admin API, CLI), connections to them in either protocol
// generation (Streamable HTTP, or a supervised stdio child), their
// outbound credentials and health, the names their tools take behind
// Parley, and the pinning of those tools' definitions.
package upstream

import (
	"fmt"
	"maps"
	"net/url"
	"path"
	"slices"
	"strings"
)

// Prefix says how an upstream's tools and prompts are named behind
// Parley.
type Prefix string

const (
	// PrefixAlways names them "<upstream>_<name>" (the default).
	PrefixAlways Prefix = "always"
	// PrefixNever keeps their own names, for upstreams whose names are
	// unique among everything Parley serves.
	PrefixNever Prefix = "never"
)

// Spec is one registered upstream: exactly one of URL (Streamable HTTP,
// either generation) and Command (a stdio server Parley starts).
type Spec struct {
	// Name identifies the upstream: lower-case letters, digits, '-' and
	// '_', starting with a letter; it prefixes its tools' names.
	Name string `json:"name"`
	// URL is the upstream's Streamable HTTP endpoint.
	URL string `json:"url,omitempty"`
	// Command is the program and arguments of a stdio upstream; Env adds
	// to its environment, Dir is its working directory.
	Command []string          `json:"command,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	Dir     string            `json:"dir,omitempty"`
	// Prefix is PrefixAlways when empty.
	Prefix Prefix `json:"prefix,omitempty"`
	// Allow and Deny filter the upstream's tools and prompts by their own
	// (unprefixed) names or globs ("read_*"): with Allow set only matching
	// names are served; Deny removes names from what is left.
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
	// Credentials are what Parley presents to an HTTP upstream; nil for
	// none. The caller's own token is never passed on.
	Credentials *Credentials `json:"credentials,omitempty"`
}

// Credentials are exactly one of a client-credentials grant, a bearer
// token read from a file (again when it changes) or one read from an
// environment variable. Secrets never travel in the spec itself.
type Credentials struct {
	ClientCredentials *ClientCredentials `json:"client_credentials,omitempty"`
	BearerTokenFile   string             `json:"bearer_token_file,omitempty"`
	BearerTokenEnv    string             `json:"bearer_token_env,omitempty"`
}

// ClientCredentials configures the OAuth 2 client credentials grant; the
// secret comes from a file or an environment variable.
type ClientCredentials struct {
	TokenURL         string   `json:"token_url"`
	ClientID         string   `json:"client_id"`
	ClientSecretFile string   `json:"client_secret_file,omitempty"`
	ClientSecretEnv  string   `json:"client_secret_env,omitempty"`
	Scopes           []string `json:"scopes,omitempty"`
	Audience         string   `json:"audience,omitempty"`
}

// Exposed is the name a tool or prompt of this upstream has behind
// Parley.
func (s Spec) Exposed(name string) string {
	if s.Prefix == PrefixNever {
		return name
	}
	return s.Name + "_" + name
}

// Status is what Parley knows of an upstream's connection now.
type Status struct {
	Name string `json:"name"`
	// Kind is "http" or "stdio".
	Kind string `json:"kind"`
	// Generation is the protocol revision negotiated ("2026-07-28",
	// "2025-11-25", …); empty until connected.
	Generation string `json:"generation,omitempty"`
	Healthy    bool   `json:"healthy"`
	// LastError says, in an operator's terms, why it is not healthy.
	LastError string `json:"last_error,omitempty"`
	// Since is when Healthy last changed (RFC 3339).
	Since string `json:"since,omitempty"`
	// Tools are the exposed names of the tools served; HeldBack those of
	// tools hidden until an admin approves their changed definition.
	Tools    []string `json:"tools,omitempty"`
	HeldBack []string `json:"held_back,omitempty"`
	Prompts  []string `json:"prompts,omitempty"`
}

// Conflict is an exposed name an upstream would take that another
// already serves: Owner is "parley" or the other upstream's name.
type Conflict struct {
	Name  string `json:"name"`
	Owner string `json:"owner"`
}

// MaxNameLen bounds an upstream's name: it prefixes tool names, which
// some clients cap at 64 characters.
const MaxNameLen = 32

// Kind is "http" for an upstream reached by URL, "stdio" for one started
// as a command.
func (s Spec) Kind() string {
	if s.URL != "" {
		return "http"
	}
	return "stdio"
}

// Validate reports what is wrong with the spec, every problem in one
// error wrapping ErrInvalid, in the words of the admin API's and the
// config file's fields. It checks the form only: whether an HTTP URL may
// be reached is the registry's address guard's business.
func (s Spec) Validate() error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	switch {
	case s.Name == "":
		bad("name: must be set: it prefixes the upstream's tool names, e.g. github")
	case len(s.Name) > MaxNameLen || !validName(s.Name):
		bad("name: %q must be 1 to %d lower-case letters, digits, '-' or '_', starting with a letter, e.g. github", s.Name, MaxNameLen)
	}
	switch {
	case s.URL == "" && len(s.Command) == 0:
		bad("give url (a Streamable HTTP endpoint) or command (a stdio server Parley starts)")
	case s.URL != "" && len(s.Command) > 0:
		bad("give url or command, not both")
	case s.URL != "":
		if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
			bad("url: %q must be an absolute http:// or https:// URL without user info or fragment, e.g. https://mcp.example.com/mcp", s.URL)
		}
		if len(s.Env) > 0 {
			bad("env: applies to a stdio upstream (command) only")
		}
		if s.Dir != "" {
			bad("dir: applies to a stdio upstream (command) only")
		}
	default:
		if strings.TrimSpace(s.Command[0]) == "" {
			bad("command: the first item must name the program to run")
		}
		for _, k := range slices.Sorted(maps.Keys(s.Env)) {
			if k == "" || strings.ContainsAny(k, "=\x00") {
				bad("env: variable name %q must not be empty or contain '=' or NUL", k)
			}
		}
		if s.Credentials != nil {
			bad("credentials: apply to an HTTP upstream (url) only; give a stdio upstream its secrets through env")
		}
	}
	switch s.Prefix {
	case "", PrefixAlways, PrefixNever:
	default:
		bad("prefix: %q must be always (the default: tools named <upstream>_<tool>) or never (the tools' own names)", s.Prefix)
	}
	for _, list := range []struct {
		field string
		globs []string
	}{{"allow", s.Allow}, {"deny", s.Deny}} {
		for _, g := range list.globs {
			if strings.TrimSpace(g) == "" {
				bad("%s: must hold tool or prompt names or globs such as read_*, not empty ones", list.field)
			} else if _, err := path.Match(g, ""); err != nil {
				bad("%s: %q is not a valid glob (* ? [a-z] and \\ escapes)", list.field, g)
			}
		}
	}
	if c := s.Credentials; c != nil {
		n := 0
		for _, set := range []bool{c.ClientCredentials != nil, c.BearerTokenFile != "", c.BearerTokenEnv != ""} {
			if set {
				n++
			}
		}
		if n != 1 {
			bad("credentials: set exactly one of client_credentials, bearer_token_file, bearer_token_env")
		} else if cc := c.ClientCredentials; cc != nil {
			if u, err := url.Parse(cc.TokenURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				bad("credentials.client_credentials.token_url: %q must be the issuer's absolute http(s) token endpoint URL", cc.TokenURL)
			}
			if cc.ClientID == "" {
				bad("credentials.client_credentials.client_id: must be set")
			}
			if (cc.ClientSecretEnv == "") == (cc.ClientSecretFile == "") {
				bad("credentials.client_credentials: set exactly one of client_secret_env and client_secret_file (secrets are not sent in the spec)")
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %w", strings.Join(problems, "; "), ErrInvalid)
}

// validName reports whether name is lower-case letters, digits, '-' and
// '_', starting with a letter.
func validName(name string) bool {
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z':
		case i > 0 && (r >= '0' && r <= '9' || r == '-' || r == '_'):
		default:
			return false
		}
	}
	return name != ""
}

// Normalized is the spec as the registry stores it: the default prefix
// spelt out, empty lists and maps as nil.
func (s Spec) Normalized() Spec {
	if s.Prefix == "" {
		s.Prefix = PrefixAlways
	}
	if len(s.Command) == 0 {
		s.Command = nil
	}
	if len(s.Env) == 0 {
		s.Env = nil
	}
	if len(s.Allow) == 0 {
		s.Allow = nil
	}
	if len(s.Deny) == 0 {
		s.Deny = nil
	}
	return s
}
