// Package oidcissuer is a real OpenID Connect issuer on loopback for
// benchmarks with auth on: go-oidc's oidctest serves the discovery
// document and key set (one RSA key) over HTTP on 127.0.0.1, which the
// gateway's auth accepts as an issuer (http:// is allowed on loopback),
// and the issuer signs RS256 access tokens with that key.
package oidcissuer

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
)

// ClientID is the OAuth client (azp) the tokens are issued to.
const ClientID = "parley-bench"

// Lifetime outlasts any run: a token is signed once per client.
const Lifetime = 24 * time.Hour

// Issuer is a running issuer.
type Issuer struct {
	// URL is the issuer URL, http://127.0.0.1:PORT.
	URL string

	key  *rsa.PrivateKey
	kid  string
	srv  *http.Server
	done chan struct{}
}

// Start generates the key and serves the issuer on a fresh loopback port.
func Start(ctx context.Context) (*Issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("issuer: RSA key: %w", err)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("issuer: listen: %w", err)
	}
	i := &Issuer{URL: "http://" + ln.Addr().String(), key: key, kid: "bench-key", done: make(chan struct{})}
	o := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: i.kid, Algorithm: oidc.RS256}}}
	o.SetIssuer(i.URL)
	i.srv = &http.Server{Handler: o, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() {
		defer close(i.done)
		_ = i.srv.Serve(ln)
	}()
	return i, nil
}

// Token signs an access token for subject and audience carrying roles
// (claim "roles") and the scope parley.read.
func (i *Issuer) Token(subject, audience string, roles ...string) (string, error) {
	now := time.Now()
	claims, err := json.Marshal(map[string]any{
		"iss":   i.URL,
		"aud":   audience,
		"sub":   subject,
		"azp":   ClientID,
		"scope": "parley.read",
		"roles": roles,
		"iat":   now.Unix(),
		"nbf":   now.Add(-time.Minute).Unix(),
		"exp":   now.Add(Lifetime).Unix(),
	})
	if err != nil {
		return "", err
	}
	return oidctest.SignIDToken(i.key, i.kid, oidc.RS256, string(claims)), nil
}

// Close stops serving.
func (i *Issuer) Close() error {
	err := i.srv.Close()
	<-i.done
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Bearer is a client transport that sends a bearer token on every
// request, as an MCP host or A2A client holding an access token does.
type Bearer struct {
	Token string
	Next  http.RoundTripper
}

// RoundTrip sends r with the token, leaving the caller's request as it
// was (a RoundTripper must not change it).
func (b *Bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := *r
	r2.Header = r.Header.Clone()
	r2.Header.Set("Authorization", "Bearer "+b.Token)
	return b.Next.RoundTrip(&r2)
}
