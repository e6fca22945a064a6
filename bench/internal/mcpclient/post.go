package mcpclient

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Post sends one JSON-RPC message over plain HTTP, in session (if set),
// and reads the whole answer: the bench commands open idle sessions this
// way, without a go-sdk client's goroutines and GET stream. A status of 300
// or more is an error.
func Post(ctx context.Context, hc *http.Client, url, session, body string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
		req.Header.Set("Mcp-Protocol-Version", SessionVersion)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode >= 300 {
		err = fmt.Errorf("%s", resp.Status)
	}
	return resp, err
}
