package workspace_test

import (
	"errors"
	"math"
	"testing"
	"unicode/utf8"

	"github.com/parleyhq/parley/workspace"
)

// FuzzSaveTicket checks the validators at the edge of the workspace: any
// input is either refused as invalid, or stored and read back unchanged.
func FuzzSaveTicket(f *testing.F) {
	f.Add("T-1", "acme", "billing", "high", "charged twice", 350.0, "new")
	f.Add("", "", "", "", "", 0.0, "")
	f.Add("T 1", "a", "b", "critical", "s", -1.0, "done")
	f.Add("T-2", "a\xff", "b", "low", "s", math.Inf(1), "triaged")
	ws, _, _ := newWorkspaceTB(f)
	f.Fuzz(func(t *testing.T, id, customer, category, priority, summary string, refund float64, status string) {
		in := workspace.TicketInput{ID: id, Customer: &customer, Category: &category, Priority: &priority,
			Summary: &summary, RefundAmount: &refund}
		if status != "" {
			s := workspace.Status(status)
			in.Status = &s
		}
		got, created, err := ws.SaveTicket(t.Context(), "fuzz", in)
		if err != nil {
			if !errors.Is(err, workspace.ErrInvalid) && !errors.Is(err, workspace.ErrInvalidTransition) {
				t.Fatalf("SaveTicket(%+v) failed with a non-validation error: %v", in, err)
			}
			return
		}
		if !utf8.ValidString(customer) || refund < 0 || math.IsNaN(refund) {
			t.Fatalf("accepted invalid input %+v", in)
		}
		back, err := ws.GetTicket(t.Context(), got.ID)
		if err != nil {
			t.Fatalf("read back %s: %v", got.ID, err)
		}
		if back.Customer != customer || back.Category != category || back.Priority != priority || back.Summary != summary || back.RefundAmount != refund {
			t.Fatalf("stored %+v, read back %+v (created=%v)", got, back, created)
		}
	})
}
