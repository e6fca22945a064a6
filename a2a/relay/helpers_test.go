package relay_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/store"
)

// appendCounter signals every record appended: a call's record is
// written after its answer, so a test waits for it.
type appendCounter struct {
	store.Audit
	appended chan struct{}
}

func (c *appendCounter) AppendAudit(ctx context.Context, r store.AuditRecord) (store.AuditRecord, error) {
	out, err := c.Audit.AppendAudit(ctx, r)
	if err == nil {
		c.appended <- struct{}{}
	}
	return out, err
}

// wait waits for n more records.
func (c *appendCounter) wait(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	for i := range n {
		select {
		case <-c.appended:
		case <-ctx.Done():
			t.Fatalf("%d of %d records appended", i, n)
		}
	}
}

// auditRow is what these tests check of a record.
type auditRow struct {
	Subject, Action, Target, Outcome, TaskID, Method, Reason string
}

func rowOf(t *testing.T, r audit.Record) auditRow {
	t.Helper()
	var d map[string]string
	if err := json.Unmarshal(r.Detail, &d); err != nil {
		t.Fatalf("record %d: detail %s: %v", r.Seq, r.Detail, err)
	}
	return auditRow{r.Subject, r.Action, r.Target, r.Outcome, r.TaskID, d["method"], d["reason"]}
}

// auditUserKey carries the test's caller to the audit log's principal.
type auditUserKey struct{}

// userHeader names the test's caller on a request.
const userHeader = "X-Test-User"

// testUserKey carries the userHeader of the request to headerPrincipal.
type testUserKey struct{}

// withTestUser puts the request's userHeader into its context, where
// headerPrincipal finds it: the test's stand-in for authentication.
func withTestUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), testUserKey{}, r.Header.Get(userHeader))))
	})
}

// headerPrincipal names the caller its userHeader names, if any.
func headerPrincipal(ctx context.Context) (string, bool) {
	name, _ := ctx.Value(testUserKey{}).(string)
	return name, name != ""
}

// testWriter sends logs to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
