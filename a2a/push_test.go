package a2a

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/parleyhq/parley/mcpbridge"
)

// delivery is one push notification a receiver got.
type delivery struct {
	token string
	body  map[string]any
}

// TestPushNotifications: a push-notification config whose callback the
// gateway may not call is refused at once, as invalid params naming the
// URL, however it is given; an allowed one gets the task's notifications,
// with its token.
func TestPushNotifications(t *testing.T) {
	got := make(chan delivery, 64)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		select {
		case got <- delivery{token: r.Header.Get(pushTokenHeader), body: body}:
		default:
		}
	}))
	t.Cleanup(receiver.Close)
	// The gateway may call the receiver and nothing else, as the
	// registry's guard would allow one address.
	check := func(_ context.Context, u string) error {
		if strings.HasPrefix(u, receiver.URL+"/") {
			return nil
		}
		return errors.New("it resolves to a link-local address")
	}
	g := startGateway(t, withPush(receiver.Client(), check))
	const refused = "http://169.254.169.254/latest/meta-data/"

	for _, b := range bindings {
		t.Run(b.name, func(t *testing.T) {
			c := g.client(t, b, "erin")
			task := send(t, c, toolMessage(mcpbridge.ToolGetStatus, nil))

			t.Run("a refused callback", func(t *testing.T) {
				_, err := c.CreateTaskPushConfig(t.Context(), &a2ago.PushConfig{TaskID: task.ID, URL: refused})
				if !errors.Is(err, a2ago.ErrInvalidParams) || !strings.Contains(err.Error(), refused) {
					t.Errorf("CreateTaskPushConfig with a refused URL: %v; want invalid params naming the URL", err)
				}
				msg := toolMessage(mcpbridge.ToolGetStatus, nil)
				msg.Config = &a2ago.SendMessageConfig{PushConfig: &a2ago.PushConfig{URL: refused}}
				_, err = c.SendMessage(t.Context(), msg)
				if !errors.Is(err, a2ago.ErrInvalidParams) || !strings.Contains(err.Error(), refused) {
					t.Errorf("SendMessage with a refused push URL: %v; want invalid params naming the URL", err)
				}
				cfgs, err := c.ListTaskPushConfigs(t.Context(), &a2ago.ListTaskPushConfigRequest{TaskID: task.ID})
				if err != nil || len(cfgs) != 0 {
					t.Errorf("configs after refusals = %v, %v; want none", cfgs, err)
				}
			})

			t.Run("delivered with the token", func(t *testing.T) {
				token := "tok-" + b.name
				msg := toolMessage(mcpbridge.ToolGetStatus, nil)
				msg.Config = &a2ago.SendMessageConfig{PushConfig: &a2ago.PushConfig{URL: receiver.URL + "/hook", Token: token}}
				sent := send(t, c, msg)
				// A bound on a failure, not a wait for readiness.
				ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
				defer cancel()
				for {
					select {
					case d := <-got:
						if d.token != token {
							continue // an earlier subtest's late notification
						}
						if !strings.Contains(mustJSON(t, d.body), string(sent.ID)) {
							t.Errorf("notification %v does not name task %s", d.body, sent.ID)
						}
						return
					case <-ctx.Done():
						t.Fatal("no notification with the config's token")
					}
				}
			})
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
