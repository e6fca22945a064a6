package auth

import (
	"strings"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"
)

// A2ASecuritySchemeName names the gateway's OpenID Connect scheme in its
// A2A agent card.
const A2ASecuritySchemeName = "oidc"

// A2ASecurity is what the gateway's A2A agent card declares
// (a2a.Options.SecuritySchemes and Security): one OpenID Connect scheme
// pointing at the issuer's discovery document, required with the
// configured required scopes. Both are nil in no-auth mode.
func (s *Service) A2ASecurity() (a2ago.NamedSecuritySchemes, a2ago.SecurityRequirementsOptions) {
	if s.verifier == nil {
		return nil, nil
	}
	schemes := a2ago.NamedSecuritySchemes{
		A2ASecuritySchemeName: a2ago.OpenIDConnectSecurityScheme{
			Description:      "Bearer JWT access token from this OpenID Connect issuer, audience one of: " + strings.Join(s.verifier.Audiences(), ", "),
			OpenIDConnectURL: strings.TrimSuffix(s.verifier.Issuer(), "/") + "/.well-known/openid-configuration",
		},
	}
	scopes := a2ago.SecuritySchemeScopes(s.requiredScopes())
	if scopes == nil {
		scopes = a2ago.SecuritySchemeScopes{}
	}
	return schemes, a2ago.SecurityRequirementsOptions{{A2ASecuritySchemeName: scopes}}
}
