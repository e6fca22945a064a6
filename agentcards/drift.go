package agentcards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Pinning. A registered card is pinned: when a re-fetch (by hand or by the
// health prober) returns a different card, Compare decides what happens.
//
// Cosmetic fields are adopted at once: the agent's name as written in the
// card (the registry name never changes), its description, its own
// version, provider, documentationUrl, iconUrl and signatures. Everything
// else is pinned, and a change to it is flagged as drift and kept aside
// until someone approves it: skills (including their names, descriptions
// and tags, which become the descriptions of MCP tools that models read),
// endpoints (url, preferredTransport, additionalInterfaces,
// supportedInterfaces, protocolVersion), security schemes and
// requirements, capabilities (extensions among them), input and output
// modes, and any field Parley does not know.
var cosmeticFields = []string{"name", "description", "version", "provider", "documentationUrl", "iconUrl", "signatures"}

var endpointFields = []string{"url", "preferredTransport", "additionalInterfaces", "supportedInterfaces", "protocolVersion"}

// Difference is what changed from one card to another.
type Difference struct {
	// Pinned reports a change to a pinned field: the new card needs
	// approval.
	Pinned bool
	// Summary says what changed, for a person: "skills: added refund;
	// endpoints: http://a/ (JSONRPC) → http://b/ (JSONRPC); cosmetic:
	// description". Empty when the cards are the same.
	Summary string
}

// Compare reports how next differs from the adopted card prev.
func Compare(prev, next *Card) Difference {
	if prev.Hash == next.Hash {
		return Difference{}
	}
	a, errA := topLevel(prev.Raw)
	b, errB := topLevel(next.Raw)
	if errA != nil || errB != nil {
		return Difference{Pinned: true, Summary: "the card changed"}
	}
	var parts []string
	pinned := false
	changed := func(key string) bool { return !jsonEqual(a[key], b[key]) }

	if changed("skills") {
		pinned = true
		parts = append(parts, "skills: "+diffSkills(a["skills"], b["skills"]))
	}
	endpoints := false
	for _, k := range endpointFields {
		endpoints = endpoints || changed(k)
	}
	if endpoints {
		pinned = true
		parts = append(parts, fmt.Sprintf("endpoints: %s → %s", describeInterfaces(prev), describeInterfaces(next)))
	}
	if changed("securitySchemes") {
		pinned = true
		parts = append(parts, "security schemes: "+diffNamed(a["securitySchemes"], b["securitySchemes"]))
	}
	if changed("security") || changed("securityRequirements") {
		pinned = true
		parts = append(parts, "security requirements changed")
	}
	if changed("capabilities") {
		pinned = true
		parts = append(parts, "capabilities: "+diffCapabilities(prev.Capabilities, next.Capabilities, a["capabilities"], b["capabilities"]))
	}
	handled := append(append([]string{"skills", "securitySchemes", "security", "securityRequirements", "capabilities"}, endpointFields...), cosmeticFields...)
	var other, cosmetic []string
	for _, k := range unionKeys(a, b) {
		switch {
		case slices.Contains(cosmeticFields, k):
			if changed(k) {
				cosmetic = append(cosmetic, k)
			}
		case !slices.Contains(handled, k) && changed(k):
			other = append(other, k)
		}
	}
	if len(other) > 0 {
		pinned = true
		parts = append(parts, "also changed: "+strings.Join(other, ", "))
	}
	if len(cosmetic) > 0 {
		parts = append(parts, "cosmetic: "+strings.Join(cosmetic, ", "))
	}
	if len(parts) == 0 {
		// Only the layout of a value differed in a way canonical hashing
		// kept (a number written as 1.0 instead of 1, say).
		parts = append(parts, "formatting only")
	}
	return Difference{Pinned: pinned, Summary: strings.Join(parts, "; ")}
}

func topLevel(raw []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	err := json.Unmarshal(raw, &m)
	return m, err
}

// jsonEqual compares two JSON values by their canonical form; a missing
// value (nil) equals only another missing one.
func jsonEqual(a, b json.RawMessage) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	ca, errA := canonicalJSON(a)
	cb, errB := canonicalJSON(b)
	if errA != nil || errB != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(ca, cb)
}

