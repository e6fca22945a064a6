package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	a2ago "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2aclient"
	"github.com/a2aproject/a2a-go/a2aclient/agentcard"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/parleyhq/parley/a2a"
	"github.com/parleyhq/parley/a2a/compat"
	"github.com/parleyhq/parley/a2a/relay"
	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/config"
)

// TestA2AEntries: how each A2A method of the gateway's own server is
// recorded, in both A2A versions and as the gRPC twin: the methods that
// may write commit their record with their first store write
// (WithWrite), reads are queued (Read), the rest are appended after the
// call.
func TestA2AEntries(t *testing.T) {
	type kind struct {
		Action          string
		Read, WithWrite bool
	}
	var (
		message = kind{Action: audit.ActionA2AMessage, WithWrite: true}
		write   = kind{Action: "a2a.call", WithWrite: true}
		read    = kind{Action: "a2a.call", Read: true}
		other   = kind{Action: "a2a.call"}
	)
	// Each 0.3 JSON-RPC method, its 1.0 name, and the kind of both.
	for _, tt := range []struct {
		v03, v10 string
		want     kind
	}{
		{"message/send", "SendMessage", message},
		{"message/stream", "SendStreamingMessage", message},
		{"tasks/cancel", "CancelTask", write},
		{"tasks/pushNotificationConfig/set", "CreateTaskPushNotificationConfig", write},
		{"tasks/pushNotificationConfig/delete", "DeleteTaskPushNotificationConfig", write},
		{"tasks/get", "GetTask", read},
		{"tasks/pushNotificationConfig/get", "GetTaskPushNotificationConfig", read},
		{"tasks/pushNotificationConfig/list", "ListTaskPushNotificationConfigs", read},
		{"agent/getAuthenticatedExtendedCard", "GetExtendedAgentCard", read},
		{"tasks/resubscribe", "SubscribeToTask", other},
		{"", "ListTasks", read},
	} {
		names := []string{tt.v10}
		if tt.v03 != "" {
			names = append(names, tt.v03)
		}
		for _, m := range names {
			e, ok := describeA2A(httptest.NewRequest(http.MethodPost, a2a.JSONRPCPath, nil), m)
			if got := (kind{e.Action, e.Read, e.WithWrite}); !ok || got != tt.want {
				t.Errorf("describeA2A(%q) = %+v, %v; want %+v", m, got, ok, tt.want)
			}
		}
		// The names are those the A2A translation knows.
		if got := compat.Method10(tt.v03); tt.v03 != "" && got != tt.v10 {
			t.Errorf("compat.Method10(%q) = %q, want %q", tt.v03, got, tt.v10)
		}
	}
	// The gRPC twins are recorded as their JSON-RPC methods are, the 1.0
	// gRPC spelling of the push config list included.
	for _, m := range []string{"tasks/list", "ListTaskPushNotificationConfig"} {
		if e, _ := describeA2A(nil, m); !e.Read || e.WithWrite {
			t.Errorf("describeA2A(%q) = %+v, want a read", m, e)
		}
	}
	for _, full := range []string{"/a2a.v1.A2AService/SendMessage", "/a2a.v1.A2AService/CancelTask",
		"/a2a.v1.A2AService/CreateTaskPushNotificationConfig", "/a2a.v1.A2AService/DeleteTaskPushNotificationConfig"} {
		if e, m, ok := describeA2AGRPC(full); !ok || !e.WithWrite || e.Read {
			t.Errorf("describeA2AGRPC(%q) = %+v, %q, %v; want a write", full, e, m, ok)
		}
	}
	// A relayed call writes nothing of the gateway's with its context.
	r := httptest.NewRequest(http.MethodPost, relay.Path+"/billing", nil)
	if e, ok := describeRelay(r, "message/send"); !ok || e.WithWrite || e.Read {
		t.Errorf("describeRelay(message/send) = %+v, %v; want recorded after the call", e, ok)
	}
	// The relay's REST face: the REST call's JSON-RPC twin decides.
	// The record names the A2A method: a REST body carries none.
	for _, tt := range []struct {
		method, path string
		read, ok     bool
		a2aMethod    string
	}{
		{http.MethodPost, relay.Path + "/billing/rest/message:send", false, true, "SendMessage"},
		{http.MethodGet, relay.Path + "/billing/rest/tasks/t1", true, true, "GetTask"},
		{http.MethodGet, relay.Path + "/billing/rest/v1/tasks/t1", true, true, "tasks/get"}, // A2A 0.3
		{http.MethodGet, relay.Path + "/billing/rest/nothing", false, false, ""},
	} {
		e, ok := describeRelay(httptest.NewRequest(tt.method, tt.path, nil), "")
		if ok != tt.ok || (ok && (e.Action != audit.ActionA2ARelay || e.Target != "billing" || e.Read != tt.read || e.Method != tt.a2aMethod)) {
			t.Errorf("describeRelay(%s %s) = %+v, %v", tt.method, tt.path, e, ok)
		}
	}
}

