package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"iter"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	a2ago "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"
	a2av1 "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
	"github.com/a2aproject/a2a-go/v2/a2acompat/a2av0"
	a2agrpcv1 "github.com/a2aproject/a2a-go/v2/a2agrpc/v1"
	a2asrvv1 "github.com/a2aproject/a2a-go/v2/a2asrv"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/parleyhq/parley/agentcards/agentcardstest"
)

// relayMissingAgent is a name TestA2AJSRelay never registers.
const relayMissingAgent = "no-such-agent"

// relayAgent is an agent TestA2AJSRelay registers and drives through the
// relay: start starts it on loopback under name and returns its URL, and
// calls (nil: not counted) how many A2A calls it got in the version and
// binding the relay should use with it (want) and in any other (other).
type relayAgent struct {
	test  string // the subtest's name
	name  string
	start func(t *testing.T, name string) (url string, calls func() (want, other int64))
}

// relayAgents are the agents TestA2AJSRelay drives: an a2a-go v0.3 agent,
// which speaks A2A 0.3 only, so that the relay translates every 1.0 call
// to it; and an a2a-go v2 agent, whose card lists A2A 1.0 only (JSON-RPC,
// then REST), so that the relay translates every 0.3 call to it and must
// call it in 1.0 over JSON-RPC. Both answer with the same echo.
var relayAgents = []relayAgent{
	{
		test: "agent-a2a-go-0.3",
		name: "echo-relay",
		start: func(t *testing.T, name string) (string, func() (int64, int64)) {
			peer := agentcardstest.NewPeerWith(t, name, relayEchoExecutor{name: name},
				agentcardstest.Skill("echo", "Echo", "e2e", "relay"))
			return peer.URL(), nil
		},
	},
	{
		test: "agent-a2a-go-v2",
		name: "echo-relay-v2",
		start: func(t *testing.T, name string) (string, func() (int64, int64)) {
			peer := agentcardstest.NewPeer1With(t, name, relayEcho1{name: name},
				[]a2av1.AgentSkill{agentcardstest.Skill1("echo", "Echo", "e2e", "relay")},
				agentcardstest.BindingJSONRPC, agentcardstest.BindingREST)
			return peer.URL(), func() (int64, int64) {
				var other int64
				for _, b := range []string{agentcardstest.BindingREST, agentcardstest.BindingGRPC,
					agentcardstest.BindingJSONRPC03, agentcardstest.BindingREST03, agentcardstest.BindingGRPC03} {
					other += peer.Calls(b)
				}
				return peer.Calls(agentcardstest.BindingJSONRPC), other
			}
		},
	},
}

// TestA2AJSRelay drives registered agents through the gateway's relay
// (/a2a/agents/{name}) with @a2a-js/sdk 1.3.0 (A2A 1.0, without its
// legacyCompat option) and 0.3.14 (A2A 0.3), as TestA2AJSClient does the
// gateway's own endpoint (e2e/js/a2a-relay-client.mjs), and with a2a-go
// v2's gRPC client. The agents (relayAgents) are real a2a-go agents on
// loopback, one speaking A2A 0.3 only (a2a-go v0.3, relayEchoExecutor) and
// one A2A 1.0 only (a2a-go v2, relayEcho1): so the relay translates one
// SDK's calls both ways for each.
//
// Each SDK resolves the relay's rewritten card
// (/a2a/agents/{name}/.well-known/agent-card.json), which must point it at
// the relay; sends a text and a data part and gets them echoed back in the
// completed task's artifact; streams a message and sees the task, a working
// update with text, the artifact and the completion in that order; gets the
// first task back; sees a message to an unregistered agent fail with an
// error naming it; and does the same over the relay's REST face
// (/a2a/agents/{name}/rest, the card's HTTP+JSON interfaces). a2a-go v2's
// gRPC 1.0 client reaches the agent through the gateway's gRPC port, the
// agent named by the card's tenant (relayOverGRPC). The v2 agent must have
// got each client's calls over 1.0 JSON-RPC, the interface its card
// prefers.
//
// Like TestA2AJSClient it needs node and e2e/js/node_modules; without them
// it is skipped locally, but fails under CI (CI set).
func TestA2AJSRelay(t *testing.T) {
	node, clientScript := nodeA2AClient(t)
	script := filepath.Join(filepath.Dir(clientScript), "a2a-relay-client.mjs")

	dir := t.TempDir()
	p := start(t, dir, cleanEnv(),
		"--listen", "127.0.0.1:0",
		"--grpc-listen", "127.0.0.1:0",
		"--allow-private-agent-urls",
		"--store", "sqlite://"+filepath.Join(dir, "parley.db"),
	)
	base := "http://" + p.addr(t)

	for _, agent := range relayAgents {
		t.Run(agent.test, func(t *testing.T) {
			agentURL, calls := agent.start(t, agent.name)
			registerRelayAgent(t, base, agentURL, agent.name)

			// reached checks, when the agent counts its calls, that run
			// made some to it in the version and binding it prefers, and
			// none in any other.
			reached := func(t *testing.T, run func()) {
				t.Helper()
				if calls == nil {
					run()
					return
				}
				want0, other0 := calls()
				run()
				want, other := calls()
				if want <= want0 || other != other0 {
					t.Errorf("%s got %d A2A 1.0 JSON-RPC calls and %d on other interfaces from the relay, want some and none",
						agent.name, want-want0, other-other0)
				}
			}

			t.Run("go-grpc-1.0", func(t *testing.T) { reached(t, func() { relayOverGRPC(t, base, agent.name) }) })
			for _, sdk := range a2aJSSDKs {
				t.Run("sdk-"+sdk.version, func(t *testing.T) {
					reached(t, func() { relayJSClient(t, p, node, script, base, agent.name, agentURL, sdk.version, sdk.a2a) })
				})
			}
		})
	}
}

