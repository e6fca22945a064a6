package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/store"
)

// Contract tests for store.Negotiations: versioned negotiations leased to
// the replicas that run them. Time moves only through the arguments: leases
// are decided by the times callers pass, so no test sleeps.

func negotiation(id, subjectKind, subjectID, trigger, state string, at time.Time) store.Negotiation {
	data, _ := json.Marshal(map[string]any{"id": id, "round": 0})
	return store.Negotiation{ID: id, SubjectKind: subjectKind, SubjectID: subjectID, TriggerKey: trigger,
		State: state, Data: data, CreatedAt: at}
}

func negotiationIDs(ns []store.Negotiation) []string {
	var ids []string
	for _, n := range ns {
		ids = append(ids, n.ID)
	}
	return ids
}

// sameNegotiation compares everything but Data's formatting.
func sameNegotiation(a, b store.Negotiation) bool {
	return a.ID == b.ID && a.SubjectKind == b.SubjectKind && a.SubjectID == b.SubjectID && a.TriggerKey == b.TriggerKey &&
		a.State == b.State && string(a.Data) == string(b.Data) && a.Version == b.Version && a.LeaseOwner == b.LeaseOwner &&
		a.LeaseExpires.Equal(b.LeaseExpires) && a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

func testNegotiationCRUD(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	// Nanoseconds are dropped: times are kept to the microsecond.
	at := t0.Add(1234567 * time.Nanosecond)
	created, err := s.CreateNegotiation(ctx, negotiation("neg-1", "ticket", "T-42", "rule/ticket/T-42/7", store.NegotiationRunning, at))
	if err != nil {
		t.Fatalf("CreateNegotiation: %v", err)
	}
	want := negotiation("neg-1", "ticket", "T-42", "rule/ticket/T-42/7", store.NegotiationRunning, t0.Add(1234*time.Microsecond))
	want.Version, want.UpdatedAt = 1, want.CreatedAt
	if !sameNegotiation(created, want) || !created.LeaseExpires.IsZero() {
		t.Errorf("created = %+v\nwant %+v", created, want)
	}
	got, err := s.GetNegotiation(ctx, "neg-1")
	if err != nil || !sameNegotiation(got, want) {
		t.Errorf("GetNegotiation = %+v, %v\nwant %+v", got, err, want)
	}
	byTrigger, err := s.GetNegotiationByTrigger(ctx, "rule/ticket/T-42/7")
	if err != nil || !sameNegotiation(byTrigger, want) {
		t.Errorf("GetNegotiationByTrigger = %+v, %v", byTrigger, err)
	}
	// Without trigger keys, any number of negotiations may exist.
	for _, id := range []string{"neg-2", "neg-3"} {
		if _, err := s.CreateNegotiation(ctx, negotiation(id, "ticket", "T-42", "", store.NegotiationPendingHuman, t0)); err != nil {
			t.Errorf("CreateNegotiation %s without trigger key: %v", id, err)
		}
	}

	failures := []struct {
		name    string
		n       store.Negotiation
		want    error
		mention string
	}{
		{"taken ID", negotiation("neg-1", "ticket", "T-1", "", store.NegotiationRunning, t0), store.ErrExists, "neg-1"},
		{"taken ID, new trigger key", negotiation("neg-1", "ticket", "T-1", "rule/other", store.NegotiationRunning, t0), store.ErrExists, "neg-1"},
		{"taken trigger key", negotiation("neg-9", "ticket", "T-42", "rule/ticket/T-42/7", store.NegotiationRunning, t0), store.ErrExists, "trigger key"},
		{"empty ID", negotiation("", "ticket", "T-1", "", store.NegotiationRunning, t0), nil, ""},
		{"unknown state", negotiation("neg-8", "ticket", "T-1", "", "paused", t0), nil, ""},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateNegotiation(ctx, tt.n)
			if err == nil {
				t.Fatalf("CreateNegotiation succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("CreateNegotiation = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("CreateNegotiation = %v, want it to mention %q", err, tt.mention)
			}
		})
	}
	if _, err := s.GetNegotiation(ctx, "neg-9"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("negotiation of a refused create: %v, want ErrNotFound", err)
	}
	if got, _ := s.GetNegotiation(ctx, "neg-1"); !sameNegotiation(got, want) {
		t.Errorf("after refused creates neg-1 = %+v", got)
	}

	notFound := []struct {
		name string
		f    func() error
	}{
		{"get unknown", func() error { _, err := s.GetNegotiation(ctx, "neg-404"); return err }},
		{"by unknown trigger", func() error { _, err := s.GetNegotiationByTrigger(ctx, "rule/none"); return err }},
		{"by empty trigger", func() error { _, err := s.GetNegotiationByTrigger(ctx, ""); return err }},
		{"update unknown", func() error {
			_, err := s.UpdateNegotiation(ctx, negotiation("neg-404", "", "", "", store.NegotiationDone, t0), 1, "", t0, time.Minute)
			return err
		}},
		{"update unknown with owner", func() error {
			_, err := s.UpdateNegotiation(ctx, negotiation("neg-404", "", "", "", store.NegotiationDone, t0), 1, "r1", t0, time.Minute)
			return err
		}},
		{"renew unknown", func() error { return s.RenewNegotiationLease(ctx, "neg-404", "r1", t0, time.Minute) }},
	}
	for _, tt := range notFound {
		if err := tt.f(); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", tt.name, err)
		}
	}
	if err := s.ReleaseNegotiationLease(ctx, "neg-404", "r1"); err != nil {
		t.Errorf("release of an unknown negotiation: %v, want no error", err)
	}
}

