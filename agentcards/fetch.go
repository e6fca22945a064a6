package agentcards

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ErrFetch: fetching an agent card failed (the agent is unreachable,
// answered with an error status, or sent something too large). The error
// is a *FetchError.
var ErrFetch = errors.New("fetching the agent card failed")

// FetchError says which card could not be fetched and why.
type FetchError struct {
	URL    string
	Reason string
	Err    error
}

func (e *FetchError) Error() string {
	return fmt.Sprintf("fetch agent card %s: %s", e.URL, e.Reason)
}

func (e *FetchError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrFetch) true.
func (e *FetchError) Is(target error) bool { return target == ErrFetch }

// CardURL is where the card of the agent at raw is: raw itself when it
// already ends in WellKnownPath, else WellKnownPath under raw's path
// ("https://a.example/agents/x" → "https://a.example/agents/x/.well-known/agent-card.json").
// The URL must be absolute http(s), with a host and without credentials.
// The error wraps ErrInvalid.
func CardURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", fmt.Errorf("url: %q is not a URL: %v: %w", raw, unwrapURLError(err), ErrInvalid)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("url: %q must be an absolute http or https URL: %w", raw, ErrInvalid)
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("url: %q has no host: %w", raw, ErrInvalid)
	}
	if u.User != nil {
		return "", fmt.Errorf("url: %q must not carry credentials: %w", raw, ErrInvalid)
	}
	u.Fragment, u.RawFragment = "", ""
	if !strings.HasSuffix(u.Path, WellKnownPath) {
		u.Path = strings.TrimSuffix(u.Path, "/") + WellKnownPath
		u.RawPath = ""
	}
	return u.String(), nil
}

// fetchCard fetches and validates the card at cardURL: its host is
// checked by the guard first, the GET is bounded by the fetch timeout, and
// the body by MaxCardBytes. Errors are a *BlockedError, a *FetchError or a
// *CardError.
func (r *Registry) fetchCard(ctx context.Context, cardURL string) (*Card, error) {
	if err := r.guard.CheckURL(ctx, cardURL); err != nil {
		if errors.Is(err, ErrBlockedAddress) {
			return nil, err
		}
		return nil, r.transportError(ctx, cardURL, err)
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cardURL, nil)
	if err != nil {
		return nil, &FetchError{URL: cardURL, Reason: "not a URL Parley can fetch", Err: err}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", r.opts.UserAgent)
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, r.transportError(ctx, cardURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, &FetchError{URL: cardURL, Reason: "the agent answered HTTP " + resp.Status}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, r.opts.MaxCardBytes+1))
	if err != nil {
		return nil, r.transportError(ctx, cardURL, err)
	}
	if int64(len(body)) > r.opts.MaxCardBytes {
		return nil, &FetchError{URL: cardURL, Reason: fmt.Sprintf("the card is larger than %d bytes", r.opts.MaxCardBytes)}
	}
	// A JSON-RPC server mounted at the root answers any path, GET too,
	// with a JSON-RPC error: say so rather than "name is required".
	var rpc struct {
		JSONRPC string `json:"jsonrpc"`
		Error   *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &rpc) == nil && rpc.JSONRPC != "" && rpc.Error != nil {
		return nil, &FetchError{URL: cardURL, Reason: fmt.Sprintf("the agent answered with a JSON-RPC error (%q) instead of a card: is this where its card is?", rpc.Error.Message)}
	}
	card, err := ParseCard(body)
	if err != nil {
		return nil, fmt.Errorf("card fetched from %s: %w", cardURL, err)
	}
	return card, nil
}

// transportError explains a failed request in the caller's terms (see
// NetErrorReason): a refused address, a timeout, a host that does not
// resolve, a refused connection. The full error goes to the log.
func (r *Registry) transportError(ctx context.Context, cardURL string, err error) error {
	var be *BlockedError
	if errors.As(err, &be) {
		be.URL = cardURL
		return be
	}
	r.log.WarnContext(ctx, "fetching an agent card failed", "url", cardURL, "err", err)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &FetchError{URL: cardURL, Reason: fmt.Sprintf("no answer within %s", r.opts.FetchTimeout), Err: err}
	}
	reason, _ := NetErrorReason(err)
	return &FetchError{URL: cardURL, Reason: reason, Err: err}
}
