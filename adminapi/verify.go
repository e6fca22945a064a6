package adminapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/parleyhq/parley/api"
	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/gateway"
)

// AuditVerifyPath answers the result of verifying the audit chain.
const AuditVerifyPath = AuditPath + "/verify"

// ActionVerifyAudit is the Authorize action of verifying the audit chain.
const ActionVerifyAudit = "audit.verify"

// AuditVerifyHandler serves GET /api/v1/audit/verify: the chain walked
// from its first record, as "gateway audit verify" does. A walk reads the
// whole log, so one runs at a time; others wait their turn (or give up
// when their request ends).
type AuditVerifyHandler struct {
	log    *audit.Log
	base   *Handler
	turn   chan struct{}
	router chi.Router
}

// NewAuditVerify returns the verification route over l.
func NewAuditVerify(l *audit.Log, opts Options) *AuditVerifyHandler {
	opts = opts.withDefaults()
	h := &AuditVerifyHandler{log: l, base: &Handler{opts: opts, log: opts.Logger}, turn: make(chan struct{}, 1)}
	h.router = standalone(h.Mount)
	return h
}

// Mount adds the route, at its full path, to r.
func (h *AuditVerifyHandler) Mount(r chi.Router) { r.Get(AuditVerifyPath, h.verify) }

// ServeHTTP serves the route on its own.
func (h *AuditVerifyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.router.ServeHTTP(w, r)
}

func (h *AuditVerifyHandler) verify(w http.ResponseWriter, r *http.Request) {
	if !h.base.allow(w, r, ActionVerifyAudit) {
		return
	}
	if len(r.URL.Query()) > 0 {
		gateway.WriteError(w, http.StatusBadRequest, "the verification takes no query parameters")
		return
	}
	select {
	case h.turn <- struct{}{}:
		defer func() { <-h.turn }()
	case <-r.Context().Done():
		return
	}
	res, err := h.log.Verify(r.Context())
	if err != nil {
		h.base.writeError(w, r, err)
		return
	}
	gateway.WriteJSON(w, http.StatusOK, api.AuditVerification{OK: res.OK, Records: res.Records, FirstBad: res.FirstBad,
		Problem: string(res.Problem), Summary: res.String(), Pending: res.Pending})
}
