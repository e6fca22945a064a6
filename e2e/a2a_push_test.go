package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/google/go-cmp/cmp"
)

// pushDelivery is one request a push-notification receiver got.
type pushDelivery struct {
	token, authorization, contentType string
	event                             a2ago.Event
	err                               error // the body did not decode
}

// pushReceiver is a loopback HTTP server that takes push notifications
// and passes each on to the test.
func pushReceiver(t *testing.T) (url string, got <-chan pushDelivery) {
	t.Helper()
	ch := make(chan pushDelivery, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		d := pushDelivery{
			token:         r.Header.Get("A2A-Notification-Token"),
			authorization: r.Header.Get("Authorization"),
			contentType:   r.Header.Get("Content-Type"),
			err:           err,
		}
		if err == nil {
			var sr a2ago.StreamResponse
			if d.err = json.Unmarshal(body, &sr); d.err == nil {
				d.event = sr.Event
			}
		}
		select {
		case ch <- d:
		default:
			t.Errorf("the push receiver's buffer is full; dropped a delivery")
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/a2a-push", ch
}

// TestA2APushNotifications: a push-notification callback on a loopback
// address is refused, with the reason and the flag that allows it, by a
// gateway started without --allow-private-agent-urls, both when a config
// is set and when a message carries one, and nothing is stored. With the
// flag, a receiver on loopback gets the task's notifications, up to its
// completion, each with the config's token and credentials.
func TestA2APushNotifications(t *testing.T) {
	url, deliveries := pushReceiver(t)
	cfg := func(task a2ago.TaskID) *a2ago.PushConfig {
		return &a2ago.PushConfig{TaskID: task, ID: "e2e", URL: url, Token: "push-token-1",
			Auth: &a2ago.PushAuthInfo{Scheme: "Bearer", Credentials: "receiver-secret"}}
	}

	t.Run("refused without the flag", func(t *testing.T) {
		dir := t.TempDir()
		p := start(t, dir, cleanEnv(), "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0",
			"--store", "sqlite://"+filepath.Join(dir, "parley.db"))
		c := a2aFaceClient(t, "http://"+p.addr(t), a2ago.TransportProtocolJSONRPC)
		running := runningWait(t, c, "T-PUSH-1", nil)

		_, err := c.CreateTaskPushConfig(t.Context(), cfg(running.ID))
		checkRefusedCallback(t, "CreateTaskPushConfig", err)
		configs, err := c.ListTaskPushConfigs(t.Context(), &a2ago.ListTaskPushConfigRequest{TaskID: running.ID})
		if err != nil || len(configs) != 0 {
			t.Errorf("ListTaskPushConfigs after the refusal = %v, %v; want none", configs, err)
		}

		req := toolMessage("get_ticket", map[string]any{"ticket_id": "T-PUSH-1"})
		req.Config = &a2ago.SendMessageConfig{PushConfig: cfg("")}
		_, err = c.SendMessage(t.Context(), req)
		checkRefusedCallback(t, "SendMessage with a push config", err)
	})

	t.Run("delivered with --allow-private-agent-urls", func(t *testing.T) {
		dir := t.TempDir()
		p := start(t, dir, cleanEnv(), "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0",
			"--store", "sqlite://"+filepath.Join(dir, "parley.db"), "--allow-private-agent-urls")
		c := a2aFaceClient(t, "http://"+p.addr(t), a2ago.TransportProtocolJSONRPC)
		running := runningWait(t, c, "T-PUSH-2", nil)
		set, err := c.CreateTaskPushConfig(t.Context(), cfg(running.ID))
		if err != nil {
			t.Fatalf("CreateTaskPushConfig on loopback with the flag: %v", err)
		}
		if diff := cmp.Diff([]any{running.ID, url, "push-token-1"}, []any{set.TaskID, set.URL, set.Token}); diff != "" {
			t.Errorf("CreateTaskPushConfig answered (-want +got):\n%s", diff)
		}
		// The ticket reaches the status wait_for_ticket waits for: the task
		// completes, and its receiver hears of it.
		sendTool(t, c, "save_ticket", map[string]any{"ticket_id": "T-PUSH-2", "status": "resolved"})

		timeout := time.After(20 * time.Second)
		var seen []string
		for {
			var d pushDelivery
			select {
			case d = <-deliveries:
			case <-timeout:
				t.Fatalf("no push notification of the task's completion within 20s; got %v\ngateway log (end):\n%s", seen, tail(p.logs.String(), 30))
			}
			if d.err != nil {
				t.Fatalf("a push notification's body is no A2A stream response: %v", d.err)
			}
			seen = append(seen, eventShape(d.event))
			if diff := cmp.Diff([]string{"push-token-1", "Bearer receiver-secret", "application/json"},
				[]string{d.token, d.authorization, d.contentType}); diff != "" {
				t.Errorf("push notification %s: headers A2A-Notification-Token, Authorization, Content-Type (-want +got):\n%s", seen[len(seen)-1], diff)
			}
			if info := d.event.TaskInfo(); info.TaskID != running.ID {
				t.Errorf("push notification %s is about task %s, want %s", seen[len(seen)-1], info.TaskID, running.ID)
			}
			if seen[len(seen)-1] == "status:completed" || seen[len(seen)-1] == "task:completed" {
				t.Logf("push notifications received: %v", seen)
				break
			}
		}
		if got, err := c.GetTask(t.Context(), &a2ago.GetTaskRequest{ID: running.ID}); err != nil || got.Status.State != a2ago.TaskStateCompleted {
			t.Errorf("GetTask after the push = %+v, %v; want completed", got, err)
		}
	})
}

// checkRefusedCallback checks that a call setting a push callback on a
// loopback address was refused, saying why and what allows it.
func checkRefusedCallback(t *testing.T, call string, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s with a callback on 127.0.0.1 succeeded; want it refused", call)
		return
	}
	msg := err.Error()
	t.Logf("%s refused: %s", call, msg)
	for _, want := range []string{"127.0.0.1", "--allow-private-agent-urls"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%s refused with %q; want it to name %q", call, msg, want)
		}
	}
}
