// Package adminapi is the gateway's admin REST API: the registry of A2A
// agents under /api/v1/agents (package agentcards decides; this package
// translates HTTP to it and back), upstream MCP servers under
// /api/v1/upstreams (package upstream decides) and the audit log under
// /api/v1/audit. The wire types are in package api and the routes are
// documented in api/openapi.yaml. Client is a Go client for the same API,
// which "gateway agents" and "gateway upstreams" use.
package adminapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/api"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/store"
)

// AgentsPath is where the agent routes live.
const AgentsPath = "/api/v1/agents"

// Actions, as passed to Options.Authorize.
const (
	ActionListAgents    = "agents.list"
	ActionGetAgent      = "agents.get"
	ActionRegisterAgent = "agents.register"
	ActionReplaceAgent  = "agents.replace"
	ActionRefetchAgent  = "agents.refetch"
	ActionApproveAgent  = "agents.approve"
	ActionRemoveAgent   = "agents.remove"
)

// Errors an Authorize function returns (wrapped or not) to choose the
// status: ErrUnauthenticated answers 401, anything else 403.
var (
	ErrUnauthenticated = errors.New("authentication required")
	ErrForbidden       = errors.New("not allowed")
)

// Options tune a Handler.
type Options struct {
	Logger *slog.Logger
	// Authorize, when set, is asked before every action (one of the Action
	// constants) and may refuse it: an error wrapping ErrUnauthenticated
	// answers 401, any other error 403, with the error's text. Unset, every
	// request is allowed: the admin API must then not be reachable by
	// untrusted callers.
	Authorize func(r *http.Request, action string) error
	// MaxBodyBytes caps a request body. Default 4 MiB. (Mounted on the
	// gateway's router, the gateway's own limit applies too.)
	MaxBodyBytes int64
}

// Handler serves the agent routes.
type Handler struct {
	reg    *agentcards.Registry
	opts   Options
	log    *slog.Logger
	router chi.Router
}

// New returns a Handler over reg.
func New(reg *agentcards.Registry, opts Options) *Handler {
	opts = opts.withDefaults()
	h := &Handler{reg: reg, opts: opts, log: opts.Logger}
	h.router = standalone(h.Mount)
	return h
}

// withDefaults fills in what the zero Options leave unset.
func (opts Options) withDefaults() Options {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 4 << 20
	}
	return opts
}

// standalone is a router serving only the routes mount adds, answering
// anything else with the API's JSON errors: a handler's ServeHTTP when it
// is used on its own rather than mounted on the gateway's router.
func standalone(mount func(chi.Router)) chi.Router {
	r := chi.NewRouter()
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		gateway.WriteError(w, http.StatusNotFound, "not found: "+r.URL.Path)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		gateway.WriteError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on "+r.URL.Path)
	})
	mount(r)
	return r
}

// Mount adds the routes, at their full paths under AgentsPath, to r (the
// gateway's Router()).
func (h *Handler) Mount(r chi.Router) {
	r.Get(AgentsPath, h.list)
	r.Post(AgentsPath, h.register)
	r.Get(AgentsPath+"/{name}", h.get)
	r.Put(AgentsPath+"/{name}", h.replace)
	r.Delete(AgentsPath+"/{name}", h.remove)
	r.Post(AgentsPath+"/{name}/refetch", h.refetch)
	r.Post(AgentsPath+"/{name}/approve", h.approve)
}

// ServeHTTP serves the routes on their own, for use without the gateway's
// router.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.router.ServeHTTP(w, r) }

// allow runs the authorization seam; it answers and returns false when
// the action is refused.
func (h *Handler) allow(w http.ResponseWriter, r *http.Request, action string) bool {
	if h.opts.Authorize == nil {
		return true
	}
	err := h.opts.Authorize(r, action)
	if err == nil {
		return true
	}
	if errors.Is(err, ErrUnauthenticated) {
		gateway.WriteError(w, http.StatusUnauthorized, err.Error())
	} else {
		gateway.WriteError(w, http.StatusForbidden, err.Error())
	}
	return false
}

