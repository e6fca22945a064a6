package compat

import (
	"maps"
	"strings"
)

// Agent cards as JSON, for the relay: it serves a registered agent's card
// rewritten to point at itself, keeping every field it does not know
// (extensions, vendor fields), as one document A2A 0.3 and 1.0 clients both
// read, and reads the agent's endpoints per version out of cards of
// either generation. a2a-go v2.4.0 does the same for its own types
// (a2av0.NewAgentCardParser reads a 0.3 card into an a2a.AgentCard,
// a2av0.NewAgentCardProducer writes a card in both shapes), which is what
// the gateway's own card uses; going through those types would drop what
// they lack from a relayed agent's card.

// Interface is one endpoint of an agent: a 1.0 AgentInterface. 0.3 cards
// describe the same with url/preferredTransport/additionalInterfaces and one
// card-wide protocolVersion.
type Interface struct {
	URL             string `json:"url"`
	ProtocolBinding string `json:"protocolBinding"` // BindingJSONRPC, BindingGRPC, BindingHTTPJSON
	ProtocolVersion string `json:"protocolVersion,omitempty"`
	Tenant          string `json:"tenant,omitempty"`
}

// Version returns the protocol generation of the interface ("" counts as
// 0.3, as in 1.0 clients).
func (i Interface) Version() Version { return ParseVersion(i.ProtocolVersion) }

// InterfacesFor lists one interface per version at the same URL, for cards
// of endpoints that accept several versions (the relay's JSON-RPC and REST
// endpoints, which speak 1.0 and 0.3 at one URL).
func InterfacesFor(url, binding string, versions ...Version) []Interface {
	out := make([]Interface, 0, len(versions))
	for _, v := range versions {
		out = append(out, Interface{URL: url, ProtocolBinding: binding, ProtocolVersion: string(v)})
	}
	return out
}

// CardInterfaces reads the endpoints out of an agent card of either version
// (or one carrying both): 1.0 supportedInterfaces first, then the 0.3
// url/preferredTransport and additionalInterfaces, without duplicates.
func CardInterfaces(card []byte) ([]Interface, error) {
	c, err := decodeCard(card)
	if err != nil {
		return nil, err
	}
	return cardInterfaces(c), nil
}

// CardWith10 adds the 1.0 fields to a 0.3 agent card while keeping every 0.3
// field (a 1.0-only card first gets its 0.3 fields as in CardTo03), so that
// one document serves both generations (a 1.0 client reads
// supportedInterfaces and ignores the rest; a 0.3 client, a2a-go's included,
// ignores the 1.0 fields):
//
//   - supportedInterfaces: interfaces if not nil, else the card's own, else
//     derived from url/preferredTransport/additionalInterfaces;
//   - capabilities.extendedAgentCard from supportsAuthenticatedExtendedCard;
//   - securityRequirements (card and skills) from security;
//   - each 0.3 security scheme also gets its 1.0 oneof member, e.g.
//     {"type":"openIdConnect","openIdConnectUrl":u,
//     "openIdConnectSecurityScheme":{"openIdConnectUrl":u}}.
func CardWith10(card []byte, interfaces []Interface) ([]byte, error) {
	c, err := decodeCard(card)
	if err != nil {
		return nil, err
	}
	if url, _ := c["url"].(string); url == "" && hasSupportedInterfaces(c) {
		c = cardTo03(c) // a 1.0-only card: give it its 0.3 fields first
	}
	out := maps.Clone(c)
	switch {
	case interfaces != nil:
		out["supportedInterfaces"] = interfacesJSON(interfaces)
	case !hasSupportedInterfaces(c):
		out["supportedInterfaces"] = interfacesJSON(interfaces03(c))
	}
	if caps, ok := c["capabilities"].(obj); ok {
		if x, ok := c["supportsAuthenticatedExtendedCard"]; ok {
			caps = maps.Clone(caps)
			caps["extendedAgentCard"] = x
			out["capabilities"] = caps
		}
	}
	if _, ok := c["securityRequirements"]; !ok {
		if sr := securityReqs03to10(c["security"]); sr != nil {
			out["securityRequirements"] = sr
		}
	}
	if ss, ok := c["securitySchemes"].(obj); ok {
		merged := obj{}
		for name, s := range ss {
			so, ok := s.(obj)
			if !ok || so["type"] == nil {
				merged[name] = s
				continue
			}
			m := maps.Clone(so)
			maps.Copy(m, scheme03to10(so))
			merged[name] = m
		}
		out["securitySchemes"] = merged
	}
	if skills, ok := c["skills"].([]any); ok {
		ns := make([]any, len(skills))
		for i, s := range skills {
			so, ok := s.(obj)
			if !ok {
				ns[i] = s
				continue
			}
			so = maps.Clone(so)
			if _, ok := so["securityRequirements"]; !ok {
				if sr := securityReqs03to10(so["security"]); sr != nil {
					so["securityRequirements"] = sr
				}
			}
			ns[i] = so
		}
		out["skills"] = ns
	}
	return EncodeJSON(out)
}