// relayJSClient runs e2e/js/a2a-relay-client.mjs (script) with the
// @a2a-js/sdk of the given version, speaking A2A a2aVersion, against the
// agent name registered at agentURL, through the gateway p at base.
func relayJSClient(t *testing.T, p *process, node, script, base, name, agentURL, version, a2aVersion string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	args := []string{script, base, name, a2aVersion, agentURL, relayMissingAgent}
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = filepath.Dir(script)
	cmd.Env = cleanEnv()
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	run := "node " + strings.Join(append([]string{filepath.Base(script)}, args[1:]...), " ")
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s did not finish within its timeout:\n%s\ngateway log (end):\n%s", run, out, tail(p.logs.String(), 60))
	case err != nil:
		t.Fatalf("%s: %v\n%s\ngateway log (end):\n%s", run, err, out, tail(p.logs.String(), 60))
	}
	t.Logf("%s:\n%s", run, out)
	if !strings.Contains(string(out), "PASS ") {
		t.Fatalf("the script exited 0 without its PASS line:\n%s", out)
	}
	if want := "@a2a-js/sdk " + version + " "; !strings.Contains(string(out), want) {
		t.Errorf("the script did not run %q (is e2e/js/node_modules up to date? npm ci):\n%s", want, out)
	}
}

// relayOverGRPC drives the relayed agent name with a2a-go v2's gRPC 1.0 client
// through the gateway's gRPC port, as the relay's card lists it (its
// tenant names the agent): a message, the completed task echoing it, and
// the task got back; and a cancel of it, which the agent refuses.
func relayOverGRPC(t *testing.T, base, name string) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/a2a/agents/"+name+"/.well-known/agent-card.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the relayed card: %s %s %v", resp.Status, raw, err)
	}
	card, err := a2av0.NewAgentCardParser()(raw)
	if err != nil {
		t.Fatalf("the relayed card %s: %v", raw, err)
	}
	client, err := a2aclient.NewFromCard(ctx, card, a2aclient.WithDefaultsDisabled(),
		a2agrpcv1.WithGRPCTransport(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatalf("a gRPC 1.0 client from the relayed card %s: %v", raw, err)
	}
	defer client.Destroy()
	res, err := client.SendMessage(ctx, &a2av1.SendMessageRequest{Message: a2av1.NewMessage(a2av1.MessageRoleUser, a2av1.NewTextPart("over gRPC"))})
	if err != nil {
		t.Fatalf("SendMessage over gRPC through the relay: %v", err)
	}
	task, ok := res.(*a2av1.Task)
	if !ok || task.Status.State != a2av1.TaskStateCompleted || len(task.Artifacts) != 1 {
		t.Fatalf("SendMessage over gRPC = %#v, want the completed task with its echo", res)
	}
	got, err := client.GetTask(ctx, &a2av1.GetTaskRequest{ID: task.ID})
	if err != nil || got.ID != task.ID || got.Status.State != a2av1.TaskStateCompleted {
		t.Errorf("GetTask over gRPC = %v, %v", got, err)
	}
	if _, err := client.CancelTask(ctx, &a2av1.CancelTaskRequest{ID: task.ID}); !errors.Is(err, a2av1.ErrTaskNotCancelable) ||
		!strings.Contains(err.Error(), name) {
		t.Errorf("CancelTask over gRPC = %v, want the agent's task-not-cancelable naming it", err)
	}
}

