// Package agentcardstest runs real a2a-go agents on loopback for tests:
// an A2A 0.3 JSON-RPC server at the root and its card at the well-known
// path, with a card that can be swapped mid-test (to make it drift).
package agentcardstest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"
)

// EchoExecutor answers every message with "<Name> echoes: <text>".
type EchoExecutor struct{ Name string }

// Execute implements a2asrv.AgentExecutor.
func (e EchoExecutor) Execute(ctx context.Context, reqCtx *a2asrv.RequestContext, queue eventqueue.Queue) error {
	text := ""
	if reqCtx.Message != nil {
		for _, p := range reqCtx.Message.Parts {
			if tp, ok := p.(a2a.TextPart); ok {
				text += tp.Text
			}
		}
	}
	return queue.Write(ctx, a2a.NewMessage(a2a.MessageRoleAgent, a2a.TextPart{Text: e.Name + " echoes: " + text}))
}

// Cancel implements a2asrv.AgentExecutor.
func (EchoExecutor) Cancel(context.Context, *a2asrv.RequestContext, eventqueue.Queue) error {
	return nil
}

// Peer is an a2a-go agent on loopback.
type Peer struct {
	Server *httptest.Server
	card   atomic.Pointer[http.Handler]
	// CardRequests counts requests for the card.
	CardRequests atomic.Int64
}

// NewPeer starts an echo agent named name with the given skills, serving
// Card03(name, its URL, skills...). It stops when the test ends.
func NewPeer(t testing.TB, name string, skills ...a2a.AgentSkill) *Peer {
	t.Helper()
	return NewPeerWith(t, name, EchoExecutor{Name: name}, skills...)
}

// NewPeerWith is NewPeer with an executor of the test's own.
func NewPeerWith(t testing.TB, name string, exec a2asrv.AgentExecutor, skills ...a2a.AgentSkill) *Peer {
	t.Helper()
	p := &Peer{}
	mux := http.NewServeMux()
	mux.Handle(a2asrv.WellKnownAgentCardPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.CardRequests.Add(1)
		(*p.card.Load()).ServeHTTP(w, r)
	}))
	mux.Handle("/", a2asrv.NewJSONRPCHandler(a2asrv.NewHandler(exec)))
	p.Server = httptest.NewServer(mux)
	t.Cleanup(p.Server.Close)
	p.Serve(Card03(name, p.URL()+"/", skills...))
	return p
}

// URL is the agent's base URL (no trailing slash).
func (p *Peer) URL() string { return p.Server.URL }

// Serve makes the peer serve c as its card from now on.
func (p *Peer) Serve(c *a2a.AgentCard) {
	h := a2asrv.NewStaticAgentCardHandler(c)
	p.card.Store(&h)
}

// Stop stops the agent: connections to it are refused from now on.
func (p *Peer) Stop() { p.Server.Close() }

// Card03 is a valid A2A 0.3 card for an agent at url (its JSON-RPC
// endpoint), with protocolVersion 0.3.0 set as a2a-go needs.
func Card03(name, url string, skills ...a2a.AgentSkill) *a2a.AgentCard {
	return &a2a.AgentCard{
		Name:               name,
		Description:        name + ", a test agent",
		URL:                url,
		PreferredTransport: a2a.TransportProtocolJSONRPC,
		ProtocolVersion:    "0.3.0",
		Version:            "1.0.0",
		Capabilities:       a2a.AgentCapabilities{Streaming: true},
		DefaultInputModes:  []string{"text/plain"},
		DefaultOutputModes: []string{"text/plain"},
		Skills:             skills,
	}
}

// Skill is a skill with a description and tags.
func Skill(id, name string, tags ...string) a2a.AgentSkill {
	return a2a.AgentSkill{ID: id, Name: name, Description: name + " for customers", Tags: tags}
}
