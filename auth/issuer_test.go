package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
)

// testAudience is the audience the test services accept.
const testAudience = "parley"

// issuer is a real OIDC issuer on loopback: go-oidc's oidctest serves the
// discovery document and the key set; the issuer signs tokens with its
// current key, rotates keys, counts key-set fetches and can fail them.
type issuer struct {
	t   testing.TB
	srv *httptest.Server

	mu   sync.Mutex
	oidc *oidctest.Server
	key  *rsa.PrivateKey
	kid  string
	n    int // keys made so far

	keyFetches atomic.Int32
	keysDown   atomic.Bool
}

var (
	keyPoolOnce sync.Once
	keyPool     []*rsa.PrivateKey
)

// testKey hands out RSA keys from a small pool (generating them is slow);
// i selects the key.
func testKey(t testing.TB, i int) *rsa.PrivateKey {
	keyPoolOnce.Do(func() {
		for range 4 {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			keyPool = append(keyPool, k)
		}
	})
	return keyPool[i%len(keyPool)]
}

func newIssuer(t testing.TB) *issuer {
	t.Helper()
	iss := &issuer{t: t, oidc: &oidctest.Server{}}
	iss.srv = httptest.NewServer(iss)
	t.Cleanup(iss.srv.Close)
	iss.oidc.SetIssuer(iss.srv.URL)
	iss.rotate(false)
	return iss
}

func (i *issuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/keys" {
		i.keyFetches.Add(1)
		if i.keysDown.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.oidc.ServeHTTP(w, r)
}

// URL is the issuer URL.
func (i *issuer) URL() string { return i.srv.URL }

// rotate makes a new signing key and publishes it; keepOld keeps the
// previous key in the key set too.
func (i *issuer) rotate(keepOld bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.key = testKey(i.t, i.n)
	i.kid = "key-" + string(rune('a'+i.n))
	i.n++
	pub := oidctest.PublicKey{PublicKey: i.key.Public(), KeyID: i.kid, Algorithm: oidc.RS256}
	if keepOld {
		i.oidc.PublicKeys = append(i.oidc.PublicKeys, pub)
	} else {
		i.oidc.PublicKeys = []oidctest.PublicKey{pub}
	}
}

// claims are a valid token's claims with overrides applied (a nil value
// deletes the claim).
func (i *issuer) claims(over map[string]any) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss":   i.URL(),
		"aud":   testAudience,
		"sub":   "alice",
		"azp":   "support-app",
		"scope": "parley.read parley.write",
		"iat":   now.Unix(),
		"exp":   now.Add(time.Hour).Unix(),
	}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// token signs a valid token with the current key, with overrides.
func (i *issuer) token(over map[string]any) string {
	i.mu.Lock()
	key, kid := i.key, i.kid
	i.mu.Unlock()
	return sign(i.t, key, kid, oidc.RS256, i.claims(over))
}

func sign(t testing.TB, key *rsa.PrivateKey, kid, alg string, claims map[string]any) string {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return oidctest.SignIDToken(key, kid, alg, string(b))
}

// unsigned builds a token with the given header and claims and a
// signature of garbage.
func unsigned(t testing.TB, header, claims map[string]any, sig string) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "." + sig
}

// authConfig is an auth section for the issuer, with policy rules.
func (i *issuer) authConfig(rules ...config.PolicyRule) config.Auth {
	a := config.Default().Auth
	a.Issuer = i.URL()
	a.Audiences = []string{testAudience, "https://other.example.com"}
	a.RoleClaims = []string{"roles", "groups", "realm_access.roles"}
	a.Policy = rules
	return a
}

const testPublicURL = "https://parley.example.com"

// service builds a Service against the issuer.
func (i *issuer) service(t testing.TB, mod func(*config.Auth, *auth.Options)) *auth.Service {
	t.Helper()
	cfg := i.authConfig()
	opts := auth.Options{PublicURL: testPublicURL, MinKeyRefresh: -1}
	if mod != nil {
		mod(&cfg, &opts)
	}
	s, err := auth.New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatalf("auth.New: %v", err)
	}
	return s
}

func cloneMap(m map[string]any) map[string]any { return maps.Clone(m) }
