package audit

import (
	"context"
	"fmt"

	"github.com/parleyhq/parley/store"
)

// Problem says how the chain was found broken.
type Problem string

const (
	// Altered: a record's contents no longer match its hash, or a record
	// was changed and re-hashed (the next record, or the chain head, still
	// holds its former hash).
	Altered Problem = "altered"
	// Removed: a record is missing, inside the chain or at its end.
	Removed Problem = "removed"
	// Inserted: a record sits where the chain has no place for it.
	Inserted Problem = "inserted"
)

// Result is what Verify found.
type Result struct {
	// OK is true when every record is intact.
	OK bool
	// Records is how many records were verified intact: the whole chain
	// when OK, else those before FirstBad.
	Records int64
	// FirstBad is the Seq of the first record found altered, removed or
	// inserted; 0 when OK.
	FirstBad int64
	Problem  Problem
	// Reason explains it for a person.
	Reason string
	// Pending counts the records of committed writes that wait in the
	// store's outbox to be moved into the chain (by a running gateway's
	// appender, or the next one to start): they are not part of the chain
	// yet, so not verified. Counted after the walk, when OK.
	Pending int64
}

// String is the one-line report "gateway audit verify" prints.
func (r Result) String() string {
	if r.OK {
		if r.Pending > 0 {
			waiting := fmt.Sprintf("%d records of committed writes wait", r.Pending)
			if r.Pending == 1 {
				waiting = "1 record of a committed write waits"
			}
			return fmt.Sprintf("audit chain OK: %d records (%s in the outbox to be chained)", r.Records, waiting)
		}
		return fmt.Sprintf("audit chain OK: %d records", r.Records)
	}
	return fmt.Sprintf("audit chain BROKEN at record %d: %s", r.FirstBad, r.Reason)
}

// Verify walks the chain in st from the first record, pageSize records at
// a time (<= 0 means 500), recomputing each record's hash and checking its
// link to the one before, and reports the first record that does not hold
// up. An error means the walk could not be completed (the store failed),
// not that the chain is broken.
//
// Records appended while Verify runs are not a problem: the walk ends at
// the chain head read when it starts, and a record beyond it counts as
// inserted only if it is beyond the head read after it was seen.
func Verify(ctx context.Context, st store.Audit, pageSize int) (Result, error) {
	if pageSize <= 0 {
		pageSize = 500
	}
	head, err := st.AuditHead(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("verify audit chain: %w", err)
	}
	var (
		verified int64  // records verified so far: the next expected seq is verified+1
		prevHash string // the hash of record verified
		after    int64  // the listing cursor
	)
	bad := func(seq int64, p Problem, format string, args ...any) (Result, error) {
		return Result{Records: verified, FirstBad: seq, Problem: p, Reason: fmt.Sprintf(format, args...)}, nil
	}
walk:
	for {
		page, more, err := st.ListAudit(ctx, store.AuditFilter{After: after, Limit: pageSize})
		if err != nil {
			return Result{}, fmt.Errorf("verify audit chain: %w", err)
		}
		for _, r := range page {
			want := verified + 1
			switch {
			case r.Seq > head.Seq && want > head.Seq:
				// The end of the chain as it was when the walk began.
				break walk
			case r.Seq < want:
				return bad(r.Seq, Inserted, "record %d is not a position in the chain (it starts at 1); it was inserted", r.Seq)
			case r.Seq > want:
				if r.Seq-want == 1 {
					return bad(want, Removed, "record %d is missing: it was removed (the next record is %d)", want, r.Seq)
				}
				return bad(want, Removed, "records %d to %d are missing: they were removed (the next record is %d)", want, r.Seq-1, r.Seq)
			}
			if got := store.AuditHash(r); got != r.Hash {
				return bad(r.Seq, Altered, "its contents do not match its hash: it was altered (stored hash %s, contents hash to %s)", short(r.Hash), short(got))
			}
			if r.PrevHash != prevHash {
				if r.Seq == 1 {
					return bad(1, Altered, "the first record names a predecessor (prev_hash %s): it was altered or replaced", short(r.PrevHash))
				}
				// r is intact and was chained to a different hash:
				// its predecessor changed since, contents and hash both.
				return bad(r.Seq-1, Altered, "record %d was chained to hash %s but record %d has hash %s: record %d was altered and re-hashed, or replaced",
					r.Seq, short(r.PrevHash), r.Seq-1, short(prevHash), r.Seq-1)
			}
			verified, prevHash = r.Seq, r.Hash
		}
		if !more || len(page) == 0 {
			break
		}
		after = page[len(page)-1].Seq
	}
	if verified < head.Seq {
		if head.Seq-verified == 1 {
			return bad(verified+1, Removed, "record %d is missing from the end of the chain (the chain head says %d records): it was removed", head.Seq, head.Seq)
		}
		return bad(verified+1, Removed, "records %d to %d are missing from the end of the chain (the chain head says %d records): they were removed",
			verified+1, head.Seq, head.Seq)
	}
	if head.Hash != prevHash {
		return bad(head.Seq, Altered, "the chain head holds hash %s but record %d has hash %s: record %d was altered and re-hashed, or replaced",
			short(head.Hash), head.Seq, short(prevHash), head.Seq)
	}
	// A record past the head that was read: fine if the head has moved
	// past it since (appended during the walk), inserted if not.
	beyond, _, err := st.ListAudit(ctx, store.AuditFilter{After: head.Seq, Limit: 1})
	if err != nil {
		return Result{}, fmt.Errorf("verify audit chain: %w", err)
	}
	if head.Seq == 0 {
		// After 0 lists from the start; only records past the head count.
		for len(beyond) > 0 && beyond[0].Seq <= 0 {
			beyond = beyond[1:]
		}
	}
	if len(beyond) > 0 {
		now, err := st.AuditHead(ctx)
		if err != nil {
			return Result{}, fmt.Errorf("verify audit chain: %w", err)
		}
		if beyond[0].Seq > now.Seq {
			return bad(beyond[0].Seq, Inserted, "record %d is past the end of the chain (the chain head says %d records): it was inserted",
				beyond[0].Seq, now.Seq)
		}
	}
	res := Result{OK: true, Records: verified}
	if outbox, ok := st.(store.AuditOutbox); ok {
		if res.Pending, err = outbox.AuditOutboxLen(ctx); err != nil {
			return Result{}, fmt.Errorf("verify audit chain: %w", err)
		}
	}
	return res, nil
}

// short abbreviates a hash for messages.
func short(h string) string {
	if h == "" {
		return `""`
	}
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}
