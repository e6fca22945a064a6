package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Audit outcomes. Other values are allowed; these are the ones Parley
// writes.
const (
	AuditOK     = "ok"
	AuditError  = "error"
	AuditDenied = "denied"
)

// AuditRecord is one entry of the tamper-evident audit log: who did what,
// when, with what outcome, and how it links to other entries. Records form
// a hash chain: each one's Hash covers its fields and the Hash of the
// record before it (PrevHash), so that altering, removing or inserting a
// record shows when the chain is walked (package audit's Verify).
type AuditRecord struct {
	// Seq is the record's position in the chain: 1 for the first record,
	// then one more for each append, without gaps. AppendAudit assigns it.
	Seq int64
	// At is when it happened, as the caller's clock says (kept at
	// microsecond precision). Replicas' clocks may disagree a little, so
	// At is not strictly increasing along the chain; Seq is.
	At time.Time

	// The principal: the token's subject and the OAuth client it was
	// issued to (either may be empty, e.g. in no-auth mode).
	Subject string
	Client  string

	// Action is what was done, as a dotted name: mcp.tool_call,
	// a2a.message, a2a.relay, agent.register, agent.approve, agent.remove,
	// negotiation.move, negotiation.decision, policy.denial, …. Required.
	Action string
	// Target is what it was done to: a tool name, an agent name, a task ID.
	Target string
	// TicketID is the ticket it concerns, if any, so that a ticket's
	// records can be listed together.
	TicketID string
	// Outcome is AuditOK, AuditError or AuditDenied (or another word).
	Outcome string
	// Detail is a JSON document with whatever else matters (for a denial,
	// the rule that decided it); nil for none. It is hashed as stored, byte
	// for byte.
	Detail json.RawMessage

	// Links to other records. Parent is the Seq of the record this one
	// follows from (0 for none); the correlation IDs tie together records
	// written by different parts of the gateway for the same MCP request,
	// A2A task or negotiation.
	Parent        int64
	RequestID     string
	TaskID        string
	NegotiationID string

	// PrevHash is the Hash of the record at Seq-1 ("" for the first);
	// Hash is AuditHash of this record. AppendAudit sets both.
	PrevHash string
	Hash     string
}

// AuditHashVersion tags the canonical encoding AuditHash uses. A new
// encoding gets a new tag, so that old records still verify.
const AuditHashVersion = "parley.audit.v1"

// AuditEncoding is the canonical encoding of r that AuditHash hashes,
// version "parley.audit.v1". It is meant to be recomputed by verifiers in
// any language, so here it is in full.
//
// The encoding is a sequence of fields. Each field is written as its length
// in bytes, an unsigned 64-bit big-endian integer, followed by the field's
// bytes. Text is UTF-8; numbers are written in decimal ASCII (a leading "-"
// if negative, no leading zeros, "0" for zero). The fields, in this order:
//
//  1. the version tag, "parley.audit.v1"
//  2. seq
//  3. at, as Unix time in microseconds
//  4. subject
//  5. client
//  6. action
//  7. target
//  8. ticket_id
//  9. outcome
//  10. detail, the JSON document byte for byte as stored (empty for none)
//  11. parent ("0" for none)
//  12. request_id
//  13. task_id
//  14. negotiation_id
//  15. prev_hash, lower-case hex ("" for the first record)
//
// The record's hash is the lower-case hex SHA-256 of the encoding. These are
// exactly the columns of the audit_log table (at in Unix microseconds),
// so a verifier can read the table, or the admin API's records (whose at
// is RFC 3339 with microseconds), and recompute every hash.
func AuditEncoding(r AuditRecord) []byte {
	fields := [...]string{
		AuditHashVersion,
		strconv.FormatInt(r.Seq, 10),
		strconv.FormatInt(r.At.UnixMicro(), 10),
		r.Subject,
		r.Client,
		r.Action,
		r.Target,
		r.TicketID,
		r.Outcome,
		string(r.Detail),
		strconv.FormatInt(r.Parent, 10),
		r.RequestID,
		r.TaskID,
		r.NegotiationID,
		r.PrevHash,
	}
	n := 0
	for _, f := range fields {
		n += 8 + len(f)
	}
	out := make([]byte, 0, n)
	for _, f := range fields {
		out = binary.BigEndian.AppendUint64(out, uint64(len(f)))
		out = append(out, f...)
	}
	return out
}

// AuditHash is the hash of r for the chain: the lower-case hex SHA-256 of
// AuditEncoding(r). r.Hash itself is not covered.
func AuditHash(r AuditRecord) string {
	sum := sha256.Sum256(AuditEncoding(r))
	return hex.EncodeToString(sum[:])
}

