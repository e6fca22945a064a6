package adminapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"gopkg.in/yaml.v3"

	"github.com/parleyhq/parley/adminapi"
	"github.com/parleyhq/parley/api"
	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
)

var auditT0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

// auditServer runs the audit listing mounted on a real gateway router,
// over a fresh SQLite store holding ten records, a minute apart from
// auditT0: seq n at auditT0 + n-1 minutes.
func auditServer(t *testing.T, opts adminapi.Options) *httptest.Server {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := auditT0.Add(-time.Minute)
	log := audit.New(st, audit.Options{Now: func() time.Time { clock = clock.Add(time.Minute); return clock }})
	ctx := t.Context()
	for i := range 10 {
		e := audit.Entry{Action: audit.ActionMCPToolCall, Target: "get_ticket", Principal: audit.Principal{Subject: "alice", Client: "app"},
			Links: audit.Links{RequestID: fmt.Sprintf("req-%d", i/2), TicketID: []string{"T-1", "T-2"}[i%2]}}
		if i%3 == 2 {
			e.Action, e.Outcome, e.Principal.Subject = audit.ActionPolicyDenial, audit.Denied, "bob"
			e.Detail = map[string]string{"rule": "refunds-need-billing"}
		}
		if _, err := log.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	g, err := gateway.New(config.Default(), gateway.Deps{Store: st}, nil)
	if err != nil {
		t.Fatal(err)
	}
	adminapi.NewAudit(log, opts).Mount(g.Router())
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func decodeAudit(t *testing.T, r response) api.AuditList {
	t.Helper()
	var l api.AuditList
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	return l
}

func TestAuditAPI(t *testing.T) {
	srv := auditServer(t, adminapi.Options{})
	// Records: seq 3, 6, 9 are bob's denials; the rest alice's tool calls.
	// Odd seqs are about T-1, even about T-2.
	tests := []struct {
		query string
		want  []int64
		next  string
	}{
		{"", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, ""},
		{"?ticket=T-1", []int64{1, 3, 5, 7, 9}, ""},
		{"?principal=bob", []int64{3, 6, 9}, ""},
		{"?principal=alice&ticket=T-2", []int64{2, 4, 8, 10}, ""},
		{"?action=policy.denial&outcome=denied", []int64{3, 6, 9}, ""},
		{"?action=policy.*", []int64{3, 6, 9}, ""},
		{"?client=app&request=req-2", []int64{5, 6}, ""},
		{"?since=2026-11-21T10:05:00Z", []int64{6, 7, 8, 9, 10}, ""},
		{"?until=2026-11-21T10:02:00Z", []int64{1, 2}, ""},
		{"?since=2026-11-21T11:03:00%2B01:00&until=2026-11-21T10:06:00.000001Z", []int64{4, 5, 6, 7}, ""},
		{"?since=2026-11-21T11:03:00+01:00&until=2026-11-21T10:05:00Z", []int64{4, 5}, ""},
		{"?limit=4", []int64{1, 2, 3, 4}, "4"},
		{"?limit=4&after=4", []int64{5, 6, 7, 8}, "8"},
		{"?limit=4&after=8", []int64{9, 10}, ""},
		{"?order=desc&limit=3", []int64{10, 9, 8}, "8"},
		{"?order=desc&limit=3&after=8&ticket=T-1", []int64{7, 5, 3}, "3"},
		{"?principal=carol", []int64{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := call(t, srv, "GET", "/api/v1/audit"+tt.query, "")
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			l := decodeAudit(t, r)
			seqs := []int64{}
			for _, rec := range l.Records {
				seqs = append(seqs, rec.Seq)
			}
			if !slices.Equal(seqs, tt.want) || l.Next != tt.next {
				t.Errorf("GET %s = %v next %q; want %v next %q", tt.query, seqs, l.Next, tt.want, tt.next)
			}
			if !strings.Contains(string(r.body), `"records":[`) {
				t.Errorf("records is not a list: %s", r.body)
			}
		})
	}

	// One record in full.
	l := decodeAudit(t, call(t, srv, "GET", "/api/v1/audit?limit=1&after=2", ""))
	got := l.Records[0]
	if got.Seq != 3 || !got.At.Equal(auditT0.Add(2*time.Minute)) || got.Subject != "bob" || got.Client != "app" ||
		got.Action != audit.ActionPolicyDenial || got.Target != "get_ticket" || got.TicketID != "T-1" || got.Outcome != audit.Denied ||
		string(got.Detail) != `{"rule":"refunds-need-billing"}` || got.RequestID != "req-1" || len(got.Hash) != 64 || len(got.PrevHash) != 64 {
		t.Errorf("record 3 = %+v", got)
	}
}

func TestAuditAPIBadRequests(t *testing.T) {
	srv := auditServer(t, adminapi.Options{})
	tests := []struct {
		query, want string
	}{
		{"?who=alice", `unknown query parameter "who"`},
		{"?ticket=T-1&ticket=T-2", `"ticket" is given 2 times`},
		{"?limit=0", "limit: \"0\" must be a whole number from 1 to 1000"},
		{"?limit=1001", "limit"},
		{"?limit=ten", "limit"},
		{"?after=-1", "after: \"-1\" must be a record's seq"},
		{"?parent=x", "parent"},
		{"?since=yesterday", "since: \"yesterday\" must be an RFC 3339 time"},
		{"?until=2026-11-21", "until"},
		{"?since=2026-11-21T10:00:00Z&until=2026-11-21T10:00:00Z", "until (2026-11-21T10:00:00Z) must be after since"},
		{"?order=newest", "order: \"newest\" must be asc"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := call(t, srv, "GET", "/api/v1/audit"+tt.query, "")
			if r.status != http.StatusBadRequest || !strings.Contains(r.errText(), tt.want) {
				t.Errorf("GET %s = %d %q; want 400 mentioning %q", tt.query, r.status, r.errText(), tt.want)
			}
		})
	}
	if r := call(t, srv, "POST", "/api/v1/audit", "{}"); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST = %d, want 405", r.status)
	}
}

