package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Reason says why a token was refused, for the log and the audit log. It
// is never sent to the caller beyond what RFC 6750 allows (invalid_token).
type Reason string

// Reasons a token is refused.
const (
	ReasonMissing         Reason = "missing"               // no Authorization: Bearer header
	ReasonMalformed       Reason = "malformed"             // not a signed JWT, or claims that do not decode
	ReasonExpired         Reason = "expired"               // exp passed (or no exp)
	ReasonNotYetValid     Reason = "not yet valid"         // nbf in the future (beyond leeway)
	ReasonWrongIssuer     Reason = "wrong issuer"          // iss is not the configured issuer
	ReasonWrongAudience   Reason = "wrong audience"        // aud names none of the accepted audiences
	ReasonAlgNone         Reason = "alg none"              // unsigned token (alg: none)
	ReasonUnsupportedAlg  Reason = "unsupported algorithm" // e.g. HS256: only the issuer's asymmetric keys verify tokens
	ReasonUnknownKey      Reason = "unknown key"           // kid not in the issuer's key set, even after a refresh
	ReasonBadSignature    Reason = "bad signature"         // signature does not verify (tampered, or signed by someone else)
	ReasonKeysUnavailable Reason = "issuer keys unavailable"
)

// ErrInvalidToken matches (errors.Is) every *TokenError caused by the
// token itself: all reasons but ReasonKeysUnavailable.
var ErrInvalidToken = errors.New("invalid token")

// ErrIssuerUnavailable matches a *TokenError with ReasonKeysUnavailable:
// the issuer's keys could not be fetched, so the token could not be
// checked (the gateway answers 503, not 401).
var ErrIssuerUnavailable = errors.New("issuer unavailable")

// TokenError is a refused token: why (Reason, for the log), and the
// underlying detail. Its text may name claims of the token: log it, do not
// send it to the caller.
type TokenError struct {
	Reason Reason
	// Detail adds to Reason (the issuer or audience found, the expiry).
	Detail string
	// Err is the underlying error, if any.
	Err error
}

func (e *TokenError) Error() string {
	s := "token refused: " + string(e.Reason)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap gives ErrInvalidToken (or ErrIssuerUnavailable) and Err.
func (e *TokenError) Unwrap() []error {
	sentinel := ErrInvalidToken
	if e.Reason == ReasonKeysUnavailable {
		sentinel = ErrIssuerUnavailable
	}
	if e.Err == nil {
		return []error{sentinel}
	}
	return []error{sentinel, e.Err}
}

// signingAlgs are the algorithms tokens may be signed with: the asymmetric
// ones go-oidc supports. "none" and the HMAC family never verify.
var signingAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512,
	oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.PS256, oidc.PS384, oidc.PS512,
	oidc.EdDSA,
}

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	// Issuer is the OIDC issuer URL. Required.
	Issuer string
	// Audiences are accepted: a token must name one of them. Required.
	Audiences []string
	// RoleClaims are dotted claim paths holding roles or groups.
	RoleClaims []string
	// AdminRoles make a principal an administrator.
	AdminRoles []string
	// HTTPClient fetches discovery and keys. Default: a client with a 10s
	// timeout.
	HTTPClient *http.Client
	// MinKeyRefresh is the shortest time between two fetches of the
	// issuer's key set: a token with an unknown key makes go-oidc fetch
	// the keys again, and this keeps a flood of such tokens from becoming
	// a flood of requests to the issuer. Default 1s; negative: no floor.
	MinKeyRefresh time.Duration
	// CacheSize bounds the cache of verified tokens: a token seen again is
	// accepted without checking its signature again, until it expires or
	// for CacheTTL at most. Default 4096 tokens; negative: no cache.
	CacheSize int
	// CacheTTL bounds how long a verified token is trusted without being
	// verified again. Default 5 minutes.
	CacheTTL time.Duration
	// Now reads the clock. Default time.Now.
	Now func() time.Time
}