// CardTo10 renders an agent card of either version as a pure 1.0 card.
func CardTo10(card []byte) ([]byte, error) {
	c, err := decodeCard(card)
	if err != nil {
		return nil, err
	}
	return EncodeJSON(cardTo10(c))
}

// CardTo03 renders an agent card of either version as a 0.3 card, which
// a2a-go can decode, keeping 1.0 supportedInterfaces alongside (as
// @a2a-js/sdk does for 0.3 callers). The 0.3 url is the first 0.x interface,
// or, for an agent that speaks only 1.0, its first interface (protocolVersion
// then says "1.0": calls to it need RequestTo10).
func CardTo03(card []byte) ([]byte, error) {
	c, err := decodeCard(card)
	if err != nil {
		return nil, err
	}
	return EncodeJSON(cardTo03(c))
}

// ---------------------------------------------------------------- helpers

func decodeCard(card []byte) (obj, error) {
	v, err := DecodeJSON(card)
	if err != nil {
		return nil, errorf(CodeParseError, "invalid agent card JSON: %v", err)
	}
	c, ok := v.(obj)
	if !ok {
		return nil, errorf(CodeInvalidParams, "an agent card must be a JSON object")
	}
	return c, nil
}

// card fields that exist only in 0.3 / only in 1.0.
var (
	cardFields03Only = []string{"url", "preferredTransport", "additionalInterfaces", "protocolVersion", "supportsAuthenticatedExtendedCard", "security"}
	cardFields10Only = []string{"supportedInterfaces", "securityRequirements"}
)

func hasSupportedInterfaces(c obj) bool {
	l, _ := get10(c, "supportedInterfaces")
	s, ok := l.([]any)
	return ok && len(s) > 0
}

func interfacesJSON(ifaces []Interface) []any {
	out := make([]any, 0, len(ifaces))
	for _, i := range ifaces {
		o := obj{"url": i.URL, "protocolBinding": i.ProtocolBinding}
		if i.ProtocolVersion != "" {
			o["protocolVersion"] = i.ProtocolVersion
		}
		if i.Tenant != "" {
			o["tenant"] = i.Tenant
		}
		out = append(out, o)
	}
	return out
}

// interfaces10 reads supportedInterfaces.
func interfaces10(c obj) []Interface {
	l, _ := get10(c, "supportedInterfaces")
	s, _ := l.([]any)
	var out []Interface
	for _, e := range s {
		o, ok := e.(obj)
		if !ok {
			continue
		}
		str := func(name string) string {
			v, _ := get10(o, name)
			s, _ := v.(string)
			return s
		}
		out = append(out, Interface{URL: str("url"), ProtocolBinding: str("protocolBinding"), ProtocolVersion: str("protocolVersion"), Tenant: str("tenant")})
	}
	return out
}

// interfaces03 reads url/preferredTransport/additionalInterfaces.
func interfaces03(c obj) []Interface {
	version, _ := c["protocolVersion"].(string)
	if version == "" {
		version = string(V03)
	}
	var out []Interface
	if url, _ := c["url"].(string); url != "" {
		binding, _ := c["preferredTransport"].(string)
		if binding == "" {
			binding = BindingJSONRPC
		}
		out = append(out, Interface{URL: url, ProtocolBinding: binding, ProtocolVersion: version})
	}
	add, _ := c["additionalInterfaces"].([]any)
	for _, e := range add {
		o, ok := e.(obj)
		if !ok {
			continue
		}
		url, _ := o["url"].(string)
		binding, _ := o["transport"].(string)
		i := Interface{URL: url, ProtocolBinding: binding, ProtocolVersion: version}
		if url != "" && !containsInterface(out, i) {
			out = append(out, i)
		}
	}
	return out
}

func containsInterface(l []Interface, i Interface) bool {
	for _, j := range l {
		if j.URL == i.URL && strings.EqualFold(j.ProtocolBinding, i.ProtocolBinding) && j.Version() == i.Version() {
			return true
		}
	}
	return false
}

