package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/parleyhq/parley/adminapi"
	"github.com/parleyhq/parley/api"
	"github.com/parleyhq/parley/examples/agents"
)

// startAgents starts the three example agents, real A2A servers on
// loopback, registers them with the gateway at gatewayURL through its
// admin API, and prints each. stop stops those started, also when
// startAgents fails.
func (d *demo) startAgents(ctx context.Context, gatewayURL string) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, s := range stops {
			s()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	admin, err := adminapi.NewClient(gatewayURL, adminapi.ClientOptions{HTTPClient: &http.Client{Transport: d.transport, Timeout: time.Minute}})
	if err != nil {
		return nil, fail("admin API client", err)
	}
	agentLog := d.log.With("component", "demo-agents")
	for _, role := range agents.Roles {
		// The agents end when stop is called, whatever ctx does: stop
		// is the one way they end, once the pipeline is done with them.
		agentURL, stopAgent, err := agents.Start(context.WithoutCancel(ctx), "127.0.0.1:0", role, agents.Options{Delay: d.think, Logger: agentLog})
		if err != nil {
			return nil, fail("start the "+string(role)+" agent", err)
		}
		stops = append(stops, stopAgent)
		a, err := registerAgent(ctx, d.http, admin, agentURL)
		if err != nil {
			return nil, fail("register the "+string(role)+" agent", err)
		}
		d.out.kv(a.Name, describeAgent(agentURL, a))
	}
	return stop, nil
}

// describeAgent says where a registered agent is, its health, its skills
// and whether it speaks the negotiation extension.
func describeAgent(agentURL string, a api.Agent) string {
	var skills []string
	for _, s := range a.Skills {
		skills = append(skills, s.Name)
	}
	desc := agentURL + "  " + a.Health.Status + "; skill: " + strings.Join(skills, ", ")
	if speaksNegotiation(a.Card) {
		desc += "; speaks " + agents.ExtensionURI
	}
	return desc
}

// registerAgent registers the agent at url through the admin API; an agent
// of the same name left in a kept store is pointed at url instead.
func registerAgent(ctx context.Context, hc *http.Client, admin *adminapi.Client, agentURL string) (api.Agent, error) {
	a, err := admin.Register(ctx, api.RegisterAgentRequest{URL: agentURL})
	if adminapi.IsStatus(err, http.StatusConflict) {
		// Left by an earlier run on a kept store: the name comes from
		// the card, so read it to know which agent to point at url.
		var card struct {
			Name string `json:"name"`
		}
		if cerr := getJSON(ctx, hc, agentURL+".well-known/agent-card.json", &card); cerr != nil {
			return api.Agent{}, errors.Join(err, cerr)
		}
		return admin.Replace(ctx, card.Name, api.ReplaceAgentRequest{URL: agentURL})
	}
	return a, err
}

func getJSON(ctx context.Context, hc *http.Client, target string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", target, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// speaksNegotiation reports whether a card declares the negotiation
// extension.
func speaksNegotiation(card json.RawMessage) bool {
	var c struct {
		Capabilities struct {
			Extensions []struct {
				URI string `json:"uri"`
			} `json:"extensions"`
		} `json:"capabilities"`
	}
	_ = json.Unmarshal(card, &c)
	return slices.ContainsFunc(c.Capabilities.Extensions, func(x struct {
		URI string `json:"uri"`
	}) bool {
		return x.URI == agents.ExtensionURI
	})
}