// Verifier checks bearer tokens (JWT access tokens) from one OIDC issuer:
// signature against the issuer's published keys (fetched through
// discovery, cached, fetched again when a token names a key not seen yet,
// so that a key rotation is picked up without a restart), issuer,
// audience, expiry and not-before. One Verifier serves every endpoint; it
// is safe for concurrent use.
type Verifier struct {
	issuer    string
	audiences []string
	mapping   claimsMapping
	oidc      *oidc.IDTokenVerifier
	keys      *jwksObserver
	now       func() time.Time
	cache     *tokenCache // nil: off
}

// maxTokenBytes bounds a bearer token: real access tokens are a few KiB.
const maxTokenBytes = 16 << 10

// NewVerifier discovers the issuer (its /.well-known/openid-configuration)
// and fetches its key set once. An issuer that cannot be reached or does
// not answer properly is an error naming the issuer and the cause.
func NewVerifier(ctx context.Context, cfg VerifierConfig) (*Verifier, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("auth: no OIDC issuer configured")
	}
	if len(cfg.Audiences) == 0 {
		return nil, fmt.Errorf("auth: OIDC issuer %s: no accepted audience configured", cfg.Issuer)
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	minRefresh := cfg.MinKeyRefresh
	if minRefresh == 0 {
		minRefresh = time.Second
	}

	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, client), cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("auth: OIDC issuer %s is unusable (discovery at %s/.well-known/openid-configuration failed): %w",
			cfg.Issuer, strings.TrimSuffix(cfg.Issuer, "/"), err)
	}
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := provider.Claims(&meta); err != nil || meta.JWKSURI == "" {
		return nil, fmt.Errorf("auth: OIDC issuer %s: its discovery document names no jwks_uri", cfg.Issuer)
	}

	jwksURL, err := url.Parse(meta.JWKSURI)
	if err != nil || (jwksURL.Scheme != "https" && jwksURL.Scheme != "http") || jwksURL.Host == "" {
		return nil, fmt.Errorf("auth: OIDC issuer %s: jwks_uri %q is not an absolute http(s) URL", cfg.Issuer, meta.JWKSURI)
	}
	keys := &jwksObserver{url: jwksURL.String(), base: client.Transport, minRefresh: minRefresh, now: now}
	if keys.base == nil {
		keys.base = http.DefaultTransport
	}
	observed := &http.Client{Transport: keys, Timeout: client.Timeout, Jar: client.Jar}
	// One fetch now, so that an issuer whose keys cannot be had fails
	// start-up rather than the first call.
	if err := keys.prefetch(ctx, observed); err != nil {
		return nil, fmt.Errorf("auth: OIDC issuer %s: key set %s: %w", cfg.Issuer, meta.JWKSURI, err)
	}
	// go-oidc's remote key set caches the keys and fetches them again when
	// a token's key is not among them (key rotation), through observed.
	remote := oidc.NewRemoteKeySet(oidc.ClientContext(context.WithoutCancel(ctx), observed), keys.url)
	verifier := oidc.NewVerifier(cfg.Issuer, &recordingKeySet{remote: remote}, &oidc.Config{
		// Access tokens name the resource, not a client: the audience is
		// checked below against every accepted audience.
		SkipClientIDCheck:    true,
		SupportedSigningAlgs: signingAlgs,
		Now:                  now,
	})
	v := &Verifier{
		issuer:    cfg.Issuer,
		audiences: slices.Clone(cfg.Audiences),
		mapping:   newClaimsMapping(cfg.RoleClaims, cfg.AdminRoles),
		oidc:      verifier,
		keys:      keys,
		now:       now,
	}
	if cfg.CacheSize >= 0 {
		size, ttl := cfg.CacheSize, cfg.CacheTTL
		if size == 0 {
			size = 4096
		}
		if ttl <= 0 {
			ttl = 5 * time.Minute
		}
		v.cache = &tokenCache{max: size, ttl: ttl, entries: map[[sha256.Size]byte]cacheEntry{}}
	}
	return v, nil
}

// Issuer is the configured issuer URL.
func (v *Verifier) Issuer() string { return v.issuer }

// Audiences are the accepted audiences.
func (v *Verifier) Audiences() []string { return slices.Clone(v.audiences) }