func unionKeys(a, b map[string]json.RawMessage) []string {
	var out []string
	for k := range a {
		out = append(out, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// diffSkills names the skills added, removed and changed, by ID.
func diffSkills(a, b json.RawMessage) string {
	index := func(raw json.RawMessage) ([]string, map[string]json.RawMessage) {
		var skills []json.RawMessage
		_ = json.Unmarshal(raw, &skills)
		var ids []string
		byID := map[string]json.RawMessage{}
		for _, s := range skills {
			var id struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(s, &id)
			ids = append(ids, id.ID)
			byID[id.ID] = s
		}
		return ids, byID
	}
	idsA, byA := index(a)
	idsB, byB := index(b)
	var added, removed, changed []string
	for _, id := range idsB {
		if _, ok := byA[id]; !ok {
			added = append(added, id)
		} else if !jsonEqual(byA[id], byB[id]) {
			changed = append(changed, id)
		}
	}
	for _, id := range idsA {
		if _, ok := byB[id]; !ok {
			removed = append(removed, id)
		}
	}
	parts := listParts(added, removed, changed)
	if len(parts) == 0 {
		parts = []string{"reordered"}
	}
	return strings.Join(parts, ", ")
}

// diffNamed names the entries of a JSON object added, removed and changed.
func diffNamed(a, b json.RawMessage) string {
	var ma, mb map[string]json.RawMessage
	_ = json.Unmarshal(a, &ma)
	_ = json.Unmarshal(b, &mb)
	var added, removed, changed []string
	for _, k := range unionKeys(ma, mb) {
		va, inA := ma[k]
		vb, inB := mb[k]
		switch {
		case !inA:
			added = append(added, k)
		case !inB:
			removed = append(removed, k)
		case !jsonEqual(va, vb):
			changed = append(changed, k)
		}
	}
	parts := listParts(added, removed, changed)
	if len(parts) == 0 {
		parts = []string{"changed"}
	}
	return strings.Join(parts, ", ")
}

func listParts(added, removed, changed []string) []string {
	var parts []string
	if len(added) > 0 {
		parts = append(parts, "added "+strings.Join(added, " "))
	}
	if len(removed) > 0 {
		parts = append(parts, "removed "+strings.Join(removed, " "))
	}
	if len(changed) > 0 {
		parts = append(parts, "changed "+strings.Join(changed, " "))
	}
	return parts
}

func diffCapabilities(a, b Capabilities, rawA, rawB json.RawMessage) string {
	var parts []string
	if a.Streaming != b.Streaming {
		parts = append(parts, fmt.Sprintf("streaming %t → %t", a.Streaming, b.Streaming))
	}
	if a.PushNotifications != b.PushNotifications {
		parts = append(parts, fmt.Sprintf("pushNotifications %t → %t", a.PushNotifications, b.PushNotifications))
	}
	var added, removed []string
	for _, e := range b.Extensions {
		if !slices.Contains(a.Extensions, e) {
			added = append(added, e)
		}
	}
	for _, e := range a.Extensions {
		if !slices.Contains(b.Extensions, e) {
			removed = append(removed, e)
		}
	}
	if len(added)+len(removed) > 0 {
		parts = append(parts, "extensions "+strings.Join(listParts(added, removed, nil), ", "))
	}
	if len(parts) == 0 {
		parts = append(parts, "changed")
	}
	return strings.Join(parts, ", ")
}

func describeInterfaces(c *Card) string {
	if len(c.Interfaces) == 0 {
		return "(none)"
	}
	var parts []string
	for _, i := range c.Interfaces {
		s := i.URL + " (" + i.Transport
		if i.ProtocolVersion != "" {
			s += " " + i.ProtocolVersion
		}
		parts = append(parts, s+")")
	}
	return strings.Join(parts, ", ")
}
