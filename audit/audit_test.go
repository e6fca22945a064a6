package audit

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley/store"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

// memStore is a store.Audit in memory, with the append rules of the real
// ones, and hooks for tests.
type memStore struct {
	mu   sync.Mutex
	recs []store.AuditRecord
	head store.AuditChainHead
	// appendHook, when set, runs instead of appending.
	appendHook func(ctx context.Context, r store.AuditRecord) (store.AuditRecord, error)
	// batchHook, when set, runs before a batch is appended; an error fails
	// the batch.
	batchHook func(ctx context.Context, rs []store.AuditRecord) error
	// batches is the size of each batch appended, in order.
	batches []int
	// listHook runs after each ListAudit.
	listHook func(f store.AuditFilter)
	listErr  error
}

func (m *memStore) AppendAuditBatch(ctx context.Context, rs []store.AuditRecord) ([]store.AuditRecord, error) {
	if m.batchHook != nil {
		if err := m.batchHook(ctx, rs); err != nil {
			return nil, err
		}
	}
	for _, r := range rs {
		if err := store.CheckAuditRecord(r); err != nil {
			return nil, err
		}
	}
	out := make([]store.AuditRecord, len(rs))
	for i, r := range rs {
		r.At = time.UnixMicro(r.At.UnixMicro()).UTC()
		out[i] = r
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.head = store.ChainAudit(m.head, out)
	m.recs = append(m.recs, out...)
	m.batches = append(m.batches, len(out))
	return out, nil
}

func (m *memStore) AppendAudit(ctx context.Context, r store.AuditRecord) (store.AuditRecord, error) {
	if m.appendHook != nil {
		return m.appendHook(ctx, r)
	}
	if err := store.CheckAuditRecord(r); err != nil {
		return store.AuditRecord{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r.At = time.UnixMicro(r.At.UnixMicro()).UTC()
	r.Seq, r.PrevHash = m.head.Seq+1, m.head.Hash
	r.Hash = store.AuditHash(r)
	m.recs = append(m.recs, r)
	m.head = store.AuditChainHead{Seq: r.Seq, Hash: r.Hash}
	return r, nil
}

func (m *memStore) ListAudit(_ context.Context, f store.AuditFilter) ([]store.AuditRecord, bool, error) {
	if m.listErr != nil {
		return nil, false, m.listErr
	}
	m.mu.Lock()
	var out []store.AuditRecord
	for _, r := range m.recs {
		if f.After != 0 && r.Seq <= f.After {
			continue
		}
		out = append(out, r)
	}
	m.mu.Unlock()
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	if m.listHook != nil {
		m.listHook(f)
	}
	return out, more, nil
}

func (m *memStore) AuditHead(context.Context) (store.AuditChainHead, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.head, nil
}

// The canonical encoding is fixed: this vector is what a verifier in
// another language checks itself against (it was checked against a
// Python transcription of store.AuditEncoding's documentation). Changing
// it breaks every stored chain.
func TestAuditHashVector(t *testing.T) {
	r := store.AuditRecord{
		Seq: 2, At: time.UnixMicro(1795262400123456), Subject: "alice", Client: "support-app",
		Action: "mcp.tool_call", Target: "save_resolution", TicketID: "T-1", Outcome: "denied",
		Detail: json.RawMessage(`{"rule":"refund-limit"}`), Parent: 1, RequestID: "req-7", TaskID: "", NegotiationID: "neg-3",
		PrevHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	}
	enc := store.AuditEncoding(r)
	if !strings.HasPrefix(string(enc), "\x00\x00\x00\x00\x00\x00\x00\x0fparley.audit.v1\x00\x00\x00\x00\x00\x00\x00\x012\x00\x00\x00\x00\x00\x00\x00\x101795262400123456") {
		t.Errorf("encoding starts %q", enc[:60])
	}
	if got, want := len(enc), 15*8+len("parley.audit.v1")+1+16+5+11+13+15+3+6+23+1+5+0+5+64; got != want {
		t.Errorf("encoding is %d bytes, want %d", got, want)
	}
	const want = "cd46032f59664e926aae522ab1538d07b2f1d101f101d48376f53bfbfc4be451"
	if got := store.AuditHash(r); got != want {
		// Only a deliberate change to the encoding may change this; then
		// it needs a new version tag, and old records the old encoding.
		t.Errorf("AuditHash = %s, want %s", got, want)
	}
	// Every field is covered; moving bytes between fields changes the hash.
	for name, change := range map[string]func(*store.AuditRecord){
		"seq": func(r *store.AuditRecord) { r.Seq++ }, "at": func(r *store.AuditRecord) { r.At = r.At.Add(time.Microsecond) },
		"subject": func(r *store.AuditRecord) { r.Subject += "x" }, "client": func(r *store.AuditRecord) { r.Client = "" },
		"action": func(r *store.AuditRecord) { r.Action = "x" }, "target": func(r *store.AuditRecord) { r.Target = "x" },
		"ticket": func(r *store.AuditRecord) { r.TicketID = "T-2" }, "outcome": func(r *store.AuditRecord) { r.Outcome = "ok" },
		"detail": func(r *store.AuditRecord) { r.Detail = json.RawMessage(`{"rule": "refund-limit"}`) },
		"parent": func(r *store.AuditRecord) { r.Parent = 0 }, "request": func(r *store.AuditRecord) { r.RequestID = "" },
		"task": func(r *store.AuditRecord) { r.TaskID = "t" }, "negotiation": func(r *store.AuditRecord) { r.NegotiationID = "" },
		"prev":     func(r *store.AuditRecord) { r.PrevHash = "" },
		"boundary": func(r *store.AuditRecord) { r.Subject, r.Client = "alicesupport-app", "" },
	} {
		c := r
		change(&c)
		if store.AuditHash(c) == want {
			t.Errorf("changing %s keeps the hash", name)
		}
	}
	// The stored hash is not itself covered.
	c := r
	c.Hash = "anything"
	if store.AuditHash(c) != want {
		t.Error("the Hash field changes the hash")
	}
}

type ctxKey struct{}

func TestAppendFillsEntries(t *testing.T) {
	m := &memStore{}
	l := New(m, Options{
		Now: func() time.Time { return t0 },
		Principal: func(ctx context.Context) Principal {
			p, _ := ctx.Value(ctxKey{}).(Principal)
			return p
		},
	})
	base := context.WithValue(t.Context(), ctxKey{}, Principal{Subject: "alice", Client: "app"})
	linked := WithLinks(base, Links{RequestID: "req-1", TicketID: "T-1"})
	long := strings.Repeat("é", MaxTextBytes)
	tests := []struct {
		name  string
		ctx   context.Context
		entry Entry
		check func(t *testing.T, r Record)
	}{
		{"defaults", base, Entry{Action: ActionMCPToolCall, Target: "get_ticket"}, func(t *testing.T, r Record) {
			if r.Subject != "alice" || r.Client != "app" || r.Outcome != OK || !r.At.Equal(t0) || r.Detail != nil || r.Parent != 0 || r.RequestID != "" {
				t.Errorf("record = %+v", r)
			}
		}},
		{"entry wins", base, Entry{Action: ActionPolicyDenial, Outcome: Denied, Principal: Principal{Subject: "bob"}, At: t0.Add(time.Hour),
			Detail: map[string]string{"rule": "deny-refunds"}}, func(t *testing.T, r Record) {
			if r.Subject != "bob" || r.Client != "" || r.Outcome != Denied || !r.At.Equal(t0.Add(time.Hour)) || string(r.Detail) != `{"rule":"deny-refunds"}` {
				t.Errorf("record = %+v", r)
			}
		}},
		{"links from context", linked, Entry{Action: ActionA2ARelay, Links: Links{TaskID: "task-1"}}, func(t *testing.T, r Record) {
			if r.RequestID != "req-1" || r.TicketID != "T-1" || r.TaskID != "task-1" || r.Parent != 0 {
				t.Errorf("record = %+v", r)
			}
		}},
		{"parent from context", WithParent(linked, 41), Entry{Action: ActionNegotiationMove, Links: Links{TicketID: "T-2"}}, func(t *testing.T, r Record) {
			if r.Parent != 41 || r.RequestID != "req-1" || r.TicketID != "T-2" {
				t.Errorf("record = %+v", r)
			}
		}},
		{"follows a record", WithRecord(base, Record{Seq: 7, TaskID: "task-2", NegotiationID: "neg-1", TicketID: "T-3"}),
			Entry{Action: ActionNegotiationDecision}, func(t *testing.T, r Record) {
				if r.Parent != 7 || r.TaskID != "task-2" || r.NegotiationID != "neg-1" || r.TicketID != "T-3" {
					t.Errorf("record = %+v", r)
				}
			}},
		{"unstorable text is cleaned", base, Entry{Action: "x.y", Target: "a\x00b\xffc", Links: Links{TaskID: long}}, func(t *testing.T, r Record) {
			if r.Target != "a\uFFFDb\uFFFDc" {
				t.Errorf("target = %q", r.Target)
			}
			if len(r.TaskID) > MaxTextBytes || !utf8.ValidString(r.TaskID) || !strings.HasSuffix(r.TaskID, "é…") {
				t.Errorf("long task ID kept %d bytes, ending %q", len(r.TaskID), r.TaskID[len(r.TaskID)-8:])
			}
		}},
		{"no action", base, Entry{}, func(t *testing.T, r Record) {
			if r.Action != "unknown" {
				t.Errorf("action = %q", r.Action)
			}
		}},
		{"raw detail is compacted", base, Entry{Action: "x.y", Detail: json.RawMessage(" {\"a\": [1, 2]}\n")}, func(t *testing.T, r Record) {
			if string(r.Detail) != `{"a":[1,2]}` {
				t.Errorf("detail = %s", r.Detail)
			}
		}},
		{"bytes are a document", base, Entry{Action: "x.y", Detail: []byte(`{"a":1}`)}, func(t *testing.T, r Record) {
			if string(r.Detail) != `{"a":1}` {
				t.Errorf("detail = %s", r.Detail)
			}
		}},
		{"empty and null details are none", base, Entry{Action: "x.y", Detail: json.RawMessage("null")}, func(t *testing.T, r Record) {
			if r.Detail != nil {
				t.Errorf("detail = %s", r.Detail)
			}
		}},
		{"invalid raw detail is replaced", base, Entry{Action: "x.y", Detail: json.RawMessage(`{"open":`)}, func(t *testing.T, r Record) {
			if !strings.HasPrefix(string(r.Detail), `{"detail_error":"`) {
				t.Errorf("detail = %s", r.Detail)
			}
		}},
		{"unencodable detail is replaced", base, Entry{Action: "x.y", Detail: func() {}}, func(t *testing.T, r Record) {
			if !strings.HasPrefix(string(r.Detail), `{"detail_error":"json: unsupported type`) {
				t.Errorf("detail = %s", r.Detail)
			}
		}},
		{"invalid UTF-8 in a raw detail", base, Entry{Action: "x.y", Detail: json.RawMessage("{\"a\":\"\xff\"}")}, func(t *testing.T, r Record) {
			if string(r.Detail) != "{\"a\":\"\uFFFD\"}" {
				t.Errorf("detail = %q", r.Detail)
			}
		}},
		{"large detail is summarized", base, Entry{Action: "x.y", Detail: map[string]string{"big": strings.Repeat("x", MaxDetailBytes)}}, func(t *testing.T, r Record) {
			if string(r.Detail) != `{"bytes":65546,"truncated":true}` {
				t.Errorf("detail = %s", r.Detail)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := l.Append(tt.ctx, tt.entry)
			if err != nil {
				t.Fatalf("Append: %v", err)
			}
			if r.Seq == 0 || r.Hash == "" {
				t.Errorf("Append returned %+v, want the stored record", r)
			}
			tt.check(t, r)
		})
	}
	if res, err := l.Verify(t.Context()); err != nil || !res.OK || res.Records != int64(len(tests)) {
		t.Errorf("Verify = %+v, %v", res, err)
	}
}

// Whatever a caller passes, the record is one every backend stores.
func FuzzRecordIsStorable(f *testing.F) {
	f.Add("mcp.tool_call", "get_ticket", "alice", `{"a":1}`)
	f.Add("", "\x00", "\xff\xfe", `{"a":"\xff"}`)
	f.Add("x", strings.Repeat("é", 600), "", "not json")
	l := New(&memStore{}, Options{})
	f.Fuzz(func(t *testing.T, action, target, subject, detail string) {
		r := l.record(t.Context(), Entry{Action: action, Target: target, Principal: Principal{Subject: subject},
			Detail: json.RawMessage(detail), Links: Links{TaskID: target, TicketID: subject}})
		if err := store.CheckAuditRecord(r); err != nil {
			t.Fatalf("record %+v refused: %v", r, err)
		}
	})
}

func TestAppendTimeoutAndCancel(t *testing.T) {
	m := &memStore{}
	l := New(m, Options{Timeout: 20 * time.Millisecond})

	// A store that does not answer in time: Append gives up at the timeout.
	m.appendHook = func(ctx context.Context, _ store.AuditRecord) (store.AuditRecord, error) {
		<-ctx.Done()
		return store.AuditRecord{}, ctx.Err()
	}
	if _, err := l.Append(t.Context(), Entry{Action: "x.y"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Append to a stuck store = %v, want DeadlineExceeded", err)
	}

	// The caller's cancellation does not cancel the record of its request.
	m.appendHook = func(ctx context.Context, r store.AuditRecord) (store.AuditRecord, error) {
		if err := ctx.Err(); err != nil {
			return store.AuditRecord{}, err
		}
		if _, ok := ctx.Deadline(); !ok {
			return store.AuditRecord{}, errors.New("no deadline")
		}
		r.Seq = 1
		return r, nil
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	if r, err := l.Append(cancelled, Entry{Action: "x.y"}); err != nil || r.Seq != 1 {
		t.Errorf("Append with a cancelled context = %+v, %v; want it recorded", r, err)
	}
}

func TestNilLog(t *testing.T) {
	var l *Log
	if r, err := l.Append(t.Context(), Entry{Action: "x.y"}); err != nil || r.Seq != 0 {
		t.Errorf("nil Log Append = %+v, %v", r, err)
	}
	if recs, more, err := l.List(t.Context(), Filter{}); err != nil || recs != nil || more {
		t.Errorf("nil Log List = %v, %v, %v", recs, more, err)
	}
}

func TestLinksMerge(t *testing.T) {
	ctx := WithLinks(t.Context(), Links{RequestID: "r", TaskID: "t"})
	ctx = WithLinks(ctx, Links{TaskID: "t2", NegotiationID: "n"})
	ctx = WithParent(ctx, 3)
	if got, want := LinksFrom(ctx), (Links{Parent: 3, RequestID: "r", TaskID: "t2", NegotiationID: "n"}); got != want {
		t.Errorf("LinksFrom = %+v, want %+v", got, want)
	}
	if got := LinksFrom(t.Context()); got != (Links{}) {
		t.Errorf("LinksFrom of a bare context = %+v", got)
	}
}

// Verify over the memory store: the cases the SQL backends cannot stage
// (a walk racing appends, store failures). The tampering cases run on the
// real backends in storetest.RunAuditTamper.
func TestVerify(t *testing.T) {
	fill := func(n int) *memStore {
		m := &memStore{}
		for i := range n {
			if _, err := m.AppendAudit(t.Context(), store.AuditRecord{Action: "x.y", Target: string(rune('a' + i)), At: t0}); err != nil {
				t.Fatal(err)
			}
		}
		return m
	}
	tests := []struct {
		name  string
		setup func() *memStore
		want  Result
	}{
		{"empty", func() *memStore { return &memStore{} }, Result{OK: true}},
		{"intact", func() *memStore { return fill(7) }, Result{OK: true, Records: 7}},
		{"appends during the walk", func() *memStore {
			m := fill(5)
			// Another replica appends after every page read.
			m.listHook = func(store.AuditFilter) {
				_, _ = m.AppendAudit(t.Context(), store.AuditRecord{Action: "x.y", At: t0})
			}
			return m
		}, Result{OK: true, Records: 5}},
		{"altered", func() *memStore {
			m := fill(5)
			m.recs[1].Target = "z"
			return m
		}, Result{Records: 1, FirstBad: 2, Problem: Altered}},
		{"removed", func() *memStore {
			m := fill(5)
			m.recs = append(m.recs[:2], m.recs[3:]...)
			return m
		}, Result{Records: 2, FirstBad: 3, Problem: Removed}},
		{"removed at the end", func() *memStore {
			m := fill(5)
			m.recs = m.recs[:3]
			return m
		}, Result{Records: 3, FirstBad: 4, Problem: Removed}},
		{"inserted past the head", func() *memStore {
			m := fill(3)
			r := m.recs[2]
			r.Seq, r.PrevHash = 4, r.Hash
			r.Hash = store.AuditHash(r)
			m.recs = append(m.recs, r)
			return m
		}, Result{Records: 3, FirstBad: 4, Problem: Inserted}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.setup()
			got, err := Verify(t.Context(), m, 2)
			if err != nil {
				t.Fatal(err)
			}
			got.Reason = ""
			if got != tt.want {
				t.Errorf("Verify = %+v, want %+v", got, tt.want)
			}
		})
	}

	m := fill(2)
	m.listErr = store.ErrUnavailable
	if _, err := Verify(t.Context(), m, 0); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Verify over a failing store = %v, want ErrUnavailable", err)
	}
}

func TestResultString(t *testing.T) {
	for _, tt := range []struct {
		r    Result
		want string
	}{
		{Result{OK: true, Records: 12}, "audit chain OK: 12 records"},
		{Result{OK: true, Records: 12, Pending: 2}, "audit chain OK: 12 records (2 records of committed writes wait in the outbox to be chained)"},
		{Result{OK: true, Records: 12, Pending: 1}, "audit chain OK: 12 records (1 record of a committed write waits in the outbox to be chained)"},
		{Result{FirstBad: 123, Problem: Altered, Reason: "its contents do not match its hash"}, "audit chain BROKEN at record 123: its contents do not match its hash"},
	} {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}
