package storetest

import (
	"database/sql"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/store"
)

// UpgradeDeliverersBefore is the last migration before sessions' deliverers
// moved into the sessions' own rows (migration 0018).
const UpgradeDeliverersBefore = 17

// UpgradeDeliverers checks that a database migrated up to
// UpgradeDeliverersBefore keeps its sessions' deliverers, handovers and
// subscriptions when open (which migrates to the latest schema) opens it.
// old is a connection to that database; q rewrites a query's placeholders
// for its dialect (nil: none).
func UpgradeDeliverers(t *testing.T, old *sql.DB, q func(string) string, open func(t testing.TB) store.Store) {
	t.Helper()
	ctx := t.Context()
	if q == nil {
		q = func(s string) string { return s }
	}
	exec := func(query string, args ...any) {
		t.Helper()
		if _, err := old.ExecContext(ctx, q(query), args...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	for _, id := range []string{"s-handed", "s-first", "s-none"} {
		exec(`INSERT INTO mcp_sessions (id, protocol_version, initialize_params, log_level, user_id, created_at, last_active, copied)
			VALUES (?, '2025-11-25', '{}', '', 'alice', ?, ?, 0)`, id, t0.UnixMicro(), t0.UnixMicro())
	}
	// s-handed went from replica B (which delivered after change 2) to A
	// at change 5; s-first has had A from change 3 on.
	exec(`INSERT INTO mcp_session_deliverers (session_id, replica, since_seq, prev_replica, prev_since_seq) VALUES (?, 'A', 5, 'B', 2)`, "s-handed")
	exec(`INSERT INTO mcp_session_deliverers (session_id, replica, since_seq, prev_replica, prev_since_seq) VALUES (?, 'A', 3, '', 0)`, "s-first")
	for _, id := range []string{"s-handed", "s-first", "s-none"} {
		exec(`INSERT INTO mcp_session_subscriptions (session_id, uri) VALUES (?, 'ticket://T-1')`, id)
	}

	s := open(t)
	for id, want := range map[string]string{"s-handed": "A", "s-first": "A", "s-none": ""} {
		if got, err := Deliverer(ctx, s, id); err != nil || got != want {
			t.Errorf("deliverer of %s after the upgrade = %q, %v; want %q", id, got, err, want)
		}
	}
	for _, c := range []struct {
		replica string
		seq     int64
		want    []string
	}{
		{"A", 4, []string{"s-first"}},             // s-handed is still B's
		{"A", 6, []string{"s-first", "s-handed"}}, // and A's after the handover
		{"B", 4, []string{"s-handed"}},            // B's share: after 2, up to 5
		{"B", 2, nil},
		{"B", 6, nil},
	} {
		subs, err := s.MCPSessionSubscribers(ctx, c.replica, c.seq, []string{"ticket://T-1"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, sub := range subs {
			got = append(got, sub.SessionID)
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("MCPSessionSubscribers(%s, %d) after the upgrade (-want +got):\n%s", c.replica, c.seq, diff)
		}
	}
	// A replica of the previous release, still running during a rolling
	// upgrade, opens, reads and ends a session with its own statements; the
	// new schema's reader sees the session, without the old record of its
	// deliverer.
	exec(`INSERT INTO mcp_sessions (id, protocol_version, initialize_params, log_level, user_id, created_at, last_active, copied)
		VALUES (?, '2025-11-25', '{}', '', 'bob', ?, ?, 0)`, "s-old", t0.UnixMicro(), t0.UnixMicro())
	exec(`INSERT INTO mcp_session_deliverers (session_id, replica, since_seq, prev_replica, prev_since_seq) VALUES (?, 'OLD', 1, '', 0)`, "s-old")
	var oldNamed string
	if err := old.QueryRowContext(ctx, q(`SELECT d.replica FROM mcp_sessions AS s
		LEFT JOIN mcp_session_deliverers AS d ON d.session_id = s.id WHERE s.id = ?`), "s-old").Scan(&oldNamed); err != nil || oldNamed != "OLD" {
		t.Errorf("the previous release's read of a deliverer = %q, %v; want OLD", oldNamed, err)
	}
	if got, err := Deliverer(ctx, s, "s-old"); err != nil || got != "" {
		t.Errorf("GetMCPSessionDeliverer of a session the previous release opened = %q, %v; want none named", got, err)
	}
	exec(`DELETE FROM mcp_sessions WHERE id = ?`, "s-old")
	exec(`DELETE FROM mcp_sessions WHERE last_active < ?`, t0.Add(-time.Hour).UnixMicro()) // its sweep

	// A session that had none gets its first deliverer; one that had one
	// keeps it.
	if ours, err := s.SetMCPSessionDeliverer(ctx, "s-none", "C", true); err != nil || !ours {
		t.Errorf("SetMCPSessionDeliverer(s-none, C, only if none) = %v, %v; want true", ours, err)
	}
	if ours, err := s.SetMCPSessionDeliverer(ctx, "s-first", "C", true); err != nil || ours {
		t.Errorf("SetMCPSessionDeliverer(s-first, C, only if none) = %v, %v; want false (A has it)", ours, err)
	}
}