func TestAuditAPIAuthorize(t *testing.T) {
	var actions []string
	srv := auditServer(t, adminapi.Options{Authorize: func(r *http.Request, action string) error {
		actions = append(actions, action)
		switch r.Header.Get("Authorization") {
		case "":
			return fmt.Errorf("no token: %w", adminapi.ErrUnauthenticated)
		case "Bearer admin":
			return nil
		}
		return errors.New("the admin role is required")
	}})
	for _, tt := range []struct {
		token  string
		status int
	}{{"", http.StatusUnauthorized}, {"user", http.StatusForbidden}, {"admin", http.StatusOK}} {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/api/v1/audit", nil)
		if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("token %q: status %d, want %d", tt.token, resp.StatusCode, tt.status)
		}
	}
	if !slices.Equal(actions, []string{adminapi.ActionListAudit, adminapi.ActionListAudit, adminapi.ActionListAudit}) {
		t.Errorf("Authorize saw %v", actions)
	}
}

// failingAudit is a store.Audit whose listing fails.
type failingAudit struct{ err error }

func (f failingAudit) AppendAudit(context.Context, store.AuditRecord) (store.AuditRecord, error) {
	return store.AuditRecord{}, f.err
}
func (f failingAudit) AppendAuditBatch(context.Context, []store.AuditRecord) ([]store.AuditRecord, error) {
	return nil, f.err
}
func (f failingAudit) ListAudit(context.Context, store.AuditFilter) ([]store.AuditRecord, bool, error) {
	return nil, false, f.err
}
func (f failingAudit) AuditHead(context.Context) (store.AuditChainHead, error) {
	return store.AuditChainHead{}, f.err
}

