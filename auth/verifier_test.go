package auth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
)

// badTokens are the tokens every face must refuse, with the reason.
func badTokens(t *testing.T, iss *issuer) []struct {
	name   string
	header string // the Authorization header; "" sends none
	reason auth.Reason
} {
	now := time.Now()
	good := iss.token(nil)
	parts := strings.Split(good, ".")
	tamperedClaims := iss.claims(map[string]any{"sub": "mallory", "roles": []string{"parley-admin"}})
	tampered := strings.Split(unsigned(t, map[string]any{}, tamperedClaims, ""), ".")[1]
	iss.mu.Lock()
	kid := iss.kid
	iss.mu.Unlock()

	return []struct {
		name   string
		header string
		reason auth.Reason
	}{
		{"missing", "", auth.ReasonMissing},
		{"another scheme", "Basic YWxpY2U6c2VjcmV0", auth.ReasonMissing},
		{"bearer with two tokens", "Bearer a b", auth.ReasonMalformed},
		{"bearer without token", "Bearer", auth.ReasonMalformed},
		{"not a JWT", "Bearer not-a-jwt", auth.ReasonMalformed},
		{"three garbage parts", "Bearer a.b.c", auth.ReasonMalformed},
		{"claims not JSON", "Bearer " + parts[0] + ".bm90IGpzb24." + parts[2], auth.ReasonMalformed},
		{"JWE", "Bearer a.b.c.d.e", auth.ReasonMalformed},
		{"expired", "Bearer " + iss.token(map[string]any{"exp": now.Add(-time.Minute).Unix()}), auth.ReasonExpired},
		{"no exp", "Bearer " + iss.token(map[string]any{"exp": nil}), auth.ReasonExpired},
		{"not yet valid", "Bearer " + iss.token(map[string]any{"nbf": now.Add(time.Hour).Unix(), "exp": now.Add(2 * time.Hour).Unix()}), auth.ReasonNotYetValid},
		// RFC 7519 dates are JSON numbers: go-oidc alone read a string as
		// one, and only MCP refused it (issue 10, finding 6).
		{"exp a string", "Bearer " + iss.token(map[string]any{"exp": strconv.FormatInt(now.Add(time.Hour).Unix(), 10)}), auth.ReasonMalformed},
		{"nbf a string", "Bearer " + iss.token(map[string]any{"nbf": strconv.FormatInt(now.Add(-time.Minute).Unix(), 10)}), auth.ReasonMalformed},
		{"iat a string", "Bearer " + iss.token(map[string]any{"iat": strconv.FormatInt(now.Unix(), 10)}), auth.ReasonMalformed},
		{"exp a boolean", "Bearer " + iss.token(map[string]any{"exp": true}), auth.ReasonMalformed},
		{"exp an array", "Bearer " + iss.token(map[string]any{"exp": []int64{now.Add(time.Hour).Unix()}}), auth.ReasonMalformed},
		{"exp an object", "Bearer " + iss.token(map[string]any{"exp": map[string]any{"$date": now.Add(time.Hour).Unix()}}), auth.ReasonMalformed},
		{"exp beyond year 9999", "Bearer " + iss.token(map[string]any{"exp": int64(1e15)}), auth.ReasonMalformed},
		{"issued in the future", "Bearer " + iss.token(map[string]any{"iat": now.Add(time.Hour).Unix(), "exp": now.Add(2 * time.Hour).Unix()}), auth.ReasonNotYetValid},
		{"wrong issuer", "Bearer " + iss.token(map[string]any{"iss": "https://evil.example.com"}), auth.ReasonWrongIssuer},
		{"wrong audience", "Bearer " + iss.token(map[string]any{"aud": "someone-else"}), auth.ReasonWrongAudience},
		{"wrong audiences list", "Bearer " + iss.token(map[string]any{"aud": []string{"a", "b"}}), auth.ReasonWrongAudience},
		{"no audience", "Bearer " + iss.token(map[string]any{"aud": nil}), auth.ReasonWrongAudience},
		{"alg none", "Bearer " + unsigned(t, map[string]any{"alg": "none", "typ": "JWT"}, iss.claims(nil), ""), auth.ReasonAlgNone},
		{"alg None", "Bearer " + unsigned(t, map[string]any{"alg": "None"}, iss.claims(nil), ""), auth.ReasonAlgNone},
		{"alg HS256", "Bearer " + unsigned(t, map[string]any{"alg": "HS256", "kid": kid}, iss.claims(nil), "c2lnbmF0dXJl"), auth.ReasonUnsupportedAlg},
		{"unknown key", "Bearer " + sign(t, testKey(t, 3), "rogue-key", oidc.RS256, iss.claims(nil)), auth.ReasonUnknownKey},
		{"known kid, other key", "Bearer " + sign(t, testKey(t, 3), kid, oidc.RS256, iss.claims(nil)), auth.ReasonBadSignature},
		{"no kid, other key", "Bearer " + sign(t, testKey(t, 3), "", oidc.RS256, iss.claims(nil)), auth.ReasonBadSignature},
		{"tampered claims", "Bearer " + parts[0] + "." + tampered + "." + parts[2], auth.ReasonBadSignature},
		{"tampered signature", "Bearer " + parts[0] + "." + parts[1] + "." + flip(parts[2]), auth.ReasonBadSignature},
	}
}

