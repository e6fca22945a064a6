package relay

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/parleyhq/parley/a2a/compat"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/store"
)

func (rl *Relay) serveCard(w http.ResponseWriter, r *http.Request, name string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writePlainError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on an agent card")
		return
	}
	agent, err := rl.agents.get(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		writePlainError(w, http.StatusNotFound, fmt.Sprintf("agent %q is not registered with Parley", name))
		return
	}
	if err != nil {
		rl.log.ErrorContext(r.Context(), "relay: agent card", "agent", name, "err", err)
		writePlainError(w, http.StatusServiceUnavailable, fmt.Sprintf("agent %q: the agent registry is unavailable", name))
		return
	}
	if len(rl.agentEndpoints(agent)) == 0 {
		writePlainError(w, http.StatusBadGateway, fmt.Sprintf("agent %q offers no A2A JSON-RPC interface Parley can relay", agent.Name))
		return
	}
	doc, err := rl.rewriteCard(agent.Card.Raw, agent.Name)
	if err != nil {
		rl.log.ErrorContext(r.Context(), "relay: agent card", "agent", agent.Name, "err", err)
		writePlainError(w, http.StatusBadGateway, fmt.Sprintf("agent %q: its card cannot be rewritten: %v", agent.Name, err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	_, _ = w.Write(doc)
}

// RewriteCard rewrites an agent card (A2A 0.3, 1.0 or both) to point at
// relayURL, the relay's JSON-RPC endpoint for the agent: the 0.3 url
// becomes relayURL with preferredTransport JSONRPC and a 0.3
// protocolVersion, additionalInterfaces (gRPC, HTTP+JSON: not relayed) are
// dropped, and supportedInterfaces lists relayURL for A2A 1.0 and 0.3.
// Signatures, which the rewrite would break, are dropped. Everything else
// is kept, security schemes included: they are still the agent's.
func RewriteCard(card []byte, relayURL string) ([]byte, error) {
	return rewriteCardWith(card, relayURL, nil)
}

// rewriteCardWith is RewriteCard listing more interfaces after the
// JSON-RPC ones: in supportedInterfaces, and the 0.3 ones in
// additionalInterfaces too (beside the JSON-RPC url).
func rewriteCardWith(card []byte, relayURL string, more []compat.Interface) ([]byte, error) {
	c03, err := compat.CardTo03(card)
	if err != nil {
		return nil, err
	}
	v, err := compat.DecodeJSON(c03)
	if err != nil {
		return nil, err
	}
	c, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("an agent card must be a JSON object")
	}
	c["url"] = relayURL
	c["preferredTransport"] = compat.BindingJSONRPC
	if pv, _ := c["protocolVersion"].(string); pv == "" || compat.ParseVersion(pv) != compat.V03 {
		c["protocolVersion"] = "0.3.0"
	}
	delete(c, "additionalInterfaces")
	delete(c, "supportedInterfaces")
	delete(c, "signatures")
	var additional []any
	for _, i := range more {
		if i.Version() == compat.V03 {
			additional = append(additional, map[string]any{"url": i.URL, "transport": i.ProtocolBinding})
		}
	}
	if len(additional) > 0 {
		c["additionalInterfaces"] = append([]any{map[string]any{"url": relayURL, "transport": compat.BindingJSONRPC}}, additional...)
	}
	doc, err := compat.EncodeJSON(c)
	if err != nil {
		return nil, err
	}
	return compat.CardWith10(doc, append(compat.InterfacesFor(relayURL, compat.BindingJSONRPC, compat.V10, compat.V03), more...))
}

// moreInterfaces are the interfaces the relay serves an agent on besides
// JSON-RPC, when it can (Options.Clients): REST in both versions, and the
// gateway's gRPC port in 1.0 with the agent's name as the tenant.
func (rl *Relay) moreInterfaces(agent string) []compat.Interface {
	if rl.opts.Clients == nil {
		return nil
	}
	more := compat.InterfacesFor(rl.RESTURL(agent), compat.BindingHTTPJSON, compat.V10, compat.V03)
	if rl.opts.GRPCTarget != nil {
		if target := rl.opts.GRPCTarget(); target != "" {
			more = append(more, compat.Interface{URL: target, ProtocolBinding: compat.BindingGRPC, ProtocolVersion: string(compat.V10), Tenant: agent})
		}
	}
	return more
}

// rewriteCard is RewriteCard with Parley's security schemes in place of
// the agent's, when the relay has them.
func (rl *Relay) rewriteCard(card []byte, agent string) ([]byte, error) {
	if rl.opts.SecuritySchemes != nil {
		v, err := compat.DecodeJSON(card)
		if err != nil {
			return nil, err
		}
		c, ok := v.(map[string]any)
		if !ok {
			return nil, errors.New("an agent card must be a JSON object")
		}
		// Both versions' spellings of the agent's schemes go; the 0.3 ones
		// of Parley's come in, and CardWith10 adds their 1.0 form.
		delete(c, "securitySchemes")
		delete(c, "security")
		delete(c, "securityRequirements")
		schemes, err := json.Marshal(rl.opts.SecuritySchemes)
		if err != nil {
			return nil, err
		}
		security, err := json.Marshal(rl.opts.Security)
		if err != nil {
			return nil, err
		}
		c["securitySchemes"], c["security"] = json.RawMessage(schemes), json.RawMessage(security)
		if card, err = json.Marshal(c); err != nil {
			return nil, err
		}
	}
	return rewriteCardWith(card, rl.AgentURL(agent), rl.moreInterfaces(agent))
}

// agentEndpoints lists the agent's JSON-RPC interfaces in a version Parley
// speaks, in the card's order, cached per card.
func (rl *Relay) agentEndpoints(agent agentcards.Agent) []endpoint {
	if agent.Card == nil {
		return nil
	}
	key := strings.ToLower(agent.Name)
	rl.mu.Lock()
	c, ok := rl.endpoints[key]
	rl.mu.Unlock()
	if ok && c.hash == agent.Card.Hash {
		return c.eps
	}
	var eps []endpoint
	add := func(u, binding string, v compat.Version) {
		if u == "" || !strings.EqualFold(binding, compat.BindingJSONRPC) || !v.Supported() {
			return
		}
		for _, e := range eps {
			if e.url == u && e.version == v {
				return
			}
		}
		eps = append(eps, endpoint{url: u, version: v})
	}
	// compat reads every interface with its own version (the registry
	// keeps one per URL and transport).
	if ifaces, err := compat.CardInterfaces(agent.Card.Raw); err == nil {
		for _, i := range ifaces {
			add(i.URL, i.ProtocolBinding, i.Version())
		}
	}
	for _, i := range agent.Card.Interfaces {
		v := i.ProtocolVersion
		if v == "" {
			v = agent.Card.ProtocolVersion
		}
		add(i.URL, i.Transport, compat.ParseVersion(v))
	}
	rl.mu.Lock()
	rl.endpoints[key] = cachedEndpoints{hash: agent.Card.Hash, eps: eps}
	rl.mu.Unlock()
	return eps
}

// pickEndpoint prefers an interface in the caller's version, so that
// nothing needs translating.
func pickEndpoint(eps []endpoint, v compat.Version) (endpoint, bool) {
	for _, e := range eps {
		if e.version == v {
			return e, true
		}
	}
	if len(eps) > 0 {
		return eps[0], true
	}
	return endpoint{}, false
}
