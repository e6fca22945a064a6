package hostclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// State is what the interactive client remembers between runs, so that a
// restarted client can pick up the session it had. It is written only for
// session-based protocol versions (2025-11-25 and older); the stateless
// 2026-07-28 protocol has no session to come back to.
type State struct {
	// URL is the MCP endpoint the session belongs to. A state file for
	// another URL is never used.
	URL string `json:"url"`
	// SessionID is the server's Mcp-Session-Id.
	SessionID string `json:"session_id"`
	// ProtocolVersion is the version negotiated for the session.
	ProtocolVersion string `json:"protocol_version"`
	// LastEventID is the ID of the last server-sent event received on the
	// session's standalone (GET) stream, where resource updates and other
	// messages not tied to a request arrive. A resumed session reopens
	// that stream with Last-Event-ID set to it, so the server replays
	// what was sent while the client was away.
	LastEventID string `json:"last_event_id"`
	// Server is the server's initialize result (capabilities, server
	// info), handed back to the SDK when the session is resumed instead
	// of initializing again.
	Server json.RawMessage `json:"server,omitempty"`
	// Subscriptions are the resource URIs subscribed to in this session.
	// When the session cannot be resumed, the new session subscribes to
	// them again.
	Subscriptions []string `json:"subscriptions,omitempty"`
	// SavedAt is when the file was last written.
	SavedAt time.Time `json:"saved_at"`
}

// DefaultStatePath is where the client keeps its state unless told
// otherwise: $XDG_STATE_HOME/parley/client.json, or
// ~/.local/state/parley/client.json when XDG_STATE_HOME is unset.
func DefaultStatePath(getenv func(string) string) (string, error) {
	if dir := getenv("XDG_STATE_HOME"); dir != "" {
		return filepath.Join(dir, "parley", "client.json"), nil
	}
	home := getenv("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return "", fmt.Errorf("cannot place the state file: %w", err)
		}
	}
	return filepath.Join(home, ".local", "state", "parley", "client.json"), nil
}

// LoadState reads the state file at path. A missing file is not an error:
// it returns nil, nil.
func LoadState(path string) (*State, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	return &st, nil
}

// SaveState writes st to path atomically (a temporary file renamed over
// the old one), readable by the owner only. The directory is created if
// needed.
func SaveState(path string, st *State) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	f, err := os.CreateTemp(dir, ".client-*.json")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	// CreateTemp already uses 0600; be explicit in case that ever changes.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// RemoveState deletes the state file. It reports whether there was one.
func RemoveState(path string) (bool, error) {
	err := os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}
