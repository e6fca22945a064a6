package adminapi

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"

	"github.com/go-chi/chi/v5"

	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/api"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/upstream"
)

// UpstreamsPath is where the routes of upstream MCP servers live.
const UpstreamsPath = "/api/v1/upstreams"

// Actions on upstreams, as passed to Options.Authorize.
const (
	ActionListUpstreams    = "upstreams.list"
	ActionGetUpstream      = "upstreams.get"
	ActionRegisterUpstream = "upstreams.register"
	ActionRemoveUpstream   = "upstreams.remove"
	ActionApproveUpstream  = "upstreams.approve"
)

// UpstreamStatuses reports the state of upstreams' connections on this
// replica; the upstream Manager is one.
type UpstreamStatuses interface {
	Status(name string) (upstream.Status, bool)
}

// UpstreamsHandler serves the routes of upstream MCP servers under
// UpstreamsPath (package upstream decides; this translates). It shares
// Options (and so the Authorize seam) with the agent routes' Handler.
type UpstreamsHandler struct {
	reg    *upstream.Registry
	status UpstreamStatuses
	base   *Handler // for the authorization seam, body decoding and logging
	router chi.Router
}

// NewUpstreams returns a handler over reg. status may be nil: answers
// then carry no connection status. (Pass a nil interface, not a nil
// pointer in one.)
func NewUpstreams(reg *upstream.Registry, status UpstreamStatuses, opts Options) *UpstreamsHandler {
	opts = opts.withDefaults()
	h := &UpstreamsHandler{reg: reg, status: status, base: &Handler{opts: opts, log: opts.Logger}}
	h.router = standalone(h.Mount)
	return h
}

// Mount adds the routes, at their full paths under UpstreamsPath, to r
// (the gateway's Router()).
func (h *UpstreamsHandler) Mount(r chi.Router) {
	r.Get(UpstreamsPath, h.list)
	r.Post(UpstreamsPath, h.register)
	r.Get(UpstreamsPath+"/{name}", h.get)
	r.Delete(UpstreamsPath+"/{name}", h.remove)
	r.Post(UpstreamsPath+"/{name}/approve", h.approve)
}

// ServeHTTP serves the routes on their own, for use without the gateway's
// router.
func (h *UpstreamsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.router.ServeHTTP(w, r)
}

func (h *UpstreamsHandler) list(w http.ResponseWriter, r *http.Request) {
	if !h.base.allow(w, r, ActionListUpstreams) {
		return
	}
	for key := range r.URL.Query() {
		gateway.WriteError(w, http.StatusBadRequest, fmt.Sprintf("unknown query parameter %q (the listing takes none)", key))
		return
	}
	all, err := h.reg.List(r.Context())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	out := api.UpstreamList{Upstreams: make([]api.Upstream, 0, len(all))}
	for _, u := range all {
		out.Upstreams = append(out.Upstreams, h.toAPI(u, nil))
	}
	gateway.WriteJSON(w, http.StatusOK, out)
}

func (h *UpstreamsHandler) register(w http.ResponseWriter, r *http.Request) {
	if !h.base.allow(w, r, ActionRegisterUpstream) {
		return
	}
	var in api.RegisterUpstreamRequest
	if !h.base.decode(w, r, &in, false) {
		return
	}
	u, err := h.reg.Add(r.Context(), SpecFromAPI(in))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", upstreamPath(u.Spec.Name))
	gateway.WriteJSON(w, http.StatusCreated, h.toAPI(u, nil))
}

func (h *UpstreamsHandler) get(w http.ResponseWriter, r *http.Request) {
	if !h.base.allow(w, r, ActionGetUpstream) {
		return
	}
	out, err := h.detail(r.Context(), nameParam(r))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	gateway.WriteJSON(w, http.StatusOK, out)
}

// detail is an upstream with its status and drifted tools.
func (h *UpstreamsHandler) detail(ctx context.Context, name string) (api.Upstream, error) {
	u, err := h.reg.Get(ctx, name)
	if err != nil {
		return api.Upstream{}, err
	}
	drift, err := h.reg.Drifted(ctx, name)
	if err != nil {
		return api.Upstream{}, err
	}
	return h.toAPI(u, drift), nil
}