// TestA2AWritesCommitWithTheirRecord: through the assembly as it ships,
// over JSON-RPC and gRPC, a message's record is the one committed with
// its task's first save (committed_write), naming the task, and it is the
// only record of the message; a call that wrote nothing (a cancel of a
// finished task) is recorded after it; the chain verifies.
func TestA2AWritesCommitWithTheirRecord(t *testing.T) {
	ctx := t.Context()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.GRPCListen = "127.0.0.1:0"
	cfg.Store = "sqlite://" + filepath.Join(t.TempDir(), "parley.db")
	cfg.Agents.HealthInterval = -1
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := Build(ctx, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- a.Run(runCtx) }()

	card, err := agentcard.NewResolver(&http.Client{}).Resolve(ctx, a.URL)
	if err != nil {
		t.Fatalf("resolve card: %v", err)
	}
	type row struct {
		Action, Outcome, TaskID, Method, CommittedWrite string
	}
	var want []row
	for _, transport := range []a2ago.TransportProtocol{a2ago.TransportProtocolJSONRPC, a2ago.TransportProtocolGRPC} {
		c, err := a2aclient.NewFromCard(ctx, card,
			a2aclient.WithJSONRPCTransport(&http.Client{}),
			a2aclient.WithGRPCTransport(grpc.WithTransportCredentials(insecure.NewCredentials())),
			a2aclient.WithConfig(a2aclient.Config{PreferredTransports: []a2ago.TransportProtocol{transport}}))
		if err != nil {
			t.Fatalf("%s client: %v", transport, err)
		}
		res, err := c.SendMessage(ctx, &a2ago.MessageSendParams{Message: a2ago.NewMessage(a2ago.MessageRoleUser,
			a2ago.DataPart{Data: map[string]any{"tool": "list_tickets"}})})
		if err != nil {
			t.Fatalf("%s message/send: %v", transport, err)
		}
		task, ok := res.(*a2ago.Task)
		if !ok {
			t.Fatalf("%s message/send returned %T, want a task", transport, res)
		}
		if _, err := c.CancelTask(ctx, &a2ago.TaskIDParams{ID: task.ID}); err == nil {
			t.Errorf("%s: cancelling a finished task succeeded", transport)
		}
		c.Destroy()
		want = append(want,
			row{audit.ActionA2AMessage, audit.OK, string(task.ID), "message/send", "true"},
			row{"a2a.call", audit.Error, string(task.ID), "tasks/cancel", ""})
	}

	stop()
	if err := <-ran; err != nil {
		t.Errorf("Run = %v", err)
	}
	recs, _, err := a.Audit.List(ctx, audit.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var got []row
	for _, r := range recs {
		if r.Action != audit.ActionA2AMessage && r.Action != "a2a.call" {
			continue
		}
		var d map[string]string
		if err := json.Unmarshal(r.Detail, &d); err != nil {
			t.Fatalf("record %d: detail %s: %v", r.Seq, r.Detail, err)
		}
		got = append(got, row{r.Action, r.Outcome, r.TaskID, d["method"], d["committed_write"]})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("A2A records (-want +got):\n%s", diff)
	}
	if res, err := a.Audit.Verify(ctx); err != nil || !res.OK || res.Pending != 0 {
		t.Errorf("Verify = %+v, %v; want OK, none pending", res, err)
	}
}
