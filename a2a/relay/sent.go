package relay

import (
	"bytes"
	"encoding/json"

	"github.com/parleyhq/parley/a2a/compat"
	"github.com/parleyhq/parley/internal/jsonscan"
)

// The answer to a relayed message send, read without decoding it whole.
//
// A send's answer is most of what the relay reads on its hot path: the
// task the agent made, with its history and artifacts. The relay passes
// it on as it came and needs only the task's ID, context and state, to
// record it (taskOf). Decoding the whole document into maps to find them
// was a tenth of the relay's CPU. sentTask finds them by scanning, and
// gives up (the caller then decodes, as for any other answer) on anything
// the decoding path could read otherwise: an escaped or repeated member
// name among those it reads, a member of an unexpected type.

// sentTask reads an agent's answer to a message send in version v: it
// reports the task to record (ok, with id, contextID and state, as taskOf
// reads them), or none (ok, id empty: the answer is a message), or that
// it cannot tell (!ok). raw must be valid JSON.
func sentTask(v compat.Version, raw []byte) (id, contextID, state string, ok bool) {
	result, errObj, ok := answerMembers(raw)
	if !ok || errObj != nil || result == nil {
		return "", "", "", false
	}
	var task []byte
	if v == compat.V03 {
		m, ok := scanMembers(result, "kind", "id", "contextId", "context_id", "status")
		if !ok {
			return "", "", "", false
		}
		switch string(m["kind"]) {
		case `"task"`:
			task = result
		case `"message"`:
			return "", "", "", true
		default:
			return "", "", "", false
		}
	} else {
		m, ok := scanMembers(result, "task", "message", "statusUpdate", "status_update", "artifactUpdate", "artifact_update", "id", "status")
		if !ok {
			return "", "", "", false
		}
		switch {
		case isObject(m["task"]):
			task = m["task"]
		case m["task"] == nil && m["statusUpdate"] == nil && m["status_update"] == nil && m["id"] == nil && isObject(m["message"]):
			return "", "", "", true
		default:
			return "", "", "", false
		}
	}
	m, ok := scanMembers(task, "id", "contextId", "context_id", "status")
	if !ok {
		return "", "", "", false
	}
	id, ok = jsonString(m["id"])
	if !ok || id == "" {
		return "", "", "", false
	}
	ctxRaw := m["contextId"]
	if ctxRaw == nil || bytes.Equal(ctxRaw, []byte("null")) {
		ctxRaw = m["context_id"]
	}
	if contextID, ok = jsonString(ctxRaw); !ok {
		return "", "", "", false
	}
	if !isObject(m["status"]) {
		return "", "", "", false
	}
	sm, ok := scanMembers(m["status"], "state")
	if !ok {
		return "", "", "", false
	}
	switch s := sm["state"]; {
	case s == nil:
		state = state03(nil)
	case s[0] == '"':
		str, ok := jsonString(s)
		if !ok {
			return "", "", "", false
		}
		state = state03(str)
	case s[0] == '-' || ('0' <= s[0] && s[0] <= '9'):
		state = state03(json.Number(s))
	default:
		return "", "", "", false
	}
	return id, contextID, state, true
}

// scanMembers returns the raw values of the members of object o named in
// names. It fails on a name that is escaped or given twice, and on o not
// being an object.
func scanMembers(o []byte, names ...string) (map[string][]byte, bool) {
	out := make(map[string][]byte, len(names))
	ok := jsonscan.Members(o, func(name, value []byte) bool {
		if bytes.IndexByte(name, '\\') >= 0 {
			return false // an escaped name may spell one of names
		}
		for _, n := range names {
			if string(name) == n {
				if _, twice := out[n]; twice {
					return false
				}
				out[n] = value
			}
		}
		return true
	})
	if !ok {
		return nil, false
	}
	return out, true
}

// isObject reports whether raw is a JSON object.
func isObject(raw []byte) bool { return len(raw) > 0 && raw[0] == '{' }

// jsonString reads a JSON string; a missing member or null is "".
func jsonString(raw []byte) (string, bool) {
	if raw == nil || bytes.Equal(raw, []byte("null")) {
		return "", true
	}
	if raw[0] != '"' {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}
