package mcpclient

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/parleyhq/parley/bench/internal/oidcissuer"
)

// HTTPClients makes the HTTP clients of a run's hosts and closes their
// idle connections at the end. Its zero value is ready to use; Issuer
// must be set before a client with auth is made.
type HTTPClients struct {
	// Issuer signs the clients' tokens, for servers with auth on.
	Issuer *oidcissuer.Issuer
	// Subject is the prefix of the tokens' subjects: Subject-i for client
	// i, Subject-probe for a probe.
	Subject string
	// Role is the role every token carries.
	Role string

	mu         sync.Mutex
	transports []*http.Transport
	tokens     map[string]string // by subject
}

// New is a new HTTP client for client i (-1: a probe) of the server at
// url, with a connection pool of its own, as each MCP host process would
// have. It keeps enough idle connections for a session's standalone GET
// stream beside its POSTs. With auth, every request carries the client's
// bearer token (one per client, for the audience url, signed once).
func (h *HTTPClients) New(url string, auth bool, i int) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 8
	h.mu.Lock()
	defer h.mu.Unlock()
	h.transports = append(h.transports, tr)
	if !auth {
		return &http.Client{Transport: tr}, nil
	}
	subject := fmt.Sprintf("%s-%d", h.Subject, i)
	if i < 0 {
		subject = h.Subject + "-probe"
	}
	tok, ok := h.tokens[subject]
	if !ok {
		var err error
		if tok, err = h.Issuer.Token(subject, url, h.Role); err != nil {
			return nil, err
		}
		if h.tokens == nil {
			h.tokens = map[string]string{}
		}
		h.tokens[subject] = tok
	}
	return &http.Client{Transport: &oidcissuer.Bearer{Token: tok, Next: tr}}, nil
}

// CloseIdle closes the idle connections of every client made so far.
func (h *HTTPClients) CloseIdle() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, tr := range h.transports {
		tr.CloseIdleConnections()
	}
}