// Verify checks a raw token (without "Bearer ") and returns its
// principal, or a *TokenError saying why it was refused. The principal of
// a token seen recently may be shared with other calls: do not modify it.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Principal, error) {
	if raw == "" {
		return nil, &TokenError{Reason: ReasonMissing}
	}
	if v.cache == nil || len(raw) > maxTokenBytes {
		return v.verify(ctx, raw)
	}
	key := sha256.Sum256([]byte(raw))
	now := v.now()
	if p, ok := v.cache.get(key, now); ok {
		return p, nil
	}
	p, err := v.verify(ctx, raw)
	if err == nil {
		v.cache.put(key, p, now)
	}
	return p, err
}

func (v *Verifier) verify(ctx context.Context, raw string) (*Principal, error) {
	header, claims, terr := parseUnverified(raw)
	if terr != nil {
		return nil, terr
	}
	switch {
	case strings.EqualFold(header.Alg, "none"):
		return nil, &TokenError{Reason: ReasonAlgNone}
	case !slices.Contains(signingAlgs, header.Alg):
		return nil, &TokenError{Reason: ReasonUnsupportedAlg, Detail: fmt.Sprintf("alg %q", header.Alg)}
	}

	out := &sigOutcome{}
	tok, err := v.oidc.Verify(context.WithValue(ctx, sigOutcomeKey{}, out), raw)
	if err != nil {
		return nil, v.classify(err, out, header, claims)
	}
	// The payload is now known to be the issuer's: decode it for real.
	var verified map[string]any
	if err := tok.Claims(&verified); err != nil {
		return nil, &TokenError{Reason: ReasonMalformed, Detail: "claims", Err: err}
	}
	// go-oidc reads dates leniently (a string "1796592345" passes as a
	// number) and not at all where it has no use for them (iat): the
	// registered date claims are checked here, on the claims the
	// Principal is built from, so that every face judges them alike.
	if terr := checkDates(verified, v.now()); terr != nil {
		return nil, terr
	}
	if !slices.ContainsFunc(tok.Audience, func(a string) bool { return slices.Contains(v.audiences, a) }) {
		return nil, &TokenError{Reason: ReasonWrongAudience, Detail: fmt.Sprintf("aud %q, accepted %q", tok.Audience, v.audiences)}
	}
	return v.mapping.principal(verified), nil
}

// classify turns a go-oidc verification failure into a reason.
func (v *Verifier) classify(err error, out *sigOutcome, header jwtHeader, claims map[string]any) *TokenError {
	var expired *oidc.TokenExpiredError
	switch {
	case errors.As(err, &expired):
		if expired.Expiry.IsZero() {
			return &TokenError{Reason: ReasonExpired, Detail: "no exp claim"}
		}
		return &TokenError{Reason: ReasonExpired, Detail: "exp " + expired.Expiry.UTC().Format(time.RFC3339)}
	case !out.called:
		// Refused before any key was tried: the JWS did not parse.
		return &TokenError{Reason: ReasonMalformed, Err: err}
	case out.err != nil:
		if errors.Is(out.err, context.Canceled) || errors.Is(out.err, context.DeadlineExceeded) {
			return &TokenError{Reason: ReasonKeysUnavailable, Err: out.err}
		}
		known, fetchErr := v.keys.state()
		switch {
		case fetchErr != nil:
			return &TokenError{Reason: ReasonKeysUnavailable, Err: fetchErr}
		case header.Kid != "" && !slices.Contains(known, header.Kid):
			return &TokenError{Reason: ReasonUnknownKey, Detail: fmt.Sprintf("kid %q", header.Kid)}
		default:
			return &TokenError{Reason: ReasonBadSignature, Detail: fmt.Sprintf("kid %q", header.Kid)}
		}
	}
	// The signature verified: what failed is a claim. The claims parsed
	// before verification are the verified ones (same bytes).
	if iss, _ := claims["iss"].(string); iss != v.issuer {
		return &TokenError{Reason: ReasonWrongIssuer, Detail: fmt.Sprintf("iss %q", iss)}
	}
	if nbf, ok := claims["nbf"].(float64); ok && v.now().Before(time.Unix(int64(nbf), 0)) {
		return &TokenError{Reason: ReasonNotYetValid, Detail: "nbf " + time.Unix(int64(nbf), 0).UTC().Format(time.RFC3339)}
	}
	return &TokenError{Reason: ReasonMalformed, Err: err}
}