// flip changes one character in the middle of s.
func flip(s string) string {
	b := []byte(s)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestVerifierRefusesBadTokens(t *testing.T) {
	iss := newIssuer(t)
	s := iss.service(t, nil)
	for _, tt := range badTokens(t, iss) {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			p, err := s.Authenticate(r)
			if err == nil {
				t.Fatalf("accepted as %+v", p)
			}
			var te *auth.TokenError
			if !errors.As(err, &te) {
				t.Fatalf("error %v (%T) is not a *TokenError", err, err)
			}
			if te.Reason != tt.reason {
				t.Errorf("reason = %q, want %q (%v)", te.Reason, tt.reason, err)
			}
			if !errors.Is(err, auth.ErrInvalidToken) {
				t.Errorf("errors.Is(%v, ErrInvalidToken) = false", err)
			}
		})
	}
}

func TestVerifierAcceptsAndMapsClaims(t *testing.T) {
	iss := newIssuer(t)
	s := iss.service(t, nil)
	exp := time.Now().Add(30 * time.Minute).Truncate(time.Second)
	tests := []struct {
		name   string
		claims map[string]any
		check  func(t *testing.T, p *auth.Principal)
	}{
		{
			name:   "basic",
			claims: map[string]any{"exp": exp.Unix()},
			check: func(t *testing.T, p *auth.Principal) {
				if p.Subject != "alice" || p.ClientID != "support-app" || p.Issuer != iss.URL() || !p.Expiry.Equal(exp) {
					t.Errorf("principal = %+v", p)
				}
				if !slices.Equal(p.Scopes, []string{"parley.read", "parley.write"}) {
					t.Errorf("scopes = %q", p.Scopes)
				}
				if p.Admin || p.Anonymous || len(p.Roles) != 0 {
					t.Errorf("principal = %+v", p)
				}
				if p.Name() != "alice" || p.Claims["sub"] != "alice" {
					t.Errorf("name %q, claims %v", p.Name(), p.Claims)
				}
			},
		},
		{
			name:   "second accepted audience among several",
			claims: map[string]any{"aud": []string{"x", "https://other.example.com"}},
			check:  func(t *testing.T, p *auth.Principal) {},
		},
		{
			name:   "client_id and scp list",
			claims: map[string]any{"azp": nil, "client_id": "batch", "scope": nil, "scp": []string{"a", "b"}, "sub": nil},
			check: func(t *testing.T, p *auth.Principal) {
				if p.ClientID != "batch" || !slices.Equal(p.Scopes, []string{"a", "b"}) || p.Name() != "batch" {
					t.Errorf("principal = %+v", p)
				}
			},
		},
		{
			name: "roles from flat, group and nested claims, deduplicated",
			claims: map[string]any{
				"roles":        []string{"parley-admin", "support"},
				"groups":       "support",
				"realm_access": map[string]any{"roles": []any{"offline", 7, "support"}},
			},
			check: func(t *testing.T, p *auth.Principal) {
				if want := []string{"parley-admin", "support", "offline"}; !slices.Equal(p.Roles, want) {
					t.Errorf("roles = %q, want %q", p.Roles, want)
				}
				if !p.Admin || !p.HasRole("offline") || p.HasRole("7") {
					t.Errorf("principal = %+v", p)
				}
			},
		},
		{
			name:   "nested claim of the wrong shape grants nothing",
			claims: map[string]any{"realm_access": "admin", "roles": map[string]any{"a": "b"}},
			check: func(t *testing.T, p *auth.Principal) {
				if len(p.Roles) != 0 {
					t.Errorf("roles = %q", p.Roles)
				}
			},
		},
		{
			name:   "nbf within leeway",
			claims: map[string]any{"nbf": time.Now().Add(time.Minute).Unix()},
			check:  func(t *testing.T, p *auth.Principal) {},
		},
		{
			// A NumericDate may have a fraction (RFC 7519 §2).
			name:   "dates with fractions",
			claims: map[string]any{"exp": float64(exp.Unix()) + 0.5, "nbf": float64(exp.Add(-time.Hour).Unix()) + 0.25, "iat": float64(exp.Add(-time.Hour).Unix()) + 0.25},
			check: func(t *testing.T, p *auth.Principal) {
				if want := exp.Add(500 * time.Millisecond); !p.Expiry.Equal(want) {
					t.Errorf("expiry = %v, want %v", p.Expiry, want)
				}
			},
		},
		{
			name:   "iat within leeway",
			claims: map[string]any{"iat": time.Now().Add(time.Minute).Unix()},
			check:  func(t *testing.T, p *auth.Principal) {},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := s.Verifier().Verify(context.Background(), iss.token(tt.claims))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			tt.check(t, p)
		})
	}
}

