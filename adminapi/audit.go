package adminapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/parleyhq/parley/api"
	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/store"
)

// AuditPath is where the audit log listing lives.
const AuditPath = "/api/v1/audit"

// ActionListAudit is the Authorize action of listing the audit log.
const ActionListAudit = "audit.list"

// AuditHandler serves GET /api/v1/audit, the audit log listing. It shares
// Options (and so the Authorize seam) with the agent routes' Handler.
type AuditHandler struct {
	log    *audit.Log
	base   *Handler // for the authorization seam and error answers
	router chi.Router
}

// NewAudit returns a handler listing l's records.
func NewAudit(l *audit.Log, opts Options) *AuditHandler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &AuditHandler{log: l, base: &Handler{opts: opts, log: opts.Logger}}
	r := chi.NewRouter()
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		gateway.WriteError(w, http.StatusNotFound, "not found: "+r.URL.Path)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		gateway.WriteError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on "+r.URL.Path)
	})
	h.Mount(r)
	h.router = r
	return h
}

// Mount adds the route, at its full path, to r (the gateway's Router()).
func (h *AuditHandler) Mount(r chi.Router) {
	r.Get(AuditPath, h.list)
}

// ServeHTTP serves the route on its own, for use without the gateway's
// router.
func (h *AuditHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.router.ServeHTTP(w, r) }

// auditParams are the query parameters of the listing.
var auditParams = []string{"ticket", "principal", "client", "action", "outcome", "parent", "request", "task", "negotiation",
	"since", "until", "order", "after", "limit"}

func (h *AuditHandler) list(w http.ResponseWriter, r *http.Request) {
	if !h.base.allow(w, r, ActionListAudit) {
		return
	}
	f, err := auditFilter(r.URL.Query())
	if err != nil {
		gateway.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	recs, more, err := h.log.List(r.Context(), f)
	if err != nil {
		h.base.writeError(w, r, err)
		return
	}
	out := api.AuditList{Records: make([]api.AuditRecord, 0, len(recs))}
	for _, rec := range recs {
		out.Records = append(out.Records, AuditToAPI(rec))
	}
	if more && len(recs) > 0 {
		out.Next = strconv.FormatInt(recs[len(recs)-1].Seq, 10)
	}
	gateway.WriteJSON(w, http.StatusOK, out)
}

// auditFilter reads the listing's query parameters.
func auditFilter(q url.Values) (store.AuditFilter, error) {
	for key, values := range q {
		if !slices.Contains(auditParams, key) {
			return store.AuditFilter{}, fmt.Errorf("unknown query parameter %q (known: %s)", key, strings.Join(auditParams, ", "))
		}
		if len(values) > 1 {
			return store.AuditFilter{}, fmt.Errorf("query parameter %q is given %d times; give it once", key, len(values))
		}
	}
	f := store.AuditFilter{
		TicketID: q.Get("ticket"), Subject: q.Get("principal"), Client: q.Get("client"), Action: q.Get("action"),
		Outcome: q.Get("outcome"), RequestID: q.Get("request"), TaskID: q.Get("task"), NegotiationID: q.Get("negotiation"),
		Limit: 100,
	}
	positive := func(name string, max int64) (int64, error) {
		s := q.Get(name)
		if s == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 || n > max {
			if max == 1<<63-1 {
				return 0, fmt.Errorf("%s: %q must be a record's seq, a whole number from 1", name, s)
			}
			return 0, fmt.Errorf("%s: %q must be a whole number from 1 to %d", name, s, max)
		}
		return n, nil
	}
	var err error
	if f.Parent, err = positive("parent", 1<<63-1); err != nil {
		return f, err
	}
	if f.After, err = positive("after", 1<<63-1); err != nil {
		return f, err
	}
	if n, err := positive("limit", 1000); err != nil {
		return f, err
	} else if n > 0 {
		f.Limit = int(n)
	}
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		s := q.Get(p.name)
		if s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil && strings.Contains(s, " ") {
			// An unescaped + in the query decodes as a space.
			t, err = time.Parse(time.RFC3339Nano, strings.ReplaceAll(s, " ", "+"))
		}
		if err != nil {
			return f, fmt.Errorf("%s: %q must be an RFC 3339 time such as 2026-11-21T10:00:00Z", p.name, s)
		}
		*p.t = t
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return f, fmt.Errorf("until (%s) must be after since (%s)", q.Get("until"), q.Get("since"))
	}
	switch q.Get("order") {
	case "", "asc":
	case "desc":
		f.Newest = true
	default:
		return f, fmt.Errorf("order: %q must be asc (oldest first, the default) or desc (newest first)", q.Get("order"))
	}
	return f, nil
}

// AuditToAPI is the wire form of an audit record.
func AuditToAPI(r store.AuditRecord) api.AuditRecord {
	return api.AuditRecord{
		Seq: r.Seq, At: r.At.UTC(), Subject: r.Subject, Client: r.Client, Action: r.Action, Target: r.Target,
		TicketID: r.TicketID, Outcome: r.Outcome, Detail: r.Detail, Parent: r.Parent, RequestID: r.RequestID,
		TaskID: r.TaskID, NegotiationID: r.NegotiationID, PrevHash: r.PrevHash, Hash: r.Hash,
	}
}

// AuditFromAPI is AuditToAPI's inverse, for a client that verifies what it
// listed (store.AuditHash of the result is the record's hash).
func AuditFromAPI(r api.AuditRecord) store.AuditRecord {
	return store.AuditRecord{
		Seq: r.Seq, At: r.At, Subject: r.Subject, Client: r.Client, Action: r.Action, Target: r.Target,
		TicketID: r.TicketID, Outcome: r.Outcome, Detail: r.Detail, Parent: r.Parent, RequestID: r.RequestID,
		TaskID: r.TaskID, NegotiationID: r.NegotiationID, PrevHash: r.PrevHash, Hash: r.Hash,
	}
}

// AuditQuery selects audit records; see GET /api/v1/audit.
type AuditQuery struct {
	Ticket, Principal, Client, Action, Outcome string
	Request, Task, Negotiation                 string
	Parent                                     int64
	Since, Until                               time.Time
	Newest                                     bool
	After                                      int64
	Limit                                      int
}

// ListAudit returns one page of audit records.
func (c *Client) ListAudit(ctx context.Context, q AuditQuery) (api.AuditList, error) {
	v := url.Values{}
	for k, s := range map[string]string{"ticket": q.Ticket, "principal": q.Principal, "client": q.Client, "action": q.Action,
		"outcome": q.Outcome, "request": q.Request, "task": q.Task, "negotiation": q.Negotiation} {
		if s != "" {
			v.Set(k, s)
		}
	}
	for k, n := range map[string]int64{"parent": q.Parent, "after": q.After, "limit": int64(q.Limit)} {
		if n > 0 {
			v.Set(k, strconv.FormatInt(n, 10))
		}
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.UTC().Format(time.RFC3339Nano))
	}
	if q.Newest {
		v.Set("order", "desc")
	}
	var out api.AuditList
	err := c.do(ctx, http.MethodGet, AuditPath, v, nil, &out)
	return out, err
}