// registerRelayAgent registers the agent at agentURL through the admin API, as
// POST /api/v1/agents {"url": …}, and checks it is registered under name.
func registerRelayAgent(t *testing.T, base, agentURL, name string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"url": agentURL})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/agents", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /api/v1/agents: %v", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var got struct {
		Name string `json:"name"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(out, &got) != nil || got.Name != name {
		t.Fatalf("POST /api/v1/agents %s = %s\n%s\nwant 201 and the agent named %q", body, resp.Status, out, name)
	}
}

// relayEchoExecutor streams, for every message: the submitted task, a
// working status update with a text, an artifact named "echo" with a data
// part echoing what it received and a text part, and the completed status.
//
// The data part is {"agent": name, "texts": [the text parts], "data": [the
// data parts' data], "parley": the message's metadata.parley (what the
// relay adds: the caller and "via")}.
type relayEchoExecutor struct{ name string }

func (e relayEchoExecutor) Execute(ctx context.Context, reqCtx *a2asrv.RequestContext, q eventqueue.Queue) error {
	texts, data := []any{}, []any{}
	var parley any
	if m := reqCtx.Message; m != nil {
		for _, p := range m.Parts {
			switch p := p.(type) {
			case a2ago.TextPart:
				texts = append(texts, p.Text)
			case a2ago.DataPart:
				data = append(data, p.Data)
			}
		}
		parley = m.Metadata["parley"]
	}
	if reqCtx.StoredTask == nil {
		if err := q.Write(ctx, a2ago.NewSubmittedTask(reqCtx, reqCtx.Message)); err != nil {
			return err
		}
	}
	working := a2ago.NewMessageForTask(a2ago.MessageRoleAgent, reqCtx,
		a2ago.TextPart{Text: e.name + " is working on it"})
	if err := q.Write(ctx, a2ago.NewStatusUpdateEvent(reqCtx, a2ago.TaskStateWorking, working)); err != nil {
		return err
	}
	art := a2ago.NewArtifactEvent(reqCtx,
		a2ago.DataPart{Data: map[string]any{"agent": e.name, "texts": texts, "data": data, "parley": parley}},
		a2ago.TextPart{Text: e.name + " echoes what it received"})
	art.Artifact.Name = "echo"
	art.LastChunk = true
	if err := q.Write(ctx, art); err != nil {
		return err
	}
	done := a2ago.NewStatusUpdateEvent(reqCtx, a2ago.TaskStateCompleted,
		a2ago.NewMessageForTask(a2ago.MessageRoleAgent, reqCtx, a2ago.TextPart{Text: e.name + " is done"}))
	done.Final = true
	return q.Write(ctx, done)
}

func (relayEchoExecutor) Cancel(context.Context, *a2asrv.RequestContext, eventqueue.Queue) error {
	return a2ago.ErrTaskNotCancelable
}

// relayEcho1 is relayEchoExecutor on a2a-go v2 (A2A 1.0): the same events,
// the same echo.
type relayEcho1 struct{ name string }

func (e relayEcho1) Execute(_ context.Context, ec *a2asrvv1.ExecutorContext) iter.Seq2[a2av1.Event, error] {
	return func(yield func(a2av1.Event, error) bool) {
		texts, data := []any{}, []any{}
		var parley any
		if m := ec.Message; m != nil {
			for _, p := range m.Parts {
				switch c := p.Content.(type) {
				case a2av1.Text:
					texts = append(texts, string(c))
				case a2av1.Data:
					data = append(data, c.Value)
				}
			}
			parley = m.Metadata["parley"]
		}
		if ec.StoredTask == nil && !yield(a2av1.NewSubmittedTask(ec, ec.Message), nil) {
			return
		}
		working := a2av1.NewMessageForTask(a2av1.MessageRoleAgent, ec, a2av1.NewTextPart(e.name+" is working on it"))
		if !yield(a2av1.NewStatusUpdateEvent(ec, a2av1.TaskStateWorking, working), nil) {
			return
		}
		art := a2av1.NewArtifactEvent(ec,
			a2av1.NewDataPart(map[string]any{"agent": e.name, "texts": texts, "data": data, "parley": parley}),
			a2av1.NewTextPart(e.name+" echoes what it received"))
		art.Artifact.Name = "echo"
		art.LastChunk = true
		if !yield(art, nil) {
			return
		}
		done := a2av1.NewMessageForTask(a2av1.MessageRoleAgent, ec, a2av1.NewTextPart(e.name+" is done"))
		yield(a2av1.NewStatusUpdateEvent(ec, a2av1.TaskStateCompleted, done), nil)
	}
}

func (relayEcho1) Cancel(context.Context, *a2asrvv1.ExecutorContext) iter.Seq2[a2av1.Event, error] {
	return func(yield func(a2av1.Event, error) bool) { yield(nil, a2av1.ErrTaskNotCancelable) }
}