func TestAuditAPIStoreFailures(t *testing.T) {
	for _, tt := range []struct {
		err    error
		status int
		want   string
	}{
		{fmt.Errorf("postgres store: %w", store.ErrUnavailable), http.StatusServiceUnavailable, "the store is unavailable; try again"},
		{errors.New("disk on fire"), http.StatusInternalServerError, "internal server error (request "},
	} {
		srv := httptest.NewServer(adminapi.NewAudit(audit.New(failingAudit{tt.err}, audit.Options{}), adminapi.Options{}))
		r := call(t, srv, "GET", "/api/v1/audit", "")
		srv.Close()
		if r.status != tt.status || !strings.HasPrefix(r.errText(), tt.want) || strings.Contains(r.errText(), "fire") {
			t.Errorf("%v: %d %q; want %d %q", tt.err, r.status, r.errText(), tt.status, tt.want)
		}
	}
}

// A client can verify the chain from the listing alone, page after page.
func TestAuditAPIListingVerifies(t *testing.T) {
	srv := auditServer(t, adminapi.Options{})
	c, err := adminapi.NewClient(srv.URL, adminapi.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var all []api.AuditRecord
	q := adminapi.AuditQuery{Limit: 3}
	for {
		page, err := c.ListAudit(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Records...)
		if page.Next == "" {
			break
		}
		q.After = page.Records[len(page.Records)-1].Seq
	}
	if len(all) != 10 {
		t.Fatalf("listed %d records, want 10", len(all))
	}
	prev := ""
	for _, rec := range all {
		r := adminapi.AuditFromAPI(rec)
		if r.PrevHash != prev || store.AuditHash(r) != r.Hash {
			t.Errorf("record %d does not verify from its listing: %+v", rec.Seq, rec)
		}
		prev = r.Hash
	}
	// The client's other filters reach the server.
	page, err := c.ListAudit(t.Context(), adminapi.AuditQuery{Principal: "bob", Since: auditT0.Add(3 * time.Minute), Newest: true, Limit: 1})
	if err != nil || len(page.Records) != 1 || page.Records[0].Seq != 9 || page.Next != "9" {
		t.Errorf("ListAudit(bob, since, newest) = %+v, %v", page, err)
	}
	if _, err := c.ListAudit(t.Context(), adminapi.AuditQuery{Limit: 5000}); !adminapi.IsStatus(err, http.StatusBadRequest) {
		t.Errorf("ListAudit with a bad limit = %v, want HTTP 400", err)
	}
}

func TestAuditRouteIsDocumented(t *testing.T) {
	data, err := os.ReadFile("../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	r := chi.NewRouter()
	adminapi.NewAudit(nil, adminapi.Options{}).Mount(r)
	routes := 0
	err = chi.Walk(r, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routes++
		node, ok := doc.Paths[route][strings.ToLower(method)]
		if !ok {
			t.Errorf("%s %s is not in openapi.yaml", method, route)
			return nil
		}
		var op struct {
			Parameters []struct {
				Name string `yaml:"name"`
			} `yaml:"parameters"`
			Responses map[string]any `yaml:"responses"`
		}
		if err := node.Decode(&op); err != nil {
			t.Fatalf("%s %s: %v", method, route, err)
		}
		for _, status := range []string{"200", "400", "401", "403", "503"} {
			if _, ok := op.Responses[status]; !ok {
				t.Errorf("%s %s: status %s is not documented", method, route, status)
			}
		}
		var params []string
		for _, p := range op.Parameters {
			params = append(params, p.Name)
		}
		for _, p := range []string{"ticket", "principal", "client", "action", "outcome", "parent", "request", "task", "negotiation", "since", "until", "order", "after", "limit"} {
			if !slices.Contains(params, p) {
				t.Errorf("%s %s: parameter %s is not documented", method, route, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if routes != 1 {
		t.Errorf("mounted %d routes, want 1", routes)
	}
}
