package workspace

import (
	"errors"
	"fmt"
	"math"
)

// DefaultConfirmRefundAbove is the refund above which resolving a ticket
// needs a person's confirmation when Options.ConfirmRefundAbove is unset.
const DefaultConfirmRefundAbove = 500.0

// ErrConfirmationRequired matches a *ConfirmationRequiredError.
var ErrConfirmationRequired = errors.New("refund needs a person's confirmation")

// Confirmation is a person's consent to resolve a ticket with a refund
// above the threshold. It binds the refund amount and the ticket version
// the person was shown: a write that would resolve the ticket with another
// amount, or from another version, is refused. Since every write of a
// ticket is an optimistic update at the version it read and moves the
// version on, a confirmation can be used at most once, on any replica and
// after any restart.
//
// Protocol adapters make one only after a person accepted, such as MCP's
// elicitation in save_resolution; the workspace cannot see the person, so
// it checks what it can.
type Confirmation struct {
	// Amount is the refund the person confirmed.
	Amount float64 `json:"amount"`
	// Version is the ticket version the person was shown.
	Version int64 `json:"version"`
	// By names who confirmed, as the adapter knows them.
	By string `json:"by"`
	// Via says how they were asked, e.g. "mcp elicitation".
	Via string `json:"via"`
}

// ConfirmationRequiredError refuses a write that would resolve a ticket
// with a refund above the threshold without a matching confirmation.
type ConfirmationRequiredError struct {
	// Ticket is the ticket as it stands: the version and refund a person
	// must be asked to confirm. Version 0 for a ticket being created.
	Ticket Ticket
	// Amount is the refund the write would resolve the ticket with.
	Amount    float64
	Threshold float64
	// Given is the confirmation the write carried, if any: for another
	// amount or version.
	Given *Confirmation
}

func (e *ConfirmationRequiredError) Error() string {
	msg := fmt.Sprintf("ticket %q: a refund of %.2f is above %.2f, so a person must confirm it before the ticket is resolved",
		e.Ticket.ID, e.Amount, e.Threshold)
	if e.Given != nil {
		msg += fmt.Sprintf("; the confirmation given was for a refund of %.2f at version %d, and the ticket is at version %d",
			e.Given.Amount, e.Given.Version, e.Ticket.Version)
		if e.Given.Amount != e.Amount {
			msg += fmt.Sprintf(" with a refund of %.2f", e.Amount)
		}
	}
	return msg
}

// Is makes errors.Is(err, ErrConfirmationRequired) true.
func (e *ConfirmationRequiredError) Is(target error) bool { return target == ErrConfirmationRequired }

// needsConfirmation reports whether resolving with refund needs a person's
// confirmation. It is written to fail closed: a threshold that is not a
// number (NaN) makes every refund need one.
func (w *Workspace) needsConfirmation(refund float64) bool {
	limit := *w.opts.ConfirmRefundAbove
	if limit < 0 {
		return false // confirmation switched off
	}
	return refund > 0 && !(refund <= limit)
}

// checkConfirmation enforces the refund-confirmation rule on a write that
// turns cur into next (cur has version 0 on create). A ticket is resolved
// with a refund above the threshold (resolving: SaveResolution, also of a
// ticket resolved before), enters resolved with one, or has it changed
// while resolved, only with a confirmation of exactly that refund given at
// exactly cur's version. It returns the confirmation to record, nil when
// none was needed.
func (w *Workspace) checkConfirmation(cur, next Ticket, c *Confirmation, resolving bool) (*Confirmation, error) {
	if next.Status != StatusResolved || !w.needsConfirmation(next.RefundAmount) {
		return nil, nil
	}
	if !resolving && cur.Version > 0 && cur.Status == StatusResolved && cur.RefundAmount == next.RefundAmount {
		return nil, nil // confirmed when it was resolved; this write changes other things
	}
	if c != nil && c.Version == cur.Version && c.Amount == next.RefundAmount && !math.IsNaN(c.Amount) {
		if err := checkLine("confirmation.by", c.By, MaxShortLen); err != nil {
			return nil, err
		}
		if err := checkLine("confirmation.via", c.Via, MaxShortLen); err != nil {
			return nil, err
		}
		if c.By == "" {
			return nil, invalid("confirmation.by", "must name who confirmed")
		}
		return c, nil
	}
	return nil, &ConfirmationRequiredError{Ticket: cur, Amount: next.RefundAmount, Threshold: *w.opts.ConfirmRefundAbove, Given: c}
}
