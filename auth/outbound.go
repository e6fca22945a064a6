package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc/credentials"

	"github.com/parleyhq/parley/config"
)

// OutboundOptions tune NewOutbound.
type OutboundOptions struct {
	// Getenv reads client_secret_env and bearer_token_env. Default
	// os.Getenv.
	Getenv func(string) string
	// HTTPClient calls token endpoints. Default: a client with a 30s
	// timeout.
	HTTPClient *http.Client
}

// Outbound holds the credentials the gateway presents to registered
// agents, per agent (names compare case-insensitively): OAuth 2 client
// credentials (tokens fetched when first needed, cached and renewed before
// they expire) or a static bearer token from a file (read again when the
// file changes) or an environment variable. It never forwards a caller's
// token. Safe for concurrent use.
type Outbound struct {
	sources map[string]oauth2.TokenSource // by lower-cased agent name
}

// NewOutbound checks and prepares the configured credentials: a missing
// secret variable, an empty token or an unreadable file is an error
// naming the agent. No token endpoint is called yet.
func NewOutbound(ctx context.Context, creds map[string]config.AgentCredentials, opts OutboundOptions) (*Outbound, error) {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	// Tokens are fetched long after start-up, on behalf of many requests:
	// not bound to any one request's context.
	tokenCtx := context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, opts.HTTPClient)

	o := &Outbound{sources: map[string]oauth2.TokenSource{}}
	names := make([]string, 0, len(creds))
	for name := range creds {
		names = append(names, name)
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		c := creds[name]
		key := strings.ToLower(name)
		if _, dup := o.sources[key]; dup {
			errs = append(errs, fmt.Errorf("auth: credentials for agent %q: given twice (names compare case-insensitively)", name))
			continue
		}
		ts, err := tokenSource(tokenCtx, c, opts.Getenv)
		if err != nil {
			errs = append(errs, fmt.Errorf("auth: credentials for agent %q: %w", name, err))
			continue
		}
		o.sources[key] = ts
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return o, nil
}

// NewTokenSource prepares one set of outbound credentials as NewOutbound
// does for an agent's (the same checks, caching and renewal), for other
// peers Parley calls with its own credentials: upstream MCP servers.
func NewTokenSource(ctx context.Context, c config.AgentCredentials, opts OutboundOptions) (oauth2.TokenSource, error) {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	return tokenSource(context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, opts.HTTPClient), c, opts.Getenv)
}

func tokenSource(ctx context.Context, c config.AgentCredentials, getenv func(string) string) (oauth2.TokenSource, error) {
	switch {
	case c.ClientCredentials != nil:
		cc := c.ClientCredentials
		if cc.TokenURL == "" || cc.ClientID == "" {
			return nil, errors.New("client_credentials needs token_url and client_id")
		}
		var secret string
		switch {
		case cc.ClientSecretEnv != "":
			if secret = getenv(cc.ClientSecretEnv); secret == "" {
				return nil, fmt.Errorf("client secret variable %s is not set", cc.ClientSecretEnv)
			}
		case cc.ClientSecretFile != "":
			b, err := os.ReadFile(cc.ClientSecretFile)
			if err != nil {
				return nil, fmt.Errorf("client secret file: %w", err)
			}
			if secret = strings.TrimSpace(string(b)); secret == "" {
				return nil, fmt.Errorf("client secret file %s is empty", cc.ClientSecretFile)
			}
		default:
			return nil, errors.New("client_credentials needs client_secret_env or client_secret_file")
		}
		params := url.Values{}
		if cc.Audience != "" {
			params.Set("audience", cc.Audience)
		}
		if cc.Resource != "" {
			params.Set("resource", cc.Resource)
		}
		conf := &clientcredentials.Config{
			ClientID:       cc.ClientID,
			ClientSecret:   secret,
			TokenURL:       cc.TokenURL,
			Scopes:         cc.Scopes,
			EndpointParams: params,
		}
		return conf.TokenSource(ctx), nil // caches and renews
	case c.BearerTokenFile != "":
		fs := &fileTokenSource{path: c.BearerTokenFile}
		if _, err := fs.Token(); err != nil {
			return nil, err
		}
		return fs, nil
	case c.BearerTokenEnv != "":
		tok := strings.TrimSpace(getenv(c.BearerTokenEnv))
		if tok == "" {
			return nil, fmt.Errorf("bearer token variable %s is not set", c.BearerTokenEnv)
		}
		return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, TokenType: "Bearer"}), nil
	}
	return nil, errors.New("no credentials configured (client_credentials, bearer_token_file or bearer_token_env)")
}

// Has reports whether credentials are configured for the agent.
func (o *Outbound) Has(agent string) bool {
	if o == nil {
		return false
	}
	_, ok := o.sources[strings.ToLower(agent)]
	return ok
}

