package audit_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/audit/audittest"
	"github.com/parleyhq/parley/store"
)

// The HTTP middleware commits a WithWrite entry's record with the
// request's first write (the Log here never runs: the record waits in
// the outbox), records a request that failed after its write a second
// time, and one that wrote nothing after it, as any other.
func TestMiddlewareCommitsWithTheWrite(t *testing.T) {
	type rec struct {
		Action, Target, Outcome string
		Detail                  map[string]string
	}
	for _, tt := range []struct {
		name      string
		withWrite bool
		handler   func(ctx context.Context, st store.Store, w http.ResponseWriter)
		// after the request, before a Log runs
		wantChained, wantPending int64
		// after a fresh Log has run, in chain order
		want []rec
	}{
		{
			name: "written", withWrite: true,
			handler: func(ctx context.Context, st store.Store, w http.ResponseWriter) {
				if err := audittest.CreateTicket(ctx, st, "T-1"); err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				w.WriteHeader(http.StatusCreated)
			},
			wantPending: 1,
			want:        []rec{{"agent.register", "billing", audit.OK, map[string]string{"committed_write": "true"}}},
		},
		{
			name: "written, then failed", withWrite: true,
			handler: func(ctx context.Context, st store.Store, w http.ResponseWriter) {
				_ = audittest.CreateTicket(ctx, st, "T-1")
				audit.NoteFailed(ctx, "the answer could not be built")
				w.WriteHeader(http.StatusInternalServerError)
			},
			wantChained: 1, wantPending: 1,
			want: []rec{
				{"agent.register", "billing", audit.Error, map[string]string{"after_committed_write": "true", "http_status": "500", "reason": "the answer could not be built"}},
				{"agent.register", "billing", audit.OK, map[string]string{"committed_write": "true"}},
			},
		},
		{
			name: "refused before writing", withWrite: true,
			handler: func(_ context.Context, _ store.Store, w http.ResponseWriter) {
				w.WriteHeader(http.StatusForbidden)
			},
			wantChained: 1,
			want:        []rec{{"agent.register", "billing", audit.Denied, map[string]string{"http_status": "403"}}},
		},
		{
			name: "written, entry not WithWrite",
			handler: func(ctx context.Context, st store.Store, w http.ResponseWriter) {
				_ = audittest.CreateTicket(ctx, st, "T-1")
			},
			wantChained: 1,
			want:        []rec{{"agent.register", "billing", audit.OK, map[string]string{"http_status": "200"}}},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := audittest.OpenSQLite(t)
			l := audit.New(st, audit.Options{})
			h := audit.Middleware(l, func(*http.Request, string) (audit.Entry, bool) {
				return audit.Entry{Action: audit.ActionAgentRegister, Target: "billing", WithWrite: tt.withWrite}, true
			})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { tt.handler(r.Context(), st, w) }))
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/api/v1/agents", nil))

			if chained, pending := audittest.Counts(t, st); chained != tt.wantChained || pending != tt.wantPending {
				t.Errorf("after the request: %d records chained, %d in the outbox; want %d and %d", chained, pending, tt.wantChained, tt.wantPending)
			}
			fresh := audit.New(st, audit.Options{})
			ctx, stop := context.WithCancel(t.Context())
			stop()
			if err := fresh.Run(ctx); err != nil { // chains the outbox as it starts
				t.Fatal(err)
			}
			recs, _, err := fresh.List(t.Context(), audit.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			var got []rec
			for _, r := range recs {
				var d map[string]string
				if err := json.Unmarshal(r.Detail, &d); err != nil {
					t.Fatalf("detail %s: %v", r.Detail, err)
				}
				got = append(got, rec{r.Action, r.Target, r.Outcome, d})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			if res, err := fresh.Verify(t.Context()); err != nil || !res.OK || res.Pending != 0 {
				t.Errorf("Verify = %+v, %v; want OK, none pending", res, err)
			}
		})
	}
}

// While Run runs, a record committed with a write is chained by a batch
// of Run's own, once it has gathered for the read window: nobody appends
// or flushes.
func TestRunChainsWhatWritesCommitted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := audittest.OpenSQLite(t)
		const window = time.Minute
		l := audit.New(st, audit.Options{ReadWindow: window})
		ctx, stop := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- l.Run(ctx) }()
		defer func() {
			stop()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
		synctest.Wait() // Run has started, and chained the empty outbox

		wctx, in := l.Intend(t.Context(), func() audit.Entry { return audit.Entry{Action: "test.write", Target: "T-1"} })
		if err := audittest.CreateTicket(wctx, st, "T-1"); err != nil {
			t.Fatal(err)
		}
		if !in.Close() {
			t.Fatal("the write did not commit the record")
		}
		synctest.Wait()
		if chained, pending := audittest.Counts(t, st); chained != 0 || pending != 1 {
			t.Errorf("within the window: %d records chained, %d in the outbox; want 0 and 1", chained, pending)
		}
		time.Sleep(window)
		synctest.Wait()
		if chained, pending := audittest.Counts(t, st); chained != 1 || pending != 0 {
			t.Errorf("after the window: %d records chained, %d in the outbox; want 1 and 0", chained, pending)
		}
		res, err := audit.Verify(t.Context(), st, 0)
		if err != nil || !res.OK || res.Records != 1 || res.Pending != 0 {
			t.Errorf("Verify = %+v, %v; want OK with 1 record", res, err)
		}
	})
}