func cardInterfaces(c obj) []Interface {
	out := interfaces10(c)
	for _, i := range interfaces03(c) {
		if !containsInterface(out, i) {
			out = append(out, i)
		}
	}
	return out
}

func cardTo10(c obj) obj {
	out := maps.Clone(c)
	for _, f := range cardFields03Only {
		delete(out, f)
	}
	ifaces := interfaces10(c)
	if len(ifaces) == 0 {
		ifaces = interfaces03(c)
	}
	if len(ifaces) > 0 {
		out["supportedInterfaces"] = interfacesJSON(ifaces)
	}
	caps, _ := c["capabilities"].(obj)
	caps = maps.Clone(caps)
	if caps == nil {
		caps = obj{}
	}
	delete(caps, "stateTransitionHistory") // gone in 1.0
	if x, ok := c["supportsAuthenticatedExtendedCard"]; ok {
		caps["extendedAgentCard"] = x
	}
	out["capabilities"] = caps
	if ss, ok := c["securitySchemes"].(obj); ok {
		ns := obj{}
		for name, s := range ss {
			if so, ok := s.(obj); ok && so["type"] != nil {
				ns[name] = scheme03to10(so)
			} else {
				ns[name] = s
			}
		}
		out["securitySchemes"] = ns
	}
	if _, ok := c["securityRequirements"]; !ok {
		if sr := securityReqs03to10(c["security"]); sr != nil {
			out["securityRequirements"] = sr
		}
	}
	if skills, ok := c["skills"].([]any); ok {
		ns := make([]any, len(skills))
		for i, s := range skills {
			so, ok := s.(obj)
			if !ok {
				ns[i] = s
				continue
			}
			so = maps.Clone(so)
			if _, ok := so["securityRequirements"]; !ok {
				if sr := securityReqs03to10(so["security"]); sr != nil {
					so["securityRequirements"] = sr
				}
			}
			delete(so, "security")
			ns[i] = so
		}
		out["skills"] = ns
	}
	return out
}

func cardTo03(c obj) obj {
	out := maps.Clone(c)
	for _, f := range cardFields10Only {
		delete(out, f)
	}
	if hasSupportedInterfaces(c) {
		out["supportedInterfaces"] = c["supportedInterfaces"] // kept alongside, as @a2a-js/sdk does
	}
	if url, _ := c["url"].(string); url == "" {
		ifaces := interfaces10(c)
		var pick []Interface
		for _, i := range ifaces {
			if i.Version() == V03 {
				pick = append(pick, i)
			}
		}
		if len(pick) == 0 {
			pick = ifaces
		}
		if len(pick) > 0 {
			out["url"] = pick[0].URL
			out["preferredTransport"] = pick[0].ProtocolBinding
			v := pick[0].ProtocolVersion
			if v == "" {
				v = string(V03)
			}
			out["protocolVersion"] = v
			var add []any
			for _, i := range pick[1:] {
				add = append(add, obj{"url": i.URL, "transport": i.ProtocolBinding})
			}
			if len(add) > 0 {
				out["additionalInterfaces"] = add
			}
		}
	}
	if _, ok := out["protocolVersion"]; !ok {
		out["protocolVersion"] = string(V03)
	}
	caps, _ := c["capabilities"].(obj)
	caps = maps.Clone(caps)
	if caps == nil {
		caps = obj{}
	}
	if x, ok := get10(caps, "extendedAgentCard"); ok {
		if _, has := out["supportsAuthenticatedExtendedCard"]; !has {
			out["supportsAuthenticatedExtendedCard"] = x
		}
	}
	delete(caps, "extendedAgentCard")
	delete(caps, "extended_agent_card")
	out["capabilities"] = caps
	if ss, ok := c["securitySchemes"].(obj); ok {
		ns := obj{}
		for name, s := range ss {
			so, ok := s.(obj)
			switch {
			case !ok:
			case so["type"] == nil:
				if t := scheme10to03(so); t != nil {
					s = t
				}
			default: // a merged scheme (CardWith10): drop its 1.0 member
				so = maps.Clone(so)
				for _, e := range securitySchemes {
					delete(so, e.v10)
				}
				s = so
			}
			ns[name] = s
		}
		out["securitySchemes"] = ns
	}
	if _, ok := c["security"]; !ok {
		if sv, ok := get10(c, "securityRequirements"); ok {
			if s := securityReqs10to03(sv); s != nil {
				out["security"] = s
			}
		}
	}
	// fields 0.3 requires, which proto-JSON leaves out when empty
	for _, f := range []string{"defaultInputModes", "defaultOutputModes", "skills"} {
		if _, ok := out[f]; !ok {
			out[f] = []any{}
		}
	}
	for _, f := range []string{"name", "description", "version"} {
		if _, ok := out[f]; !ok {
			out[f] = ""
		}
	}
	if skills, ok := out["skills"].([]any); ok {
		ns := make([]any, len(skills))
		for i, s := range skills {
			so, ok := s.(obj)
			if !ok {
				ns[i] = s
				continue
			}
			so = maps.Clone(so)
			if _, ok := so["security"]; !ok {
				if sv, ok := get10(so, "securityRequirements"); ok {
					if s := securityReqs10to03(sv); s != nil {
						so["security"] = s
					}
				}
			}
			delete(so, "securityRequirements")
			for _, f := range []string{"id", "name", "description"} {
				if _, ok := so[f]; !ok {
					so[f] = ""
				}
			}
			if _, ok := so["tags"]; !ok {
				so["tags"] = []any{}
			}
			ns[i] = so
		}
		out["skills"] = ns
	}
	return out
}