// dateLeeway is how far in the future nbf and iat may be, for clocks
// that disagree a little: go-oidc's leeway for nbf.
const dateLeeway = 5 * time.Minute

// maxNumericDate is the last second of year 9999: a date beyond it is not
// a date any issuer means (and would not fit a time.Time in seconds).
const maxNumericDate = 253402300799

// checkDates enforces RFC 7519's date claims on verified claims: exp is
// required, and exp, nbf and iat are NumericDates (JSON numbers, a
// fraction allowed, within year 1970 to 9999); the token is refused
// once exp has passed, before nbf, and when it claims to be issued in
// the future (beyond dateLeeway, as nbf).
func checkDates(claims map[string]any, now time.Time) *TokenError {
	dates := map[string]time.Time{}
	for _, name := range []string{"exp", "nbf", "iat"} {
		v, present := claims[name]
		if !present {
			continue
		}
		t, ok := numericDate(v)
		if !ok {
			return &TokenError{Reason: ReasonMalformed, Detail: fmt.Sprintf("%s is not a NumericDate (a JSON number of seconds since 1970)", name)}
		}
		dates[name] = t
	}
	exp, ok := dates["exp"]
	switch {
	case !ok:
		return &TokenError{Reason: ReasonExpired, Detail: "no exp claim"}
	case !now.Before(exp):
		return &TokenError{Reason: ReasonExpired, Detail: "exp " + exp.UTC().Format(time.RFC3339)}
	}
	if nbf, ok := dates["nbf"]; ok && now.Add(dateLeeway).Before(nbf) {
		return &TokenError{Reason: ReasonNotYetValid, Detail: "nbf " + nbf.UTC().Format(time.RFC3339)}
	}
	if iat, ok := dates["iat"]; ok && now.Add(dateLeeway).Before(iat) {
		return &TokenError{Reason: ReasonNotYetValid, Detail: "iat " + iat.UTC().Format(time.RFC3339) + " is in the future"}
	}
	return nil
}

