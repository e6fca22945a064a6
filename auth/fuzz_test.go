package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/parleyhq/parley/auth"
)

// FuzzVerify feeds arbitrary bearer tokens to a verifier in front of a
// real local issuer: it must never panic, and it must either accept a
// token (only one signed by the issuer can be) or refuse it with a
// *TokenError.
func FuzzVerify(f *testing.F) {
	iss := newIssuer(f)
	s := iss.service(f, nil)
	v := s.Verifier()
	good := iss.token(nil)
	for _, seed := range []string{
		"", "a", "a.b", "a.b.c", "a.b.c.d.e", "..", good, good + "x", strings.ToUpper(good),
		iss.token(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}),
		iss.token(map[string]any{"aud": []any{1, "x", nil}, "roles": map[string]any{}}),
		unsigned(f, map[string]any{"alg": "none"}, iss.claims(nil), ""),
		unsigned(f, map[string]any{"alg": "RS256", "kid": 7}, map[string]any{"exp": "soon"}, "x"),
		"eyJhbGciOiJSUzI1NiJ9.bnVsbA.c2ln", // claims: null
		sign(f, testKey(f, 3), "rogue", oidc.RS256, iss.claims(nil)),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		p, err := v.Verify(context.Background(), token)
		if err != nil {
			var te *auth.TokenError
			if !errors.As(err, &te) || te.Reason == "" {
				t.Fatalf("error %v (%T) is not a *TokenError with a reason", err, err)
			}
			if p != nil {
				t.Fatal("a principal with an error")
			}
			return
		}
		if p == nil || p.Issuer != iss.URL() {
			t.Fatalf("accepted %q as %+v", token, p)
		}
	})
}
