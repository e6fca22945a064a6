package config

import "net/url"

// UI configures the admin web UI served at /ui/. In no-auth mode it needs
// nothing; with an issuer (auth.issuer), the page signs the operator in
// with the OpenID Connect authorization code flow and PKCE, as a public
// client of the issuer registered with redirect URI public_url + /ui/,
// and calls the admin API with the access token it got (held in the
// page's memory only), so that the same policy and admin roles apply.
type UI struct {
	// ClientID is the UI's client at the issuer. Empty with an issuer: the
	// page says that sign-in is not configured.
	ClientID string `yaml:"client_id"`
	// Scopes are asked for at sign-in. Default: openid.
	Scopes []string `yaml:"scopes"`
	// Resource, if set, is sent as the RFC 8707 resource indicator, for
	// issuers that choose the token's audience by it.
	Resource string `yaml:"resource"`
}

func (u UI) check(bad func(field, value, reason string)) {
	if u.Resource != "" {
		if r, err := url.Parse(u.Resource); err != nil || r.Scheme == "" || r.Fragment != "" {
			bad("ui.resource", u.Resource, "must be an absolute URI without a fragment, such as https://parley.example.com or urn:parley")
		}
	}
}
