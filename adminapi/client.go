package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/api"
)

// APIError is an error answer from the admin API.
type APIError struct {
	StatusCode int
	Message    string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (HTTP %d)", e.Message, e.StatusCode)
}

// ClientOptions tune a Client.
type ClientOptions struct {
	// Token, when set, is sent as a bearer token.
	Token string
	// HTTPClient makes the requests. Default: one with a 60s timeout
	// (registering fetches the agent's card, which the gateway bounds
	// itself).
	HTTPClient *http.Client
}

// Client calls the admin API of a gateway.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// NewClient returns a client for the gateway at baseURL
// ("http://127.0.0.1:8080"; a path prefix is kept).
func NewClient(baseURL string, opts ClientOptions) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("gateway URL %q must be an absolute http or https URL such as http://127.0.0.1:8080", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 60 * time.Second}
	}
	return &Client{base: u, token: opts.Token, http: opts.HTTPClient}, nil
}

// ListOptions select agents; see GET /api/v1/agents.
type ListOptions struct {
	Skill, Tag, Query, After string
	Limit                    int
}

// Register registers an agent.
func (c *Client) Register(ctx context.Context, req api.RegisterAgentRequest) (api.Agent, error) {
	var out api.Agent
	err := c.do(ctx, http.MethodPost, AgentsPath, nil, req, &out)
	return out, err
}

// List returns one page of agents.
func (c *Client) List(ctx context.Context, opts ListOptions) (api.AgentList, error) {
	q := url.Values{}
	for k, v := range map[string]string{"skill": opts.Skill, "tag": opts.Tag, "q": opts.Query, "after": opts.After} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	var out api.AgentList
	err := c.do(ctx, http.MethodGet, AgentsPath, q, nil, &out)
	return out, err
}

// ListAll returns every matching agent, page after page.
func (c *Client) ListAll(ctx context.Context, opts ListOptions) ([]api.Agent, error) {
	var all []api.Agent
	for {
		page, err := c.List(ctx, opts)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Agents...)
		if page.Next == "" {
			return all, nil
		}
		opts.After = page.Next
	}
}

// Get returns one agent, with its card.
func (c *Client) Get(ctx context.Context, name string) (api.Agent, error) {
	var out api.Agent
	err := c.do(ctx, http.MethodGet, agentPath(name), nil, nil, &out)
	return out, err
}

// Replace replaces an agent's card.
func (c *Client) Replace(ctx context.Context, name string, req api.ReplaceAgentRequest) (api.Agent, error) {
	var out api.Agent
	err := c.do(ctx, http.MethodPut, agentPath(name), nil, req, &out)
	return out, err
}

// Refetch fetches an agent's card again.
func (c *Client) Refetch(ctx context.Context, name string) (api.RefetchResult, error) {
	var out api.RefetchResult
	err := c.do(ctx, http.MethodPost, agentPath(name)+"/refetch", nil, nil, &out)
	return out, err
}

// Approve adopts an agent's pending card; cardHash, when set, must be the
// pending card's.
func (c *Client) Approve(ctx context.Context, name, cardHash string) (api.Agent, error) {
	var out api.Agent
	err := c.do(ctx, http.MethodPost, agentPath(name)+"/approve", nil, api.ApproveAgentRequest{CardHash: cardHash}, &out)
	return out, err
}

// Remove deletes an agent.
func (c *Client) Remove(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, agentPath(name), nil, nil, nil)
}

func agentPath(name string) string { return AgentsPath + "/" + url.PathEscape(name) }

func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	// path is already escaped (agentPath escapes the name).
	u, err := url.Parse(c.base.String() + path)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	u.RawQuery = query.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, u.Redacted(), err)
	}
	if resp.StatusCode >= 300 {
		var e api.Error
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
			if e.Error == "" {
				e.Error = resp.Status
			}
		}
		return &APIError{StatusCode: resp.StatusCode, Message: e.Error}
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: the answer is not the expected JSON: %w", method, u.Redacted(), err)
	}
	return nil
}

// IsStatus reports whether err is an APIError with the given status.
func IsStatus(err error, status int) bool {
	var e *APIError
	return errors.As(err, &e) && e.StatusCode == status
}

// RegisterUpstream registers an upstream MCP server.
func (c *Client) RegisterUpstream(ctx context.Context, req api.RegisterUpstreamRequest) (api.Upstream, error) {
	var out api.Upstream
	err := c.do(ctx, http.MethodPost, UpstreamsPath, nil, req, &out)
	return out, err
}

// ListUpstreams returns every registered upstream.
func (c *Client) ListUpstreams(ctx context.Context) ([]api.Upstream, error) {
	var out api.UpstreamList
	err := c.do(ctx, http.MethodGet, UpstreamsPath, nil, nil, &out)
	return out.Upstreams, err
}

// GetUpstream returns one upstream, with its status and drifted tools.
func (c *Client) GetUpstream(ctx context.Context, name string) (api.Upstream, error) {
	var out api.Upstream
	err := c.do(ctx, http.MethodGet, upstreamPath(name), nil, nil, &out)
	return out, err
}

// RemoveUpstream deletes an upstream registered through the API.
func (c *Client) RemoveUpstream(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, upstreamPath(name), nil, nil, nil)
}

// ApproveUpstream approves the changed definitions of an upstream's tools:
// those named, or every drifted one when tools is empty.
func (c *Client) ApproveUpstream(ctx context.Context, name string, tools []string) (api.ApproveUpstreamResult, error) {
	var out api.ApproveUpstreamResult
	err := c.do(ctx, http.MethodPost, upstreamPath(name)+"/approve", nil, api.ApproveUpstreamRequest{Tools: tools}, &out)
	return out, err
}