// scheme03to10 returns {"<oneof>": {...}} for a 0.3 security scheme.
func scheme03to10(s obj) obj {
	typ, _ := s["type"].(string)
	key := ""
	for _, e := range securitySchemes {
		if e.v03 == typ {
			key = e.v10
		}
	}
	if key == "" {
		return obj{} // unknown type: nothing to add
	}
	inner := obj{}
	renames := schemeFieldRenames[typ]
	for k, v := range s {
		if k == "type" || isSchemeKey10(k) {
			continue
		}
		if r, ok := renames[k]; ok {
			k = r
		}
		inner[k] = v
	}
	if typ == "oauth2" {
		if f, ok := inner["flows"].(obj); ok {
			inner["flows"] = flows03to10(f)
		}
	}
	return obj{key: inner}
}

func isSchemeKey10(k string) bool {
	for _, e := range securitySchemes {
		if e.v10 == k {
			return true
		}
	}
	return false
}

// scheme10to03 returns the 0.3 form of a 1.0 security scheme, or nil.
func scheme10to03(s obj) obj {
	for _, e := range securitySchemes {
		iv, ok := get10(s, e.v10)
		if !ok {
			continue
		}
		inner, _ := iv.(obj)
		out := obj{"type": e.v03}
		back := map[string]string{}
		for k03, k10 := range schemeFieldRenames[e.v03] {
			back[k10] = k03
		}
		for k, v := range inner {
			if r, ok := back[k]; ok {
				k = r
			}
			if isEmpty(v) {
				continue
			}
			out[k] = v
		}
		if e.v03 == "apiKey" { // 0.3 narrows the location to an enum
			if in, _ := out["in"].(string); in != "query" && in != "cookie" {
				out["in"] = "header"
			}
		}
		return out
	}
	return nil
}

// flows03to10 keeps the first flow: 1.0 OAuthFlows is a oneof.
func flows03to10(f obj) obj {
	for _, name := range oauthFlows {
		if v, ok := f[name]; ok && v != nil {
			return obj{name: v}
		}
	}
	return obj{}
}

// securityReqs03to10: [{"oidc": ["a"]}] → [{"schemes": {"oidc": {"list": ["a"]}}}].
func securityReqs03to10(v any) []any {
	l, ok := v.([]any)
	if !ok {
		return nil
	}
	out := make([]any, 0, len(l))
	for _, e := range l {
		req, ok := e.(obj)
		if !ok {
			continue
		}
		schemes := obj{}
		for name, scopes := range req {
			sl, _ := scopes.([]any)
			if sl == nil {
				sl = []any{}
			}
			schemes[name] = obj{"list": sl}
		}
		out = append(out, obj{"schemes": schemes})
	}
	return out
}

func securityReqs10to03(v any) []any {
	l, ok := v.([]any)
	if !ok {
		return nil
	}
	out := make([]any, 0, len(l))
	for _, e := range l {
		req, ok := e.(obj)
		if !ok {
			continue
		}
		sv, _ := req["schemes"].(obj)
		r := obj{}
		for name, sl := range sv {
			scopes := []any{}
			if so, ok := sl.(obj); ok {
				if l, ok := so["list"].([]any); ok {
					scopes = l
				}
			}
			r[name] = scopes
		}
		out = append(out, r)
	}
	return out
}