// nameParam is the {name} path segment, unescaped: chi matches on the
// escaped path when the request has one.
func nameParam(r *http.Request) string {
	name := chi.URLParam(r, "name")
	if r.URL.RawPath != "" {
		if u, err := url.PathUnescape(name); err == nil {
			name = u
		}
	}
	return name
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	if !h.allow(w, r, ActionListAgents) {
		return
	}
	q := r.URL.Query()
	for key := range q {
		switch key {
		case "skill", "tag", "q", "after", "limit":
		default:
			gateway.WriteError(w, http.StatusBadRequest, fmt.Sprintf("unknown query parameter %q (known: skill, tag, q, after, limit)", key))
			return
		}
	}
	query := agentcards.Query{Skill: q.Get("skill"), Tag: q.Get("tag"), Text: q.Get("q"), After: q.Get("after")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			gateway.WriteError(w, http.StatusBadRequest, fmt.Sprintf("limit: %q must be a whole number from 1 to 1000", s))
			return
		}
		query.Limit = n
	}
	agents, more, err := h.reg.List(r.Context(), query)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	out := api.AgentList{Agents: make([]api.Agent, 0, len(agents))}
	for _, a := range agents {
		out.Agents = append(out.Agents, ToAPI(a, false))
	}
	if more && len(agents) > 0 {
		out.Next = agents[len(agents)-1].Name
	}
	gateway.WriteJSON(w, http.StatusOK, out)
}

func (h *Handler) register(w http.ResponseWriter, r *http.Request) {
	if !h.allow(w, r, ActionRegisterAgent) {
		return
	}
	var in api.RegisterAgentRequest
	if !h.decode(w, r, &in, false) {
		return
	}
	a, err := h.reg.Register(r.Context(), agentcards.Registration{URL: in.URL, Card: in.Card, Name: in.Name})
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", AgentsPath+"/"+url.PathEscape(a.Name))
	gateway.WriteJSON(w, http.StatusCreated, ToAPI(a, true))
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	if !h.allow(w, r, ActionGetAgent) {
		return
	}
	a, err := h.reg.Get(r.Context(), nameParam(r))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	gateway.WriteJSON(w, http.StatusOK, ToAPI(a, true))
}

func (h *Handler) replace(w http.ResponseWriter, r *http.Request) {
	if !h.allow(w, r, ActionReplaceAgent) {
		return
	}
	var in api.ReplaceAgentRequest
	if !h.decode(w, r, &in, false) {
		return
	}
	a, err := h.reg.Replace(r.Context(), nameParam(r), agentcards.Registration{URL: in.URL, Card: in.Card})
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	gateway.WriteJSON(w, http.StatusOK, ToAPI(a, true))
}

func (h *Handler) refetch(w http.ResponseWriter, r *http.Request) {
	if !h.allow(w, r, ActionRefetchAgent) {
		return
	}
	res, err := h.reg.Refetch(r.Context(), nameParam(r))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	gateway.WriteJSON(w, http.StatusOK, api.RefetchResult{Outcome: string(res.Outcome), Changes: res.Summary, Agent: ToAPI(res.Agent, true)})
}

func (h *Handler) approve(w http.ResponseWriter, r *http.Request) {
	if !h.allow(w, r, ActionApproveAgent) {
		return
	}
	var in api.ApproveAgentRequest
	if !h.decode(w, r, &in, true) {
		return
	}
	a, err := h.reg.Approve(r.Context(), nameParam(r), in.CardHash)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	gateway.WriteJSON(w, http.StatusOK, ToAPI(a, true))
}