// Agents lists the agents with credentials (lower-cased).
func (o *Outbound) Agents() []string {
	if o == nil {
		return nil
	}
	names := make([]string, 0, len(o.sources))
	for n := range o.sources {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Token returns the current token for the agent, nil when none is
// configured.
func (o *Outbound) Token(agent string) (*oauth2.Token, error) {
	if o == nil {
		return nil, nil
	}
	ts, ok := o.sources[strings.ToLower(agent)]
	if !ok {
		return nil, nil
	}
	tok, err := ts.Token()
	if err != nil {
		return nil, fmt.Errorf("auth: credentials for agent %q: %w", agent, err)
	}
	return tok, nil
}

// Transport wraps base (nil: http.DefaultTransport) for requests to one
// agent: every request loses any Authorization header it carries (a
// caller's token must never reach an agent) and gets the agent's own
// credentials, when configured. A nil Outbound still strips.
func (o *Outbound) Transport(agent string, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &outboundTransport{o: o, agent: agent, base: base}
}

type outboundTransport struct {
	o     *Outbound
	agent string
	base  http.RoundTripper
}

func (t *outboundTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := t.o.Token(t.agent)
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	// A RoundTripper must not modify the request it is given.
	out := req.Clone(req.Context())
	out.Header.Del("Authorization")
	if tok != nil {
		tok.SetAuthHeader(out)
	}
	return t.base.RoundTrip(out)
}

// PerRPCCredentials are the agent's credentials for a gRPC connection
// (grpc.WithPerRPCCredentials), nil when none are configured. They do not
// require transport security, so that agents on a private network without
// TLS can be reached: the token then crosses that network in clear.
func (o *Outbound) PerRPCCredentials(agent string) credentials.PerRPCCredentials {
	if !o.Has(agent) {
		return nil
	}
	return rpcCredentials{o: o, agent: agent}
}

type rpcCredentials struct {
	o     *Outbound
	agent string
}

func (c rpcCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	tok, err := c.o.Token(c.agent)
	if err != nil || tok == nil {
		return nil, err
	}
	return map[string]string{"authorization": tok.Type() + " " + tok.AccessToken}, nil
}

func (rpcCredentials) RequireTransportSecurity() bool { return false }

// fileTokenSource reads a bearer token from a file, again whenever the
// file's size or modification time changes (rotated tokens).
type fileTokenSource struct {
	path string

	mu      sync.Mutex
	modTime time.Time
	size    int64
	token   *oauth2.Token
}

func (f *fileTokenSource) Token() (*oauth2.Token, error) {
	fi, err := os.Stat(f.path)
	if err != nil {
		return nil, fmt.Errorf("bearer token file: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.token != nil && fi.ModTime().Equal(f.modTime) && fi.Size() == f.size {
		return f.token, nil
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		return nil, fmt.Errorf("bearer token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return nil, fmt.Errorf("bearer token file %s is empty", f.path)
	}
	f.token = &oauth2.Token{AccessToken: tok, TokenType: "Bearer"}
	f.modTime, f.size = fi.ModTime(), fi.Size()
	return f.token, nil
}

// MetadataKey is the key of Parley's entry in A2A message metadata.
const MetadataKey = "parley"

// OnBehalfOf is the metadata entry naming the principal the gateway acts
// for: {"parley": {"on_behalf_of": {"sub": …, "client": …, "iss": …}}}
// (empty fields left out; the anonymous principal of no-auth mode is
// {"sub": "anonymous"}). Nil p gives nil.
func OnBehalfOf(p *Principal) map[string]any {
	if p == nil {
		return nil
	}
	who := map[string]any{}
	if p.Anonymous {
		who["sub"] = AnonymousName
	}
	if p.Subject != "" {
		who["sub"] = p.Subject
	}
	if p.ClientID != "" {
		who["client"] = p.ClientID
	}
	if p.Issuer != "" {
		who["iss"] = p.Issuer
	}
	return map[string]any{MetadataKey: map[string]any{"on_behalf_of": who}}
}

// WithOnBehalfOf adds OnBehalfOf(p) to an A2A message's metadata (which
// may be nil) and returns it, keeping every other entry, other keys under
// "parley" included. A caller-supplied on_behalf_of is always replaced (or,
// with a nil p, removed): only the gateway says on whose behalf it acts.
func WithOnBehalfOf(meta map[string]any, p *Principal) map[string]any {
	entry := map[string]any{}
	old, had := meta[MetadataKey]
	if m, ok := old.(map[string]any); ok {
		for k, v := range m {
			entry[k] = v
		}
	}
	delete(entry, "on_behalf_of")
	if add := OnBehalfOf(p); add != nil {
		entry["on_behalf_of"] = add[MetadataKey].(map[string]any)["on_behalf_of"]
	}
	if len(entry) == 0 && !had {
		return meta
	}
	if meta == nil {
		meta = map[string]any{}
	}
	meta[MetadataKey] = entry
	return meta
}
