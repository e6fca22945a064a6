package a2a_test

import (
	"path/filepath"
	"strings"
	"testing"

	a2ago "github.com/a2aproject/a2a-go/a2a"

	"github.com/parleyhq/parley/a2a"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/agentcards/agentcardstest"
	"github.com/parleyhq/parley/store/sqlite"
)

func TestClientPool(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := agentcards.New(st, agentcards.Options{AllowPrivate: true, HealthInterval: -1})
	peer := agentcardstest.NewPeer(t, "billing", agentcardstest.Skill("refunds", "Refunds"))
	if _, err := reg.Register(ctx, agentcards.Registration{URL: peer.URL()}); err != nil {
		t.Fatal(err)
	}
	pool := a2a.NewClientPool(reg, reg.Guard().Transport())
	defer pool.Close()

	client, agent, err := pool.Client(ctx, "BILLING")
	if err != nil || agent.Name != "billing" {
		t.Fatalf("Client = %v, %+v", err, agent)
	}
	again, _, err := pool.Client(ctx, "billing")
	if err != nil || again != client {
		t.Errorf("the same card gives a new client (%v)", err)
	}
	res, err := client.SendMessage(ctx, &a2ago.MessageSendParams{Message: a2ago.NewMessage(a2ago.MessageRoleUser, a2ago.TextPart{Text: "refund 350"})})
	if err != nil {
		t.Fatal(err)
	}
	msg, ok := res.(*a2ago.Message)
	if !ok || len(msg.Parts) == 0 || !strings.Contains(msg.Parts[0].(a2ago.TextPart).Text, "billing echoes: refund 350") {
		t.Errorf("reply = %#v", res)
	}
	if _, _, err := pool.Client(ctx, "nobody"); err == nil {
		t.Error("a client for an unregistered agent")
	}
}