// CheckAuditRecord reports why r cannot be appended as it is: a missing
// action, text that is not valid UTF-8 or holds a NUL byte (which not
// every backend can store, and which would then hash differently from
// what was stored), or a Detail that is not JSON. Package audit cleans
// entries so that this never fails for them.
func CheckAuditRecord(r AuditRecord) error {
	if r.Action == "" {
		return errors.New("audit record: the action is empty")
	}
	for _, f := range []struct{ name, value string }{
		{"subject", r.Subject}, {"client", r.Client}, {"action", r.Action}, {"target", r.Target},
		{"ticket_id", r.TicketID}, {"outcome", r.Outcome}, {"request_id", r.RequestID},
		{"task_id", r.TaskID}, {"negotiation_id", r.NegotiationID},
	} {
		if !utf8.ValidString(f.value) || strings.ContainsRune(f.value, 0) {
			return fmt.Errorf("audit record: %s is not valid UTF-8 text without NUL bytes", f.name)
		}
	}
	if len(r.Detail) > 0 && (!json.Valid(r.Detail) || !utf8.Valid(r.Detail)) {
		return errors.New("audit record: the detail is not a valid JSON document")
	}
	return nil
}

// AuditFilter selects audit records for listing. Empty fields match
// everything; set fields must all match.
type AuditFilter struct {
	TicketID string
	// Subject is the principal's subject; Client its OAuth client.
	Subject string
	Client  string
	// Action matches exactly, or, ending in ".*", every action with that
	// prefix ("negotiation.*" matches negotiation.move and
	// negotiation.decision).
	Action        string
	Outcome       string
	Parent        int64
	RequestID     string
	TaskID        string
	NegotiationID string
	// Since (inclusive) and Until (exclusive) bound At; zero means
	// unbounded.
	Since, Until time.Time
	// Newest lists the newest records first (by Seq); the default is
	// oldest first.
	Newest bool
	// After is the Seq of the last record of the previous page: the
	// listing continues past it, in the listing's order. 0 starts at the
	// beginning.
	After int64
	// Limit caps the page; values <= 0 mean 100.
	Limit int
}

// AuditChainHead is the end of the chain as the store records it beside
// the records: how many were appended, and the last one's hash. It lets a
// verifier notice records removed from the end, or a last record altered
// and re-hashed.
type AuditChainHead struct {
	Seq  int64
	Hash string
}

// ChainAudit puts rs, in order, at the end of the chain whose head is
// head: it assigns each its Seq, PrevHash and Hash, and returns the new
// head. Stores call it inside the transaction that holds the head.
func ChainAudit(head AuditChainHead, rs []AuditRecord) AuditChainHead {
	for i := range rs {
		rs[i].Seq, rs[i].PrevHash = head.Seq+1, head.Hash
		rs[i].Hash = AuditHash(rs[i])
		head = AuditChainHead{Seq: rs[i].Seq, Hash: rs[i].Hash}
	}
	return head
}

// Audit keeps the audit log. Appends are serialized across every replica
// sharing the store, so that the chain is one line; they are not
// workspace changes and emit nothing on the Feed. Records are never
// updated or deleted through the store. (Records committed with writes
// wait, unchained, in the outbox until moved into the chain: see
// AuditOutbox.)
type Audit interface {
	// AppendAudit adds r at the end of the chain: it assigns Seq, PrevHash
	// and Hash (ignoring any given) in one transaction with updating the
	// chain head, and returns the record as stored. It fails with
	// CheckAuditRecord's error if that refuses r (taking no place in the
	// chain), and with ErrCorrupt if the chain head is missing.
	AppendAudit(ctx context.Context, r AuditRecord) (AuditRecord, error)
	// AppendAuditBatch adds rs at the end of the chain, in order, as
	// AppendAudit would one after the other, but in one transaction: every
	// record is stored, consecutively, or none is. The chain is linked
	// onto the head as it stands inside that transaction (whatever other
	// replicas appended before), so a batch never forks it. It returns the
	// records as stored. If CheckAuditRecord refuses any record, none is
	// stored and the error says which.
	AppendAuditBatch(ctx context.Context, rs []AuditRecord) ([]AuditRecord, error)
	// ListAudit returns the records matching f ordered by Seq, and whether
	// more follow.
	ListAudit(ctx context.Context, f AuditFilter) (records []AuditRecord, more bool, err error)
	// AuditHead returns the chain head. ErrCorrupt if it is missing.
	AuditHead(ctx context.Context) (AuditChainHead, error)
}
