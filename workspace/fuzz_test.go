package workspace_test

import (
	"errors"
	"math"
	"testing"
	"unicode/utf8"

	"github.com/parleyhq/parley/internal/textcheck"
	"github.com/parleyhq/parley/workspace"
)

// FuzzSaveTicket checks the validators at the edge of the workspace: any
// input is either refused as invalid, or stored and read back unchanged.
func FuzzSaveTicket(f *testing.F) {
	f.Add("T-1", "acme", "billing", "high", "charged twice", 350.0, "new")
	f.Add("", "", "", "", "", 0.0, "")
	f.Add("T 1", "a", "b", "critical", "s", -1.0, "done")
	f.Add("T-2", "a\xff", "b", "low", "s", math.Inf(1), "triaged")
	f.Add("T-3", "acme", "billing\u202e", "low", "a\x1b[0m", 5000.0, "resolved")
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
			if !errors.Is(err, workspace.ErrInvalid) && !errors.Is(err, workspace.ErrInvalidTransition) && !errors.Is(err, workspace.ErrConfirmationRequired) {
				t.Fatalf("SaveTicket(%+v) failed with a non-validation error: %v", in, err)
			}
			return
		}
		if !utf8.ValidString(customer) || refund < 0 || math.IsNaN(refund) ||
			textcheck.Line(customer) != nil || textcheck.Line(category) != nil || textcheck.Text(summary) != nil {
			t.Fatalf("accepted invalid input %+v", in)
		}
		if got.Status == workspace.StatusResolved && refund > workspace.DefaultConfirmRefundAbove {
			t.Fatalf("resolved with a refund of %v and no confirmation", refund)
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