// numericDate reads a NumericDate as decoded into a map[string]any: a
// float64 (encoding/json's number), finite and in range.
func numericDate(v any) (time.Time, bool) {
	f, ok := v.(float64)
	if !ok || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// parseUnverified decodes a compact JWS's header and claims without
// checking anything, to give refusals a precise reason.
func parseUnverified(raw string) (jwtHeader, map[string]any, *TokenError) {
	var h jwtHeader
	if len(raw) > maxTokenBytes {
		return h, nil, &TokenError{Reason: ReasonMalformed, Detail: fmt.Sprintf("%d bytes, more than %d", len(raw), maxTokenBytes)}
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		detail := fmt.Sprintf("%d dot-separated parts, want 3", len(parts))
		if len(parts) == 5 {
			detail = "encrypted tokens (JWE) are not accepted"
		}
		return h, nil, &TokenError{Reason: ReasonMalformed, Detail: detail}
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return h, nil, &TokenError{Reason: ReasonMalformed, Detail: "header", Err: err}
	}
	if err := json.Unmarshal(hb, &h); err != nil {
		return h, nil, &TokenError{Reason: ReasonMalformed, Detail: "header", Err: err}
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return h, nil, &TokenError{Reason: ReasonMalformed, Detail: "claims", Err: err}
	}
	var claims map[string]any
	if err := json.Unmarshal(pb, &claims); err != nil || claims == nil {
		if err == nil {
			err = errors.New("claims are not a JSON object")
		}
		return h, nil, &TokenError{Reason: ReasonMalformed, Detail: "claims", Err: err}
	}
	return h, claims, nil
}

// sigOutcome records, for one Verify call, whether the key set was asked
// to verify the signature and what it answered: go-oidc flattens that
// error to text.
type sigOutcome struct {
	called bool
	err    error
}

type sigOutcomeKey struct{}

// recordingKeySet is go-oidc's remote key set, noting its answer in the
// call's sigOutcome.
type recordingKeySet struct {
	remote *oidc.RemoteKeySet
}

func (k *recordingKeySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := k.remote.VerifySignature(ctx, jwt)
	if out, ok := ctx.Value(sigOutcomeKey{}).(*sigOutcome); ok {
		out.called, out.err = true, err
	}
	return payload, err
}

// maxJWKSBytes bounds the issuer's key set document.
const maxJWKSBytes = 1 << 20

// jwksObserver is the transport go-oidc fetches the key set through. It
// remembers the key IDs the issuer last published (to tell an unknown key
// from a bad signature) and whether the last fetch failed, and it serves
// the last good answer again when asked within minRefresh of fetching it.
type jwksObserver struct {
	url        string
	base       http.RoundTripper
	minRefresh time.Duration
	now        func() time.Time

	mu        sync.Mutex
	kids      []string
	fetchErr  error
	body      []byte // last good answer
	header    http.Header
	fetchedAt time.Time
}

func (o *jwksObserver) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.String() != o.url || req.Method != http.MethodGet {
		return o.base.RoundTrip(req)
	}
	o.mu.Lock()
	if o.body != nil && o.minRefresh > 0 && o.now().Sub(o.fetchedAt) < o.minRefresh {
		resp := cannedResponse(req, o.header, o.body)
		o.mu.Unlock()
		return resp, nil
	}
	o.mu.Unlock()

	resp, err := o.base.RoundTrip(req)
	if err != nil {
		o.record(nil, nil, err)
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		o.record(nil, nil, fmt.Errorf("GET %s: %s", o.url, resp.Status))
		return resp, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	resp.Body.Close()
	if err == nil && len(body) > maxJWKSBytes {
		err = fmt.Errorf("GET %s: key set larger than %d bytes", o.url, maxJWKSBytes)
	}
	if err != nil {
		o.record(nil, nil, err)
		return nil, err
	}
	o.record(body, resp.Header, nil)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}

// record notes the outcome of a fetch: a body (parsed for key IDs) or an
// error.
func (o *jwksObserver) record(body []byte, header http.Header, err error) {
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err == nil {
		if jerr := json.Unmarshal(body, &set); jerr != nil {
			err = fmt.Errorf("GET %s: not a JSON key set: %w", o.url, jerr)
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fetchErr = err
	if err != nil {
		return
	}
	o.kids = o.kids[:0]
	for _, k := range set.Keys {
		o.kids = append(o.kids, k.Kid)
	}
	o.body, o.header, o.fetchedAt = body, header.Clone(), o.now()
}

// state is what the last fetch found: the key IDs, or why it failed.
func (o *jwksObserver) state() ([]string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.kids), o.fetchErr
}

// prefetch fetches the key set once through client.
func (o *jwksObserver) prefetch(ctx context.Context, client *http.Client) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	_, fetchErr := o.state()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return fetchErr
}

func cannedResponse(req *http.Request, header http.Header, body []byte) *http.Response {
	return &http.Response{
		Status:        "200 OK",
		StatusCode:    http.StatusOK,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        header.Clone(),
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// tokenCache remembers verified tokens (by hash) until they expire, for
// ttl at most.
type tokenCache struct {
	max int
	ttl time.Duration

	mu      sync.Mutex
	entries map[[sha256.Size]byte]cacheEntry
}

type cacheEntry struct {
	p     *Principal
	until time.Time
}

func (c *tokenCache) get(key [sha256.Size]byte, now time.Time) (*Principal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	if !now.Before(e.until) {
		delete(c.entries, key)
		return nil, false
	}
	return e.p, true
}

func (c *tokenCache) put(key [sha256.Size]byte, p *Principal, now time.Time) {
	until := now.Add(c.ttl)
	if !p.Expiry.IsZero() && p.Expiry.Before(until) {
		until = p.Expiry
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for k, e := range c.entries {
			if !now.Before(e.until) {
				delete(c.entries, k)
			}
		}
		// Still full: drop an arbitrary eighth (map order is random).
		for k := range c.entries {
			if len(c.entries) < c.max-c.max/8 {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = cacheEntry{p: p, until: until}
}