func testListNegotiations(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	states := []string{store.NegotiationRunning, store.NegotiationPendingHuman, store.NegotiationDone}
	for i := range 7 {
		kind, subject := "ticket", fmt.Sprintf("T-%d", i%2)
		if i == 6 {
			kind, subject = "order", "T-0"
		}
		if _, err := s.CreateNegotiation(ctx, negotiation(fmt.Sprintf("neg-%02d", i), kind, subject, "", states[i%3], t0)); err != nil {
			t.Fatal(err)
		}
	}
	// neg-00 running T-0, neg-01 pending T-1, neg-02 done T-0, neg-03
	// running T-1, neg-04 pending T-0, neg-05 done T-1, neg-06 running
	// order T-0.
	tests := []struct {
		name string
		f    store.NegotiationFilter
		want []string
		more bool
	}{
		{"all", store.NegotiationFilter{}, []string{"neg-00", "neg-01", "neg-02", "neg-03", "neg-04", "neg-05", "neg-06"}, false},
		{"by subject kind", store.NegotiationFilter{SubjectKind: "order"}, []string{"neg-06"}, false},
		{"by subject", store.NegotiationFilter{SubjectKind: "ticket", SubjectID: "T-0"}, []string{"neg-00", "neg-02", "neg-04"}, false},
		{"by subject ID alone", store.NegotiationFilter{SubjectID: "T-0"}, []string{"neg-00", "neg-02", "neg-04", "neg-06"}, false},
		{"by state", store.NegotiationFilter{States: []string{store.NegotiationRunning}}, []string{"neg-00", "neg-03", "neg-06"}, false},
		{"several states", store.NegotiationFilter{States: []string{store.NegotiationDone, store.NegotiationPendingHuman}},
			[]string{"neg-01", "neg-02", "neg-04", "neg-05"}, false},
		{"subject and state", store.NegotiationFilter{SubjectKind: "ticket", SubjectID: "T-1", States: []string{store.NegotiationRunning}}, []string{"neg-03"}, false},
		{"nothing matches", store.NegotiationFilter{SubjectKind: "order", States: []string{store.NegotiationDone}}, nil, false},
		{"first page", store.NegotiationFilter{Limit: 3}, []string{"neg-00", "neg-01", "neg-02"}, true},
		{"next page", store.NegotiationFilter{Limit: 3, After: "neg-02"}, []string{"neg-03", "neg-04", "neg-05"}, true},
		{"last page", store.NegotiationFilter{Limit: 3, After: "neg-05"}, []string{"neg-06"}, false},
		{"exact page", store.NegotiationFilter{Limit: 7}, []string{"neg-00", "neg-01", "neg-02", "neg-03", "neg-04", "neg-05", "neg-06"}, false},
		{"filtered page", store.NegotiationFilter{SubjectID: "T-0", Limit: 2, After: "neg-00"}, []string{"neg-02", "neg-04"}, true},
		{"after the end", store.NegotiationFilter{After: "neg-99"}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, more, err := s.ListNegotiations(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if ids := negotiationIDs(got); fmt.Sprint(ids) != fmt.Sprint(tt.want) || more != tt.more {
				t.Errorf("ListNegotiations(%+v) = %v more=%v; want %v more=%v", tt.f, ids, more, tt.want, tt.more)
			}
		})
	}
	got, _, err := s.ListNegotiations(ctx, store.NegotiationFilter{SubjectKind: "order"})
	if err != nil || len(got) != 1 || got[0].Version != 1 || got[0].State != store.NegotiationRunning || !got[0].CreatedAt.Equal(t0) ||
		string(got[0].Data) != `{"id":"neg-06","round":0}` {
		t.Errorf("listed negotiation = %+v, %v", got, err)
	}
}

