package a2a

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv/push"
)

// pushTokenHeader carries a config's token on each delivery, so that the
// receiver can tell the notification is meant for it.
const pushTokenHeader = "A2A-Notification-Token"

// pushSender delivers push notifications as the SDK's HTTP sender does
// (the event as a stream response, POSTed as JSON, with the config's token
// and credentials), through the gateway's guarded client: a callback that
// resolves to an address the gateway may not reach is refused at dial
// time, also when its name changed address after the config was set.
// The SDK's sender has a guard of its own, but allows either everything
// or no private address at all, and not the registry's allow-list.
type pushSender struct {
	client *http.Client
	log    *slog.Logger
}

var _ push.Sender = (*pushSender)(nil)

// SendPush implements push.Sender. A failed delivery is logged and
// dropped: the task goes on (the receiver can fetch it).
func (s *pushSender) SendPush(ctx context.Context, cfg *a2ago.PushConfig, event a2ago.Event) error {
	if err := s.send(ctx, cfg, event); err != nil {
		s.log.WarnContext(ctx, "a2a: push notification not delivered", "task", cfg.TaskID, "config", cfg.ID, "err", err)
	}
	return nil
}

func (s *pushSender) send(ctx context.Context, cfg *a2ago.PushConfig, event a2ago.Event) error {
	body, err := json.Marshal(a2ago.StreamResponse{Event: event})
	if err != nil {
		return fmt.Errorf("encode the event: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("the callback URL: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if cfg.Token != "" {
		req.Header.Set(pushTokenHeader, cfg.Token)
	}
	if cfg.Auth != nil && cfg.Auth.Credentials != "" {
		switch strings.ToLower(cfg.Auth.Scheme) {
		case "bearer":
			req.Header.Set("Authorization", "Bearer "+cfg.Auth.Credentials)
		case "basic":
			req.Header.Set("Authorization", "Basic "+cfg.Auth.Credentials)
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the receiver answered %s", resp.Status)
	}
	return nil
}
