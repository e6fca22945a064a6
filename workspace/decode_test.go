package workspace

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/store"
)

// decodeTicket reads with segmentio's decoder what encoding/json wrote: it
// must read it as encoding/json does.
func TestDecodeTicketAsEncodingJSON(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 30, 0, 123456789, time.FixedZone("x", 3600))
	tickets := []Ticket{
		{ID: "T-1", Customer: "acme", Category: "billing", Priority: "high", Status: StatusTriaged, Summary: "refund ✓ \u00e9",
			RefundAmount: 1234.5, Version: 3, CreatedAt: at, UpdatedAt: at.Add(time.Minute)},
		{ID: "T-2", Summary: "quotes \" and \\ and \u2028", Escalated: true, EscalationReason: "over limit", Resolution: "paid",
			Approval: &Approval{NegotiationID: "neg-1", Status: "agreed", Decision: "approved", Terms: json.RawMessage(`{"amount":350.5}`),
				Rounds: 2, Reason: "r", DecidedBy: "agents", DecidedAt: &at},
			GeneratedSummary: &GeneratedSummary{Text: "s", Model: "m", Source: "sampling", At: at}},
		{ID: "T-3", Approval: &Approval{Decision: "pending_human"}},
	}
	for _, in := range tickets {
		data, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		rec := store.Ticket{ID: in.ID, Version: in.Version, Status: string(in.Status), Data: data, CreatedAt: in.CreatedAt, UpdatedAt: in.UpdatedAt}
		got, err := decodeTicket(rec)
		if err != nil {
			t.Fatalf("decodeTicket(%s): %v", data, err)
		}
		var want Ticket
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatal(err)
		}
		want.ID, want.Version, want.Status, want.CreatedAt, want.UpdatedAt = rec.ID, rec.Version, Status(rec.Status), rec.CreatedAt, rec.UpdatedAt
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("decodeTicket(%s) differs from encoding/json (-want +got):\n%s", data, diff)
		}
	}
	if _, err := decodeTicket(store.Ticket{ID: "T-9", Data: []byte(`{"summary": 3}`)}); err == nil {
		t.Error("decodeTicket of a document of the wrong shape: no error")
	}
}

func BenchmarkDecodeTicket(b *testing.B) {
	at := time.Date(2026, 12, 7, 10, 30, 0, 0, time.UTC)
	data, err := json.Marshal(Ticket{ID: "T-1001", Customer: "acme", Category: "billing", Priority: "high", Status: StatusTriaged,
		Summary: "Customer was charged twice for the December invoice", RefundAmount: 120, Version: 4, CreatedAt: at, UpdatedAt: at})
	if err != nil {
		b.Fatal(err)
	}
	rec := store.Ticket{ID: "T-1001", Version: 4, Status: "open", Data: data, CreatedAt: at, UpdatedAt: at}
	b.Run("segmentio", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeTicket(rec); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		for b.Loop() {
			var t Ticket
			if err := json.Unmarshal(rec.Data, &t); err != nil {
				b.Fatal(err)
			}
		}
	})
}