// testNegotiationClaim covers which negotiation a claim takes.
func testNegotiationClaim(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	const ttl = 30 * time.Second
	// Created out of ID order: the oldest update is neg-c, then neg-a, then
	// neg-b. Negotiations not running are never claimed.
	for _, n := range []store.Negotiation{
		negotiation("neg-a", "ticket", "T-1", "", store.NegotiationRunning, t0.Add(2*time.Second)),
		negotiation("neg-b", "ticket", "T-2", "", store.NegotiationRunning, t0.Add(3*time.Second)),
		negotiation("neg-c", "ticket", "T-3", "", store.NegotiationRunning, t0.Add(1*time.Second)),
		negotiation("neg-human", "ticket", "T-4", "", store.NegotiationPendingHuman, t0),
		negotiation("neg-done", "ticket", "T-5", "", store.NegotiationDone, t0),
	} {
		if _, err := s.CreateNegotiation(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	now := t0.Add(time.Minute)
	if _, err := s.ClaimNegotiation(ctx, "", now, ttl); err == nil {
		t.Errorf("claim with no owner succeeded")
	}
	steps := []struct {
		owner   string
		at      time.Duration // after now
		want    string        // "" for ErrNoNegotiation
		expires time.Duration // after now
	}{
		{"r1", 0, "neg-c", ttl},
		{"r2", 0, "neg-a", ttl},
		{"r1", time.Second, "neg-b", time.Second + ttl},
		// Every running negotiation is leased until at least now+30s.
		{"r3", 10 * time.Second, "", 0},
		{"r3", ttl - time.Microsecond, "", 0},
		// neg-c's and neg-a's leases end at exactly now+30s: claimable
		// again, oldest first, whoever held them.
		{"r3", ttl, "neg-c", 2 * ttl},
		{"r1", ttl, "neg-a", 2 * ttl},
		{"r2", ttl, "", 0},
		{"r2", ttl + time.Second, "neg-b", ttl + time.Second + ttl},
	}
	for i, st := range steps {
		got, err := s.ClaimNegotiation(ctx, st.owner, now.Add(st.at), ttl)
		if st.want == "" {
			if !errors.Is(err, store.ErrNoNegotiation) {
				t.Fatalf("step %d: claim by %s at +%v = %v, %v; want ErrNoNegotiation", i, st.owner, st.at, got.ID, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("step %d: claim by %s at +%v: %v", i, st.owner, st.at, err)
		}
		if got.ID != st.want || got.LeaseOwner != st.owner || !got.LeaseExpires.Equal(now.Add(st.expires)) {
			t.Errorf("step %d: claim by %s at +%v = %s held by %q until %v; want %s held until %v",
				i, st.owner, st.at, got.ID, got.LeaseOwner, got.LeaseExpires, st.want, now.Add(st.expires))
		}
		// A claim is not a write: no version, no update time.
		if got.Version != 1 || !got.UpdatedAt.Equal(got.CreatedAt) {
			t.Errorf("step %d: claimed %s at version %d updated %v; want version 1 as created", i, got.ID, got.Version, got.UpdatedAt)
		}
		stored, err := s.GetNegotiation(ctx, got.ID)
		if err != nil || !sameNegotiation(stored, got) {
			t.Errorf("step %d: stored %+v, %v; want %+v", i, stored, err, got)
		}
	}
	for _, id := range []string{"neg-human", "neg-done"} {
		if got, _ := s.GetNegotiation(ctx, id); got.LeaseOwner != "" || !got.LeaseExpires.IsZero() {
			t.Errorf("%s got leased: %+v", id, got)
		}
	}
}

// testNegotiationUpdate covers versioned writes and their lease checks.
func testNegotiationUpdate(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	const ttl = 30 * time.Second
	write := func(id, state, data string, at time.Time) store.Negotiation {
		return store.Negotiation{ID: id, State: state, Data: json.RawMessage(data), UpdatedAt: at}
	}
	// Each case starts from a fresh database holding neg-1 created at t0
	// (version 1) and, if claimedBy is set, claimed at t0 by it until
	// t0+30s.
	tests := []struct {
		name      string
		claimedBy string
		write     store.Negotiation
		expected  int64
		owner     string
		at        time.Duration // now, after t0
		wantErr   error
		want      store.Negotiation // State, Version, LeaseOwner, LeaseExpires, UpdatedAt on success
	}{
		{name: "owner keeps running", claimedBy: "r1", write: write("neg-1", store.NegotiationRunning, `{"round":1}`, t0.Add(5*time.Second)),
			expected: 1, owner: "r1", at: 5 * time.Second,
			want: store.Negotiation{State: store.NegotiationRunning, Version: 2, LeaseOwner: "r1", LeaseExpires: t0.Add(5*time.Second + ttl), UpdatedAt: t0.Add(5 * time.Second)}},
		{name: "owner finishes: lease released", claimedBy: "r1", write: write("neg-1", store.NegotiationDone, `{"outcome":"refund"}`, t0.Add(5*time.Second)),
			expected: 1, owner: "r1", at: 5 * time.Second,
			want: store.Negotiation{State: store.NegotiationDone, Version: 2, UpdatedAt: t0.Add(5 * time.Second)}},
		{name: "owner hands to a human: lease released", claimedBy: "r1", write: write("neg-1", store.NegotiationPendingHuman, `{}`, t0.Add(5*time.Second)),
			expected: 1, owner: "r1", at: 5 * time.Second,
			want: store.Negotiation{State: store.NegotiationPendingHuman, Version: 2, UpdatedAt: t0.Add(5 * time.Second)}},
		{name: "stale version", claimedBy: "r1", write: write("neg-1", store.NegotiationRunning, `{}`, t0), expected: 0, owner: "r1", at: time.Second,
			wantErr: &store.VersionConflictError{Kind: store.KindNegotiation, Key: "neg-1", Expected: 0, Current: 1}},
		{name: "future version", claimedBy: "r1", write: write("neg-1", store.NegotiationRunning, `{}`, t0), expected: 2, owner: "r1", at: time.Second,
			wantErr: &store.VersionConflictError{Kind: store.KindNegotiation, Key: "neg-1", Expected: 2, Current: 1}},
		{name: "stale version without owner", write: write("neg-1", store.NegotiationRunning, `{}`, t0), expected: 3, at: time.Second,
			wantErr: &store.VersionConflictError{Kind: store.KindNegotiation, Key: "neg-1", Expected: 3, Current: 1}},
		{name: "wrong owner", claimedBy: "r1", write: write("neg-1", store.NegotiationRunning, `{}`, t0), expected: 1, owner: "r2", at: time.Second,
			wantErr: store.ErrLeaseLost},
		{name: "own lease expired", claimedBy: "r1", write: write("neg-1", store.NegotiationDone, `{}`, t0), expected: 1, owner: "r1", at: ttl,
			wantErr: store.ErrLeaseLost},
		{name: "lease lost comes before a stale version", claimedBy: "r1", write: write("neg-1", store.NegotiationDone, `{}`, t0), expected: 7, owner: "r2", at: time.Second,
			wantErr: store.ErrLeaseLost},
		{name: "owner but never claimed", write: write("neg-1", store.NegotiationRunning, `{}`, t0), expected: 1, owner: "r1", at: time.Second,
			wantErr: store.ErrLeaseLost},
		{name: "no owner while leased", claimedBy: "r1", write: write("neg-1", store.NegotiationDone, `{}`, t0.Add(time.Second)), expected: 1, at: ttl - time.Microsecond,
			wantErr: store.ErrLeaseLost},
		{name: "no owner after the lease expired: cleared", claimedBy: "r1", write: write("neg-1", store.NegotiationRunning, `{"decision":"approve"}`, t0.Add(ttl)),
			expected: 1, at: ttl,
			want: store.Negotiation{State: store.NegotiationRunning, Version: 2, UpdatedAt: t0.Add(ttl)}},
		{name: "no owner, never leased", write: write("neg-1", store.NegotiationRunning, `{"decision":"approve"}`, t0.Add(time.Minute)),
			expected: 1, at: time.Minute,
			want: store.Negotiation{State: store.NegotiationRunning, Version: 2, UpdatedAt: t0.Add(time.Minute)}},
		{name: "unknown state", write: write("neg-1", "paused", `{}`, t0), expected: 1, at: time.Second, wantErr: errors.New("any")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openOne(t, newDB)
			before, err := s.CreateNegotiation(ctx, negotiation("neg-1", "ticket", "T-1", "rule/1", store.NegotiationRunning, t0))
			if err != nil {
				t.Fatal(err)
			}
			if tt.claimedBy != "" {
				if before, err = s.ClaimNegotiation(ctx, tt.claimedBy, t0, ttl); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.UpdateNegotiation(ctx, tt.write, tt.expected, tt.owner, t0.Add(tt.at), ttl)
			stored, gerr := s.GetNegotiation(ctx, "neg-1")
			if gerr != nil {
				t.Fatal(gerr)
			}
			if tt.wantErr != nil {
				var wantVC *store.VersionConflictError
				var vc *store.VersionConflictError
				switch {
				case err == nil:
					t.Fatalf("UpdateNegotiation succeeded: %+v", got)
				case errors.As(tt.wantErr, &wantVC):
					if !errors.As(err, &vc) || !errors.Is(err, store.ErrVersionConflict) || *vc != *wantVC {
						t.Errorf("UpdateNegotiation = %v, want %v", err, wantVC)
					}
				case errors.Is(tt.wantErr, store.ErrLeaseLost):
					if !errors.Is(err, store.ErrLeaseLost) {
						t.Errorf("UpdateNegotiation = %v, want ErrLeaseLost", err)
					}
				}
				if !sameNegotiation(stored, before) {
					t.Errorf("after a refused write stored = %+v\nwant unchanged %+v", stored, before)
				}
				return
			}
			if err != nil {
				t.Fatalf("UpdateNegotiation: %v", err)
			}
			w := tt.want
			w.ID, w.SubjectKind, w.SubjectID, w.TriggerKey, w.Data, w.CreatedAt = "neg-1", "ticket", "T-1", "rule/1", tt.write.Data, t0
			if !sameNegotiation(got, w) {
				t.Errorf("UpdateNegotiation = %+v\nwant %+v", got, w)
			}
			if !sameNegotiation(stored, w) {
				t.Errorf("stored = %+v\nwant %+v", stored, w)
			}
		})
	}
}

// testNegotiationUpdateSequence follows one negotiation through a runner's
// life: claim, writes that extend the lease, a crash, a takeover, a human
// decision and the end.
func testNegotiationUpdateSequence(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	const ttl = 30 * time.Second
	if _, err := s.CreateNegotiation(ctx, negotiation("neg-1", "ticket", "T-1", "", store.NegotiationRunning, t0)); err != nil {
		t.Fatal(err)
	}
	n, err := s.ClaimNegotiation(ctx, "r1", t0, ttl)
	if err != nil {
		t.Fatal(err)
	}
	// Each write by the owner extends the lease: at +25s and +50s it still
	// holds the lease it would have lost at +30s.
	for i, at := range []time.Duration{25 * time.Second, 50 * time.Second} {
		n.Data = json.RawMessage(fmt.Sprintf(`{"round":%d}`, i+1))
		n.UpdatedAt = t0.Add(at)
		if n, err = s.UpdateNegotiation(ctx, n, n.Version, "r1", t0.Add(at), ttl); err != nil {
			t.Fatalf("write at +%v: %v", at, err)
		}
	}
	if n.Version != 3 || !n.LeaseExpires.Equal(t0.Add(80*time.Second)) {
		t.Fatalf("after two writes = %+v", n)
	}
	// r1 goes quiet; at +80s r2 takes over, and r1's late write is refused.
	if _, err := s.ClaimNegotiation(ctx, "r2", t0.Add(79*time.Second), ttl); !errors.Is(err, store.ErrNoNegotiation) {
		t.Fatalf("claim before the lease ends: %v", err)
	}
	taken, err := s.ClaimNegotiation(ctx, "r2", t0.Add(80*time.Second), ttl)
	if err != nil || taken.ID != "neg-1" || taken.Version != 3 {
		t.Fatalf("takeover = %+v, %v", taken, err)
	}
	if _, err := s.UpdateNegotiation(ctx, n, n.Version, "r1", t0.Add(81*time.Second), ttl); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("late write of the former owner: %v, want ErrLeaseLost", err)
	}
	taken.State, taken.UpdatedAt = store.NegotiationPendingHuman, t0.Add(90*time.Second)
	human, err := s.UpdateNegotiation(ctx, taken, taken.Version, "r2", t0.Add(90*time.Second), ttl)
	if err != nil || human.LeaseOwner != "" || !human.LeaseExpires.IsZero() || human.Version != 4 {
		t.Fatalf("hand to a human = %+v, %v", human, err)
	}
	if _, err := s.ClaimNegotiation(ctx, "r3", t0.Add(91*time.Second), ttl); !errors.Is(err, store.ErrNoNegotiation) {
		t.Errorf("claim while pending a human: %v, want ErrNoNegotiation", err)
	}
	// The decision, written without an owner, makes it claimable again.
	human.State, human.UpdatedAt = store.NegotiationRunning, t0.Add(100*time.Second)
	decided, err := s.UpdateNegotiation(ctx, human, human.Version, "", t0.Add(100*time.Second), ttl)
	if err != nil || decided.Version != 5 || decided.LeaseOwner != "" {
		t.Fatalf("decision = %+v, %v", decided, err)
	}
	last, err := s.ClaimNegotiation(ctx, "r3", t0.Add(101*time.Second), ttl)
	if err != nil || last.LeaseOwner != "r3" || last.Version != 5 {
		t.Fatalf("claim after the decision = %+v, %v", last, err)
	}
	last.State, last.UpdatedAt = store.NegotiationDone, t0.Add(102*time.Second)
	done, err := s.UpdateNegotiation(ctx, last, last.Version, "r3", t0.Add(102*time.Second), ttl)
	if err != nil || done.State != store.NegotiationDone || done.LeaseOwner != "" || !done.LeaseExpires.IsZero() || done.Version != 6 {
		t.Fatalf("done = %+v, %v", done, err)
	}
	if _, err := s.ClaimNegotiation(ctx, "r1", t0.Add(time.Hour), ttl); !errors.Is(err, store.ErrNoNegotiation) {
		t.Errorf("claim after done: %v, want ErrNoNegotiation", err)
	}
}

func testNegotiationLeaseRenewRelease(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	const ttl = 30 * time.Second
	for _, id := range []string{"neg-1", "neg-2"} {
		if _, err := s.CreateNegotiation(ctx, negotiation(id, "ticket", "T-1", "", store.NegotiationRunning, t0)); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.ClaimNegotiation(ctx, "r1", t0, ttl); err != nil || n.ID != "neg-1" {
		t.Fatalf("claim = %+v, %v", n, err)
	}
	if n, err := s.ClaimNegotiation(ctx, "r2", t0, ttl); err != nil || n.ID != "neg-2" {
		t.Fatalf("claim = %+v, %v", n, err)
	}
	lease := func(id string) (string, time.Time, int64) {
		t.Helper()
		n, err := s.GetNegotiation(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return n.LeaseOwner, n.LeaseExpires, n.Version
	}
	renewals := []struct {
		name      string
		owner     string
		at        time.Duration
		wantErr   error
		wantUntil time.Duration // neg-1's lease end after the step, after t0
	}{
		{"owner renews", "r1", 20 * time.Second, nil, 50 * time.Second},
		{"another owner", "r2", 21 * time.Second, store.ErrLeaseLost, 50 * time.Second},
		{"owner renews again", "r1", 49 * time.Second, nil, 79 * time.Second},
		{"owner too late", "r1", 79 * time.Second, store.ErrLeaseLost, 79 * time.Second},
		{"empty owner", "", 30 * time.Second, errors.New("any"), 79 * time.Second},
	}
	for _, tt := range renewals {
		err := s.RenewNegotiationLease(ctx, "neg-1", tt.owner, t0.Add(tt.at), ttl)
		switch {
		case tt.wantErr == nil && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.wantErr != nil && err == nil:
			t.Errorf("%s: renewal succeeded", tt.name)
		case errors.Is(tt.wantErr, store.ErrLeaseLost) && !errors.Is(err, store.ErrLeaseLost):
			t.Errorf("%s: %v, want ErrLeaseLost", tt.name, err)
		}
		if owner, until, version := lease("neg-1"); owner != "r1" || !until.Equal(t0.Add(tt.wantUntil)) || version != 1 {
			t.Errorf("%s: lease %q until %v at version %d; want r1 until %v at version 1", tt.name, owner, until, version, t0.Add(tt.wantUntil))
		}
	}

	// Releasing someone else's lease does nothing; the owner's own
	// release makes it claimable at once.
	if err := s.ReleaseNegotiationLease(ctx, "neg-2", "r1"); err != nil {
		t.Fatal(err)
	}
	if owner, until, _ := lease("neg-2"); owner != "r2" || !until.Equal(t0.Add(ttl)) {
		t.Errorf("after another's release neg-2 leased by %q until %v", owner, until)
	}
	if _, err := s.ClaimNegotiation(ctx, "r3", t0.Add(time.Second), ttl); !errors.Is(err, store.ErrNoNegotiation) {
		t.Fatalf("claim before release: %v", err)
	}
	if err := s.ReleaseNegotiationLease(ctx, "neg-2", "r2"); err != nil {
		t.Fatal(err)
	}
	if owner, until, version := lease("neg-2"); owner != "" || !until.IsZero() || version != 1 {
		t.Errorf("after release neg-2 leased by %q until %v at version %d", owner, until, version)
	}
	if err := s.ReleaseNegotiationLease(ctx, "neg-2", "r2"); err != nil {
		t.Errorf("second release: %v", err)
	}
	if err := s.RenewNegotiationLease(ctx, "neg-2", "r2", t0.Add(time.Second), ttl); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("renewal after release: %v, want ErrLeaseLost", err)
	}
	n, err := s.ClaimNegotiation(ctx, "r3", t0.Add(time.Second), ttl)
	if err != nil || n.ID != "neg-2" || n.LeaseOwner != "r3" {
		t.Fatalf("claim after release = %+v, %v", n, err)
	}
	// The former owner's release, after the takeover, leaves the new lease.
	if err := s.ReleaseNegotiationLease(ctx, "neg-2", "r2"); err != nil {
		t.Fatal(err)
	}
	if owner, _, _ := lease("neg-2"); owner != "r3" {
		t.Errorf("former owner's release cleared r3's lease: owner %q", owner)
	}
}

func testNegotiationFeed(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := s.Subscribe(subCtx)
	if err != nil {
		t.Fatal(err)
	}
	const ttl = 30 * time.Second
	n, err := s.CreateNegotiation(ctx, negotiation("neg-1", "ticket", "T-1", "rule/1", store.NegotiationRunning, t0))
	if err != nil {
		t.Fatal(err)
	}
	// Refused creates, claims, renewals, releases and refused updates
	// emit nothing.
	if _, err := s.CreateNegotiation(ctx, negotiation("neg-1", "ticket", "T-1", "", store.NegotiationRunning, t0)); err == nil {
		t.Fatal("duplicate create succeeded")
	}
	if _, err := s.CreateNegotiation(ctx, negotiation("neg-2", "ticket", "T-1", "rule/1", store.NegotiationRunning, t0)); err == nil {
		t.Fatal("duplicate trigger create succeeded")
	}
	if n, err = s.ClaimNegotiation(ctx, "r1", t0, ttl); err != nil {
		t.Fatal(err)
	}
	if err := s.RenewNegotiationLease(ctx, "neg-1", "r1", t0.Add(time.Second), ttl); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateNegotiation(ctx, n, n.Version, "r2", t0.Add(time.Second), ttl); err == nil {
		t.Fatal("update by a non-owner succeeded")
	}
	n.UpdatedAt = t0.Add(2 * time.Second)
	if n, err = s.UpdateNegotiation(ctx, n, n.Version, "r1", t0.Add(2*time.Second), ttl); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateNegotiation(ctx, n, 1, "r1", t0.Add(2*time.Second), ttl); err == nil {
		t.Fatal("stale update succeeded")
	}
	if err := s.ReleaseNegotiationLease(ctx, "neg-1", "r1"); err != nil {
		t.Fatal(err)
	}
	n.State, n.UpdatedAt = store.NegotiationDone, t0.Add(3*time.Second)
	if _, err = s.UpdateNegotiation(ctx, n, n.Version, "", t0.Add(3*time.Second), ttl); err != nil {
		t.Fatal(err)
	}
	// A last write marks the end: anything emitted in between would show
	// up before it.
	if _, err := s.CreateNegotiation(ctx, negotiation("neg-3", "ticket", "T-2", "", store.NegotiationPendingHuman, t0.Add(4*time.Second))); err != nil {
		t.Fatal(err)
	}
	want := []store.Change{
		{Kind: store.KindNegotiation, Key: "neg-1", Version: 1, At: t0},
		{Kind: store.KindNegotiation, Key: "neg-1", Version: 2, At: t0.Add(2 * time.Second)},
		{Kind: store.KindNegotiation, Key: "neg-1", Version: 3, At: t0.Add(3 * time.Second)},
		{Kind: store.KindNegotiation, Key: "neg-3", Version: 1, At: t0.Add(4 * time.Second)},
	}
	for i, w := range want {
		c := next(t, ch)
		if c.Kind != w.Kind || c.Key != w.Key || c.Version != w.Version || !c.At.Equal(w.At) {
			t.Errorf("change %d = %+v, want %+v", i, c, w)
		}
	}
}

// testNegotiationTriggerRace: replicas firing the same rule at once create
// one negotiation between them.
func testNegotiationTriggerRace(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	open := newDB(t, Options{})
	replicas := []store.Store{open(t), open(t)}
	const racers = 8
	for round := range 5 {
		trigger := fmt.Sprintf("rule/ticket/T-1/%d", round)
		var mu sync.Mutex
		var winners []string
		var wg sync.WaitGroup
		start := make(chan struct{})
		for w := range racers {
			wg.Go(func() {
				<-start
				id := fmt.Sprintf("neg-%d-%d", round, w)
				_, err := replicas[w%2].CreateNegotiation(ctx, negotiation(id, "ticket", "T-1", trigger, store.NegotiationRunning, t0))
				switch {
				case err == nil:
					mu.Lock()
					winners = append(winners, id)
					mu.Unlock()
				case !errors.Is(err, store.ErrExists):
					t.Errorf("create %s: %v", id, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("round %d: %d creates won (%v), want 1", round, len(winners), winners)
		}
		got, err := replicas[1].GetNegotiationByTrigger(ctx, trigger)
		if err != nil || got.ID != winners[0] {
			t.Errorf("round %d: by trigger = %+v, %v; want %s", round, got, err, winners[0])
		}
	}
}

// testNegotiationConcurrentClaims: workers on two replicas claim until
// nothing is left; while the leases are live each negotiation goes to
// exactly one of them, and once they have expired, again to exactly one.
func testNegotiationConcurrentClaims(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	open := newDB(t, Options{})
	replicas := []store.Store{open(t), open(t)}
	const negotiations, workers = 200, 8
	const ttl = time.Hour
	for i := range negotiations {
		n := negotiation(fmt.Sprintf("neg-%03d", i), "ticket", fmt.Sprintf("T-%d", i), "", store.NegotiationRunning, t0.Add(time.Duration(i)*time.Millisecond))
		if _, err := replicas[0].CreateNegotiation(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	for round, now := range []time.Time{t0.Add(time.Minute), t0.Add(time.Minute + ttl)} {
		var mu sync.Mutex
		claimed := map[string][]string{}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for w := range workers {
			wg.Go(func() {
				<-start
				s, owner := replicas[w%2], fmt.Sprintf("runner-%d-%d", round, w)
				for {
					n, err := s.ClaimNegotiation(ctx, owner, now, ttl)
					if errors.Is(err, store.ErrNoNegotiation) {
						return
					}
					if err != nil {
						t.Errorf("%s: claim: %v", owner, err)
						return
					}
					if n.LeaseOwner != owner || !n.LeaseExpires.Equal(now.Add(ttl)) {
						t.Errorf("%s: claimed %+v", owner, n)
					}
					mu.Lock()
					claimed[n.ID] = append(claimed[n.ID], owner)
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		if len(claimed) != negotiations {
			t.Errorf("round %d: %d distinct negotiations claimed, want %d", round, len(claimed), negotiations)
		}
		for id, owners := range claimed {
			if len(owners) != 1 {
				t.Errorf("round %d: %s claimed by %v", round, id, owners)
				continue
			}
			got, err := replicas[1].GetNegotiation(ctx, id)
			if err != nil || got.LeaseOwner != owners[0] || got.Version != 1 {
				t.Errorf("round %d: stored %+v, %v; want leased by %s at version 1", round, got, err, owners[0])
			}
		}
	}
}