func (h *Handler) remove(w http.ResponseWriter, r *http.Request) {
	if !h.allow(w, r, ActionRemoveAgent) {
		return
	}
	if err := h.reg.Remove(r.Context(), nameParam(r)); err != nil {
		h.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// decode reads a JSON body into v, refusing unknown fields and trailing
// data; an empty body is allowed only when optional. It answers and
// returns false on failure.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		if gateway.WriteBodyError(w, err) {
			return false
		}
		gateway.WriteError(w, http.StatusBadRequest, "cannot read the request body: "+err.Error())
		return false
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		if optional {
			return true
		}
		gateway.WriteError(w, http.StatusBadRequest, "the request body is empty: send a JSON object")
		return false
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		gateway.WriteError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return false
	}
	if dec.More() {
		gateway.WriteError(w, http.StatusBadRequest, "invalid JSON body: more than one JSON value")
		return false
	}
	return true
}

// Status maps a registry error to its HTTP status.
func Status(err error) int {
	switch {
	case errors.Is(err, agentcards.ErrInvalid), errors.Is(err, agentcards.ErrInvalidCard):
		return http.StatusBadRequest
	case errors.Is(err, agentcards.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, agentcards.ErrExists), errors.Is(err, agentcards.ErrNoDrift),
		errors.Is(err, agentcards.ErrStalePending), errors.Is(err, agentcards.ErrNoSourceURL),
		errors.Is(err, agentcards.ErrVersionConflict):
		return http.StatusConflict
	case errors.Is(err, agentcards.ErrBlockedAddress):
		// Checked before ErrFetch: a refused dial is a refusal, not an
		// unreachable agent.
		return http.StatusUnprocessableEntity
	case errors.Is(err, agentcards.ErrFetch):
		return http.StatusBadGateway
	case errors.Is(err, store.ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := Status(err)
	msg := err.Error()
	switch {
	case status == http.StatusInternalServerError:
		h.log.ErrorContext(r.Context(), "admin API request failed", "method", r.Method, "path", r.URL.Path,
			"request_id", gateway.RequestIDFrom(r.Context()), "error", err)
		msg = "internal server error (request " + gateway.RequestIDFrom(r.Context()) + ")"
	case status == http.StatusServiceUnavailable:
		h.log.WarnContext(r.Context(), "admin API request failed", "path", r.URL.Path, "error", err)
		msg = "the store is unavailable; try again"
	case status == http.StatusUnprocessableEntity || status == http.StatusBadGateway:
		h.log.InfoContext(r.Context(), "agent request refused or failed", "path", r.URL.Path, "status", status, "error", err)
	}
	gateway.WriteError(w, status, msg)
}

// ToAPI is the wire form of an agent; full includes the card documents.
func ToAPI(a agentcards.Agent, full bool) api.Agent {
	out := api.Agent{
		Name:            a.Name,
		Version:         a.Version,
		URL:             a.Card.Endpoint,
		Transport:       a.Card.EndpointTransport,
		SourceURL:       a.SourceURL,
		Description:     a.Card.Description,
		ProtocolVersion: a.Card.ProtocolVersion,
		Skills:          make([]api.AgentSkill, 0, len(a.Card.Skills)),
		CardHash:        a.Card.Hash,
		Health:          api.AgentHealth{Status: a.Health.Status, Error: a.Health.Error},
		Drift:           a.Drift(),
		CreatedAt:       a.CreatedAt,
		UpdatedAt:       a.UpdatedAt,
	}
	for _, s := range a.Card.Skills {
		out.Skills = append(out.Skills, api.AgentSkill{ID: s.ID, Name: s.Name, Description: s.Description, Tags: s.Tags})
	}
	if !a.Health.CheckedAt.IsZero() {
		t := a.Health.CheckedAt
		out.Health.CheckedAt = &t
	}
	if full {
		out.Card = a.Card.Raw
	}
	if a.Pending != nil {
		out.Pending = &api.PendingCard{CardHash: a.Pending.Card.Hash, Summary: a.Pending.Summary, DetectedAt: a.Pending.DetectedAt}
		if full {
			out.Pending.Card = a.Pending.Card.Raw
		}
	}
	return out
}
