package upstream

// Outbound credentials: what Parley presents to an HTTP upstream. Never
// the caller's token: every request loses any Authorization header before
// the upstream's own credentials (if any) are set.

import (
	"context"
	"fmt"
	"net/http"

	"golang.org/x/oauth2"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
)

// tokenSourceFor prepares c (nil: none). The token endpoint is not called
// until the first request.
func tokenSourceFor(ctx context.Context, c *Credentials, getenv func(string) string) (oauth2.TokenSource, error) {
	if c == nil {
		return nil, nil
	}
	ac := config.AgentCredentials{BearerTokenFile: c.BearerTokenFile, BearerTokenEnv: c.BearerTokenEnv}
	if cc := c.ClientCredentials; cc != nil {
		ac.ClientCredentials = &config.ClientCredentials{
			TokenURL: cc.TokenURL, ClientID: cc.ClientID,
			ClientSecretEnv: cc.ClientSecretEnv, ClientSecretFile: cc.ClientSecretFile,
			Scopes: cc.Scopes, Audience: cc.Audience,
		}
	}
	ts, err := auth.NewTokenSource(ctx, ac, auth.OutboundOptions{Getenv: getenv})
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	return ts, nil
}

// credentialTransport strips any Authorization header and sets the
// upstream's token, when it has credentials.
type credentialTransport struct {
	ts   oauth2.TokenSource // nil: none
	base http.RoundTripper
}

func (t *credentialTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// A RoundTripper must not modify the request it is given.
	out := req.Clone(req.Context())
	out.Header.Del("Authorization")
	if t.ts != nil {
		tok, err := t.ts.Token()
		if err != nil {
			if req.Body != nil {
				req.Body.Close()
			}
			return nil, fmt.Errorf("upstream credentials: %w", err)
		}
		tok.SetAuthHeader(out)
	}
	return t.base.RoundTrip(out)
}
