package agentcards

import (
	"encoding/json"
	"fmt"

	"github.com/a2aproject/a2a-go/a2a"
)

// A2A returns the card as a2a-go's (A2A 0.3) AgentCard, for
// a2aclient.NewFromCard. An A2A 1.0 card is translated: url,
// preferredTransport and additionalInterfaces come from its interfaces,
// protocolVersion from Endpoint's interface, security schemes and
// requirements from their 1.0 shapes, and capabilities.extendedAgentCard
// becomes supportsAuthenticatedExtendedCard. Fields a 0.3 card already
// has are kept as they are.
func (c *Card) A2A() (*a2a.AgentCard, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(c.Raw, &doc); err != nil {
		return nil, fmt.Errorf("agent card %q: %w", c.Name, err)
	}
	set := func(key string, v any) {
		if b, err := json.Marshal(v); err == nil {
			doc[key] = b
		}
	}
	if _, ok := doc["url"]; !ok && len(c.Interfaces) > 0 {
		set("url", c.Endpoint)
		set("preferredTransport", c.EndpointTransport)
		var extra []a2a.AgentInterface
		for _, i := range c.Interfaces {
			extra = append(extra, a2a.AgentInterface{URL: i.URL, Transport: a2a.TransportProtocol(i.Transport)})
		}
		set("additionalInterfaces", extra)
	}
	if _, ok := doc["protocolVersion"]; !ok {
		set("protocolVersion", c.ProtocolVersion)
	}
	if raw, ok := doc["securitySchemes"]; ok {
		schemes, err := securitySchemesTo03(raw)
		if err != nil {
			return nil, fmt.Errorf("agent card %q: securitySchemes: %w", c.Name, err)
		}
		doc["securitySchemes"] = schemes
	}
	if _, ok := doc["security"]; !ok {
		if raw, ok := doc["securityRequirements"]; ok {
			if reqs, err := requirementsTo03(raw); err == nil {
				doc["security"] = reqs
			}
		}
	}
	if raw, ok := doc["skills"]; ok {
		var skills []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &skills); err == nil {
			for _, s := range skills {
				if _, ok := s["security"]; ok {
					continue
				}
				if r, ok := s["securityRequirements"]; ok {
					if reqs, err := requirementsTo03(r); err == nil {
						s["security"] = reqs
					}
				}
			}
			set("skills", skills)
		}
	}
	if raw, ok := doc["capabilities"]; ok {
		var caps struct {
			ExtendedAgentCard bool `json:"extendedAgentCard"`
		}
		if json.Unmarshal(raw, &caps) == nil && caps.ExtendedAgentCard {
			if _, ok := doc["supportsAuthenticatedExtendedCard"]; !ok {
				set("supportsAuthenticatedExtendedCard", true)
			}
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("agent card %q: %w", c.Name, err)
	}
	var out a2a.AgentCard
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("agent card %q as A2A 0.3: %w", c.Name, err)
	}
	return &out, nil
}

// securitySchemesTo03 rewrites A2A 1.0 schemes ({"httpAuthSecurityScheme":
// {...}}) as 0.3 ones ({"type": "http", ...}); 0.3 schemes pass through.
func securitySchemesTo03(raw json.RawMessage) (json.RawMessage, error) {
	var schemes map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &schemes); err != nil {
		return nil, err
	}
	out := make(map[string]map[string]json.RawMessage, len(schemes))
	for name, s := range schemes {
		if _, ok := s["type"]; ok {
			out[name] = s
			continue
		}
		for key, typ := range schemeKeys10 {
			inner, ok := s[key]
			if !ok {
				continue
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(inner, &fields); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if fields == nil {
				fields = map[string]json.RawMessage{}
			}
			fields["type"], _ = json.Marshal(typ)
			if loc, ok := fields["location"]; ok && typ == "apiKey" {
				fields["in"] = loc // 1.0 renamed "in" to "location"
				delete(fields, "location")
			}
			out[name] = fields
			break
		}
	}
	return json.Marshal(out)
}

// requirementsTo03 rewrites A2A 1.0 security requirements
// ([{"schemes": {"name": {"list": ["scope"]}}}]) as 0.3 ones
// ([{"name": ["scope"]}]).
func requirementsTo03(raw json.RawMessage) (json.RawMessage, error) {
	var reqs []struct {
		Schemes map[string]struct {
			List []string `json:"list"`
		} `json:"schemes"`
	}
	if err := json.Unmarshal(raw, &reqs); err != nil {
		return nil, err
	}
	out := make([]map[string][]string, 0, len(reqs))
	for _, r := range reqs {
		m := make(map[string][]string, len(r.Schemes))
		for name, scopes := range r.Schemes {
			if scopes.List == nil {
				scopes.List = []string{}
			}
			m[name] = scopes.List
		}
		out = append(out, m)
	}
	return json.Marshal(out)
}