func TestVerifierPicksUpKeyRotation(t *testing.T) {
	iss := newIssuer(t)
	s := iss.service(t, nil)
	v := s.Verifier()
	ctx := context.Background()
	if _, err := v.Verify(ctx, iss.token(nil)); err != nil {
		t.Fatalf("token of the first key: %v", err)
	}

	// The issuer rotates: the new key replaces the old one.
	iss.rotate(false)
	fresh := iss.token(map[string]any{"sub": "bob"})
	p, err := verifyUntil(t, v, func() string { return fresh }, func(_ *auth.Principal, err error) bool { return err == nil })
	if err != nil {
		t.Fatalf("token of the rotated key, no restart: %v", err)
	}
	if p.Subject != "bob" {
		t.Errorf("subject = %q", p.Subject)
	}
	// The old key is gone from the issuer's set, so its tokens are too
	// (one not verified before: see TestVerifierCache for those).
	var te *auth.TokenError
	// Each try is a token of its own: one accepted would be cached.
	n := 0
	old := func() string {
		n++
		return sign(t, testKey(t, 0), "key-a", oidc.RS256, iss.claims(map[string]any{"jti": fmt.Sprint("new-", n)}))
	}
	if _, err := verifyUntil(t, v, old, func(_ *auth.Principal, err error) bool { return err != nil }); !errors.As(err, &te) || te.Reason != auth.ReasonUnknownKey {
		t.Errorf("token of the retired key: %v, want unknown key", err)
	}

	// A rotation that keeps the previous key accepts both.
	iss.rotate(true)
	if _, err := verifyUntil(t, v, func() string { return iss.token(nil) }, func(_ *auth.Principal, err error) bool { return err == nil }); err != nil {
		t.Errorf("token of the newest key: %v", err)
	}
	// A token not verified before, so not from the cache.
	prev := sign(t, testKey(t, 1), "key-b", oidc.RS256, iss.claims(map[string]any{"jti": "prev"}))
	if _, err := v.Verify(ctx, prev); err != nil {
		t.Errorf("token of the previous key, still published: %v", err)
	}
}

// verifyUntil verifies a token of mint until done accepts the result,
// and returns the last one. go-oidc wakes a key refresh's waiters before its goroutine
// stores the keys and clears the refresh, so a verification right after a
// refresh can join the finished one, or read the cache from before it, and
// see the keys as they were (the library's race, not what is tested). Each
// retry sees either the stored keys or a refresh of its own: a few are
// enough, and the deadline only ends a test that is failing.
func verifyUntil(t *testing.T, v *auth.Verifier, mint func() string, done func(*auth.Principal, error) bool) (*auth.Principal, error) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		p, err := v.Verify(t.Context(), mint())
		if done(p, err) || time.Now().After(deadline) {
			return p, err
		}
	}
}

