package mcpbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/negotiation"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/workspace"
)

const (
	ticketScheme = "ticket://"
	statusURI    = "status://pipeline"
)

func ticketURI(id string) string { return ticketScheme + id }

// ticketResource is what ticket://{id} reads: the ticket with every
// namespace's analysis and its history.
type ticketResource struct {
	Ticket   workspace.Ticket     `json:"ticket"`
	Analyses []analysisOut        `json:"analyses"`
	History  []store.HistoryEntry `json:"history"`
}

func (b *Bridge) addResources() {
	b.server.AddResourceTemplate(&mcp.ResourceTemplate{
		Name:        "ticket",
		Title:       "Support ticket",
		URITemplate: "ticket://{id}",
		Description: "A support ticket as JSON, with every agent's analysis and the history of changes. Subscribe to hear of every change, from any agent or replica.",
		MIMEType:    "application/json",
	}, b.readTicket)
	b.server.AddResource(&mcp.Resource{
		Name:        "pipeline-status",
		Title:       "Pipeline status",
		URI:         statusURI,
		Description: "Counts of tickets by status and of open tasks in the queue.",
		MIMEType:    "application/json",
	}, b.readStatus)
	if b.opts.Negotiations != nil {
		b.server.AddResourceTemplate(&mcp.ResourceTemplate{
			Name:        "negotiation",
			Title:       "Negotiation between agents",
			URITemplate: "negotiation://{id}",
			Description: "A negotiation as JSON: its outcome first (status, decision, terms, rounds, reason, decided_by), then its state, " +
				"every move and the full transcript of turns sent and replies, with times. Subscribe to hear of every move.",
			MIMEType: "application/json",
		}, b.readNegotiation)
	}
}

func (b *Bridge) readTicket(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	uri := req.Params.URI
	id, ok := strings.CutPrefix(uri, ticketScheme)
	if !ok || id == "" {
		return nil, mcp.ResourceNotFoundError(uri)
	}
	res, err := b.ticketResource(ctx, id)
	if errors.Is(err, workspace.ErrNotFound) || errors.Is(err, workspace.ErrInvalid) {
		return nil, mcp.ResourceNotFoundError(uri)
	}
	if err != nil {
		return nil, err
	}
	return jsonResource(uri, res)
}

func (b *Bridge) ticketResource(ctx context.Context, id string) (ticketResource, error) {
	t, err := b.ws.GetTicket(ctx, id)
	if err != nil {
		return ticketResource{}, err
	}
	analyses, err := b.ws.AllAnalysis(ctx, id)
	if err != nil {
		return ticketResource{}, err
	}
	history, err := b.ws.History(ctx, id)
	if err != nil {
		return ticketResource{}, err
	}
	return ticketResource{Ticket: t, Analyses: toAnalysisOut(analyses), History: history}, nil
}

func (b *Bridge) readStatus(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	st, err := b.ws.Status(ctx)
	if err != nil {
		return nil, err
	}
	return jsonResource(req.Params.URI, st)
}

func jsonResource(uri string, v any) (*mcp.ReadResourceResult, error) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: uri, MIMEType: "application/json", Text: string(data)}}}, nil
}

// subscribe accepts subscriptions to resources that exist; the SDK keeps
// the subscriber list and Run feeds it changes. With sessions in the store,
// a session's subscriptions to Parley's own resources are kept there too
// (subscriptions.go).
func (b *Bridge) subscribe(ctx context.Context, req *mcp.SubscribeRequest) error {
	if b.fed != nil && req.Params.URI != statusURI {
		if handled, err := b.fed.subscribe(ctx, req.Params.URI); handled {
			return err
		}
	}
	if err := b.subscribeOwn(ctx, req); err != nil || b.subs == nil {
		return err
	}
	return b.subs.subscribed(ctx, req)
}

// subscribeOwn accepts subscriptions to Parley's own resources that exist.
func (b *Bridge) subscribeOwn(ctx context.Context, req *mcp.SubscribeRequest) error {
	uri := req.Params.URI
	if uri == statusURI {
		return nil
	}
	if id, ok := strings.CutPrefix(uri, negotiationScheme); ok && b.opts.Negotiations != nil {
		if _, err := b.opts.Negotiations.Get(ctx, id); err != nil {
			if errors.Is(err, negotiation.ErrNotFound) || errors.Is(err, negotiation.ErrInvalid) {
				return mcp.ResourceNotFoundError(uri)
			}
			return err
		}
		return nil
	}
	id, ok := strings.CutPrefix(uri, ticketScheme)
	if !ok {
		if b.opts.Negotiations != nil {
			return fmt.Errorf("cannot subscribe to %q: subscribable resources are ticket://{id}, negotiation://{id} and %s", uri, statusURI)
		}
		return fmt.Errorf("cannot subscribe to %q: subscribable resources are ticket://{id} and %s", uri, statusURI)
	}
	if _, err := b.ws.GetTicket(ctx, id); err != nil {
		if errors.Is(err, workspace.ErrNotFound) || errors.Is(err, workspace.ErrInvalid) {
			return mcp.ResourceNotFoundError(uri)
		}
		return err
	}
	return nil
}

// ticketLink points a tool result at the ticket's resource.
func ticketLink(t workspace.Ticket) *mcp.ResourceLink {
	return &mcp.ResourceLink{
		URI:         ticketURI(t.ID),
		Name:        t.ID,
		Title:       "Ticket " + t.ID,
		Description: fmt.Sprintf("%s ticket of %s, %s (version %d)", orDash(t.Category), orDash(t.Customer), t.Status, t.Version),
		MIMEType:    "application/json",
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// unsubscribe drops an upstream resource's subscription with its last
// subscriber; Parley's own resources need nothing (the SDK keeps the
// subscriber lists).
func (b *Bridge) unsubscribe(ctx context.Context, req *mcp.UnsubscribeRequest) error {
	if b.fed != nil {
		if handled, err := b.fed.unsubscribe(ctx, req.Params.URI); handled {
			return err
		}
	}
	if b.subs != nil {
		return b.subs.unsubscribed(ctx, req)
	}
	return nil
}
