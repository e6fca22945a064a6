package mcpbridge

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// requestState is what a multi round-trip tool hands the client to echo
// back on its retry. The client can read it but not forge it: it is signed,
// and bound to the tool and ticket it was issued for, and it expires.
// What the answer may be used for (a refund confirmation at this version
// and amount) is decided by the workspace, not by the state's freshness:
// a valid state proves only what the person was asked.
type requestState struct {
	Tool     string  `json:"tool"`
	TicketID string  `json:"ticket_id"`
	Version  int64   `json:"version"` // the ticket version the question was about
	Amount   float64 `json:"amount,omitempty"`
	// Digest binds the rest of the call the question showed, such as the
	// resolution text.
	Digest  string    `json:"digest,omitempty"`
	Expires time.Time `json:"exp"`
}

var errBadState = errors.New("invalid request state")

// stateSigner signs and verifies request state with HMAC-SHA256. Replicas
// that serve the same clients must share the key.
type stateSigner struct {
	key []byte
	now func() time.Time
	ttl time.Duration
}

func (s stateSigner) sign(st requestState) (string, error) {
	st.Expires = s.now().Add(s.ttl).UTC().Truncate(time.Second)
	payload, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding.EncodeToString(payload)
	return enc + "." + base64.RawURLEncoding.EncodeToString(s.mac(enc)), nil
}

func (s stateSigner) mac(enc string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(enc))
	return m.Sum(nil)
}

// verify checks the signature, expiry and binding of a state the client
// echoed back.
func (s stateSigner) verify(raw, tool, ticketID string) (requestState, error) {
	enc, sig, ok := strings.Cut(raw, ".")
	if !ok {
		return requestState{}, fmt.Errorf("%w: malformed", errBadState)
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(enc)) {
		return requestState{}, fmt.Errorf("%w: signature does not match", errBadState)
	}
	payload, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return requestState{}, fmt.Errorf("%w: malformed", errBadState)
	}
	var st requestState
	if err := json.Unmarshal(payload, &st); err != nil {
		return requestState{}, fmt.Errorf("%w: malformed", errBadState)
	}
	if st.Tool != tool || st.TicketID != ticketID {
		return requestState{}, fmt.Errorf("%w: issued for %s on ticket %q, not %s on %q", errBadState, st.Tool, st.TicketID, tool, ticketID)
	}
	if s.now().After(st.Expires) {
		return requestState{}, fmt.Errorf("%w: expired at %s; call the tool again", errBadState, st.Expires.Format(time.RFC3339))
	}
	return st, nil
}

func digest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}