func TestVerifierCache(t *testing.T) {
	iss := newIssuer(t)
	clock := time.Now()
	s := iss.service(t, func(_ *config.Auth, o *auth.Options) {
		o.Now = func() time.Time { return clock }
		o.TokenCacheTTL = 5 * time.Minute
	})
	v := s.Verifier()
	ctx := context.Background()
	token := iss.token(map[string]any{"exp": clock.Add(20 * time.Minute).Unix()})
	p1, err := v.Verify(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	// Seen again: the same principal, not verified again...
	p2, err := v.Verify(ctx, token)
	if err != nil || p2 != p1 {
		t.Fatalf("cached token: %v (same principal %v)", err, p2 == p1)
	}
	// ...for the cache TTL only.
	clock = clock.Add(6 * time.Minute)
	p3, err := v.Verify(ctx, token)
	if err != nil || p3 == p1 {
		t.Fatalf("after the cache TTL: %v (same principal %v), want a new verification", err, p3 == p1)
	}
	var te *auth.TokenError
	// The cache never outlives the token.
	token = iss.token(map[string]any{"exp": clock.Add(time.Minute).Unix()})
	if _, err := v.Verify(ctx, token); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(2 * time.Minute)
	if _, err := v.Verify(ctx, token); !errors.As(err, &te) || te.Reason != auth.ReasonExpired {
		t.Fatalf("cached token past its exp: %v, want expired", err)
	}
}

func TestVerifierKeyRefreshFloor(t *testing.T) {
	iss := newIssuer(t)
	s := iss.service(t, func(_ *config.Auth, o *auth.Options) { o.MinKeyRefresh = time.Hour })
	v := s.Verifier()
	ctx := context.Background()
	if _, err := v.Verify(ctx, iss.token(nil)); err != nil {
		t.Fatal(err)
	}
	before := iss.keyFetches.Load()
	rogue := sign(t, testKey(t, 3), "rogue", oidc.RS256, iss.claims(nil))
	for range 50 {
		if _, err := v.Verify(ctx, rogue); err == nil {
			t.Fatal("rogue token accepted")
		}
	}
	if n := iss.keyFetches.Load() - before; n > 0 {
		t.Errorf("50 tokens of unknown keys made %d key-set fetches within the refresh floor, want 0", n)
	}
}

func TestVerifierIssuerKeysDown(t *testing.T) {
	iss := newIssuer(t)
	s := iss.service(t, nil)
	iss.keysDown.Store(true)
	// A token of a key not cached yet needs the key set, which fails.
	iss.rotate(false)
	_, err := s.Verifier().Verify(context.Background(), iss.token(nil))
	var te *auth.TokenError
	if !errors.As(err, &te) || te.Reason != auth.ReasonKeysUnavailable {
		t.Fatalf("err = %v, want keys unavailable", err)
	}
	if !errors.Is(err, auth.ErrIssuerUnavailable) || errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("err %v: want ErrIssuerUnavailable and not ErrInvalidToken", err)
	}
	// MCP answers 503, not 401: the token may well be good.
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	r.Header.Set("Authorization", "Bearer "+iss.token(nil))
	s.MCP(http.NotFoundHandler()).ServeHTTP(rec, r)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503", rec.Code)
	}
}

func TestNewUnreachableIssuer(t *testing.T) {
	// A port nothing listens on.
	srv := httptest.NewServer(http.NotFoundHandler())
	dead := srv.URL
	srv.Close()

	keysDown := newIssuer(t)
	keysDown.keysDown.Store(true)

	tests := []struct {
		name   string
		issuer string
		want   []string
	}{
		{"nothing listening", dead, []string{dead, "discovery", "connect"}},
		{"no discovery document", keysDown.URL() + "/nope", []string{keysDown.URL() + "/nope", "discovery", "404"}},
		{"key set fails", keysDown.URL(), []string{keysDown.URL(), "key set", "500"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := keysDown.authConfig()
			cfg.Issuer = tt.issuer
			_, err := auth.New(context.Background(), cfg, auth.Options{PublicURL: testPublicURL})
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestTokenErrorText(t *testing.T) {
	err := &auth.TokenError{Reason: auth.ReasonWrongAudience, Detail: `aud ["x"]`}
	if got := err.Error(); got != `token refused: wrong audience: aud ["x"]` {
		t.Errorf("Error() = %q", got)
	}
}

func BenchmarkVerify(b *testing.B) {
	iss := newIssuer(b)
	s := iss.service(b, nil)
	token := iss.token(map[string]any{"roles": []string{"parley-admin"}, "groups": []string{"support"}})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Verifier().Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMCPMiddleware(b *testing.B) {
	iss := newIssuer(b)
	s := iss.service(b, nil)
	h := s.MCP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	authz := "Bearer " + iss.token(nil)
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
		r.Header.Set("Authorization", authz)
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
}
