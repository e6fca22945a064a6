package mcpbridge

// The requestState Parley hands a host for a call to an upstream that
// needs input (multi round-trip). It carries the upstream's own
// requestState, opaque to Parley and kept from the host (sealed with
// AES-GCM: the host can neither read nor change it), or, for a session
// upstream that asked in mid-call, the ID of the call waiting on this
// replica. It is bound to the call it was issued for (upstream, method,
// tool, prompt or URI) and to the caller: a state that was tampered with,
// has expired, or belongs to another caller is refused.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// fedState is what a federated requestState holds.
type fedState struct {
	Upstream string `json:"u"`
	Op       string `json:"o"` // "tools/call NAME", "prompts/get NAME", "resources/read URI"
	Caller   string `json:"w"`
	State    string `json:"s,omitempty"` // the upstream's requestState
	Cont     string `json:"c,omitempty"` // a waiting call's ID (this replica)
	Expires  int64  `json:"e"`
}

var errBadFedState = errors.New("invalid requestState")

// stateSealer seals and opens fedStates. Replicas share the key (the
// bridge's StateKey), so that a stateless upstream's round trips may go
// through any of them.
type stateSealer struct {
	aead cipher.AEAD
	now  func() time.Time
	ttl  time.Duration
}

func newStateSealer(key []byte, now func() time.Time, ttl time.Duration) stateSealer {
	// A key of its own, derived from the bridge's, so that nothing sealed
	// here can be confused with the bridge's signed states.
	k := sha256.Sum256(append([]byte("parley upstream request state\x00"), key...))
	block, err := aes.NewCipher(k[:])
	if err != nil {
		panic(err) // a 32-byte key always makes a cipher
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return stateSealer{aead: aead, now: now, ttl: ttl}
}

func (s stateSealer) seal(st fedState) (string, error) {
	st.Expires = s.now().Add(s.ttl).Unix()
	plain, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, nil)), nil
}

// open checks raw was sealed by Parley for this call and caller and has
// not expired. Its errors are in the caller's terms.
func (s stateSealer) open(raw, upstream, op, caller string) (fedState, error) {
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || len(b) < s.aead.NonceSize() {
		return fedState{}, fmt.Errorf("%w: it was not issued by this gateway or was altered", errBadFedState)
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, b[:n], b[n:], nil)
	if err != nil {
		return fedState{}, fmt.Errorf("%w: it was not issued by this gateway or was altered", errBadFedState)
	}
	var st fedState
	if err := json.Unmarshal(plain, &st); err != nil {
		return fedState{}, fmt.Errorf("%w: malformed", errBadFedState)
	}
	switch {
	case st.Upstream != upstream || st.Op != op:
		return fedState{}, fmt.Errorf("%w: it was issued for another call", errBadFedState)
	case st.Caller != caller:
		return fedState{}, fmt.Errorf("%w: it was issued to another caller", errBadFedState)
	case s.now().Unix() > st.Expires:
		return fedState{}, fmt.Errorf("%w: it expired; call again", errBadFedState)
	}
	return st, nil
}