func (h *UpstreamsHandler) remove(w http.ResponseWriter, r *http.Request) {
	if !h.base.allow(w, r, ActionRemoveUpstream) {
		return
	}
	if err := h.reg.Remove(r.Context(), nameParam(r)); err != nil {
		h.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *UpstreamsHandler) approve(w http.ResponseWriter, r *http.Request) {
	if !h.base.allow(w, r, ActionApproveUpstream) {
		return
	}
	var in api.ApproveUpstreamRequest
	if !h.base.decode(w, r, &in, true) {
		return
	}
	name := nameParam(r)
	approved, err := h.reg.Approve(r.Context(), name, in.Tools)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	out, err := h.detail(r.Context(), name)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	gateway.WriteJSON(w, http.StatusOK, api.ApproveUpstreamResult{Approved: approved, Upstream: out})
}

// UpstreamStatus maps a registry error to its HTTP status.
func UpstreamStatus(err error) int {
	switch {
	case errors.Is(err, upstream.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, upstream.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, upstream.ErrExists), errors.Is(err, upstream.ErrConflict), errors.Is(err, upstream.ErrConfigOwned),
		errors.Is(err, store.ErrVersionConflict):
		return http.StatusConflict
	case errors.Is(err, agentcards.ErrBlockedAddress), errors.Is(err, agentcards.ErrUnresolvable):
		// As for agents: a URL Parley refuses to reach, not a malformed one.
		return http.StatusUnprocessableEntity
	case errors.Is(err, store.ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (h *UpstreamsHandler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := UpstreamStatus(err)
	msg := err.Error()
	switch status {
	case http.StatusInternalServerError:
		h.base.log.ErrorContext(r.Context(), "admin API request failed", "method", r.Method, "path", r.URL.Path,
			"request_id", gateway.RequestIDFrom(r.Context()), "error", err)
		msg = "internal server error (request " + gateway.RequestIDFrom(r.Context()) + ")"
	case http.StatusServiceUnavailable:
		h.base.log.WarnContext(r.Context(), "admin API request failed", "path", r.URL.Path, "error", err)
		msg = "the store is unavailable; try again"
	case http.StatusUnprocessableEntity, http.StatusConflict:
		h.base.log.InfoContext(r.Context(), "upstream request refused", "path", r.URL.Path, "status", status, "error", err)
	}
	gateway.WriteError(w, status, msg)
}

func upstreamPath(name string) string { return UpstreamsPath + "/" + url.PathEscape(name) }

// SpecFromAPI is the spec a registration asks for.
func SpecFromAPI(in api.RegisterUpstreamRequest) upstream.Spec {
	spec := upstream.Spec{
		Name: in.Name, URL: in.URL, Command: in.Command, Env: in.Env, Dir: in.Dir,
		Prefix: upstream.Prefix(in.Prefix), Allow: in.Allow, Deny: in.Deny,
	}
	if c := in.Credentials; c != nil {
		spec.Credentials = &upstream.Credentials{BearerTokenFile: c.BearerTokenFile, BearerTokenEnv: c.BearerTokenEnv}
		if cc := c.ClientCredentials; cc != nil {
			spec.Credentials.ClientCredentials = &upstream.ClientCredentials{
				TokenURL: cc.TokenURL, ClientID: cc.ClientID, ClientSecretFile: cc.ClientSecretFile, ClientSecretEnv: cc.ClientSecretEnv,
				Scopes: cc.Scopes, Audience: cc.Audience,
			}
		}
	}
	return spec
}

// toAPI is the wire form of an upstream, with this replica's status of
// its connection when known, and its drifted tools when given.
func (h *UpstreamsHandler) toAPI(u upstream.Upstream, drift []upstream.Drift) api.Upstream {
	s := u.Spec
	out := api.Upstream{
		Name: s.Name, Version: u.Version, Kind: s.Kind(), URL: s.URL, Command: s.Command,
		EnvNames: slices.Sorted(maps.Keys(s.Env)), Dir: s.Dir, Prefix: string(s.Normalized().Prefix),
		Allow: s.Allow, Deny: s.Deny, Source: u.Source, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt,
	}
	if c := s.Credentials; c != nil {
		out.Credentials = &api.UpstreamCredentials{BearerTokenFile: c.BearerTokenFile, BearerTokenEnv: c.BearerTokenEnv}
		if cc := c.ClientCredentials; cc != nil {
			out.Credentials.ClientCredentials = &api.UpstreamClientCredentials{
				TokenURL: cc.TokenURL, ClientID: cc.ClientID, ClientSecretFile: cc.ClientSecretFile, ClientSecretEnv: cc.ClientSecretEnv,
				Scopes: cc.Scopes, Audience: cc.Audience,
			}
		}
	}
	if h.status != nil {
		if st, ok := h.status.Status(s.Name); ok {
			out.Status = &api.UpstreamStatus{Healthy: st.Healthy, Generation: st.Generation, LastError: st.LastError, Since: st.Since,
				Tools: st.Tools, HeldBack: st.HeldBack, Prompts: st.Prompts}
		}
	}
	for _, d := range drift {
		out.Drift = append(out.Drift, api.DriftedTool{Tool: d.Tool, Exposed: d.Exposed, ApprovedHash: d.ApprovedHash, SeenHash: d.SeenHash, DetectedAt: d.DetectedAt})
	}
	return out
}
