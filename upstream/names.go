package upstream

// The names an upstream's tools and prompts take behind Parley, and which
// of them it serves at all (Allow and Deny).

import (
	"path"
	"slices"
)

// Serves reports whether the upstream's tool or prompt called name (its
// own name, unprefixed) is served behind Parley: it matches Allow when
// Allow is set, and matches nothing in Deny. Patterns are path.Match globs
// ("read_*"); a malformed pattern matches only the identical name (the
// registry refuses such patterns, so this is a safety net, not a feature).
func (s Spec) Serves(name string) bool {
	if len(s.Allow) > 0 && !slices.ContainsFunc(s.Allow, func(p string) bool { return globMatch(p, name) }) {
		return false
	}
	return !slices.ContainsFunc(s.Deny, func(p string) bool { return globMatch(p, name) })
}

// Original is the inverse of Exposed: the upstream's own name for the
// exposed one, and whether exposed is a name of this upstream at all.
func (s Spec) Original(exposed string) (string, bool) {
	if s.Prefix == PrefixNever {
		return exposed, true
	}
	p := s.Name + "_"
	if len(exposed) > len(p) && exposed[:len(p)] == p {
		return exposed[len(p):], true
	}
	return "", false
}

func globMatch(pattern, name string) bool {
	ok, err := path.Match(pattern, name)
	if err != nil {
		return pattern == name
	}
	return ok
}

// reservedPrefix is the namespace of Parley's agent tools (agent_<name>),
// which come and go as agents are registered: no upstream may serve a
// name in it, so that a later agent never collides.
const reservedPrefix = "agent_"
