package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// KindNegotiation is the change kind of a write to a negotiation: the key
// is its ID, the version its record version.
const KindNegotiation = "negotiation"

// Negotiation states as the store sees them. Only NegotiationRunning is
// claimable; the domain's finer statuses live in Data.
const (
	// NegotiationRunning: turns remain to be sent, or an outcome remains to
	// be written back. A runner holds it under a lease.
	NegotiationRunning = "running"
	// NegotiationPendingHuman: waiting for a person to decide; nobody
	// holds it.
	NegotiationPendingHuman = "pending_human"
	// NegotiationDone: the outcome is written back; nothing more happens.
	NegotiationDone = "done"
)

// ErrNoNegotiation: no negotiation is ready to be claimed.
var ErrNoNegotiation = errors.New("no negotiation ready to claim")

// Negotiation is the stored form of a negotiation. Data holds its whole
// state as JSON, owned by package negotiation; the other fields are what
// the store filters, leases and versions by.
type Negotiation struct {
	ID string
	// SubjectKind and SubjectID name what is negotiated about
	// ("ticket", "T-42").
	SubjectKind string
	SubjectID   string
	// TriggerKey, when set, is unique among all negotiations: a rule
	// firing on one subject version ("rule/ticket/T-42/7") creates at most
	// one negotiation, whichever replica gets there first.
	TriggerKey string
	// State is one of the Negotiation* states.
	State string
	Data  json.RawMessage
	// Version counts writes: 1 after creation.
	Version int64
	// LeaseOwner holds the negotiation until LeaseExpires; empty when
	// nobody does.
	LeaseOwner   string
	LeaseExpires time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// NegotiationFilter selects negotiations for listing. Empty fields match
// everything.
type NegotiationFilter struct {
	SubjectKind string
	SubjectID   string
	States      []string
	// After is the ID of the last negotiation of the previous page;
	// negotiations are listed by ID.
	After string
	// Limit caps the page; values <= 0 mean 50.
	Limit int
}

// Negotiations keeps negotiations and leases them to the replicas that run
// them.
type Negotiations interface {
	// CreateNegotiation stores a new negotiation at version 1, as of
	// n.CreatedAt (also its UpdatedAt), with no lease, and emits a
	// KindNegotiation change. It fails with ErrExists if the ID, or a
	// non-empty TriggerKey, is taken (the message says which). The ID must
	// not be empty, and State (here and in UpdateNegotiation) must be one
	// of the Negotiation* states. Times are kept to the microsecond.
	CreateNegotiation(ctx context.Context, n Negotiation) (Negotiation, error)
	// GetNegotiation returns a negotiation, or ErrNotFound.
	GetNegotiation(ctx context.Context, id string) (Negotiation, error)
	// GetNegotiationByTrigger returns the negotiation with that TriggerKey,
	// or ErrNotFound.
	GetNegotiationByTrigger(ctx context.Context, triggerKey string) (Negotiation, error)
	// ListNegotiations lists negotiations by ID, and whether more follow.
	ListNegotiations(ctx context.Context, f NegotiationFilter) ([]Negotiation, bool, error)
	// ClaimNegotiation leases to owner, until now+ttl, the running
	// negotiation that has waited longest (by UpdatedAt) among those whose
	// lease is free or expired at now (LeaseExpires <= now). It fails
	// with ErrNoNegotiation if there is none. The claim bumps no version,
	// leaves UpdatedAt alone and emits no change. Concurrent claims, also
	// from replicas sharing the database, never hand one negotiation to
	// two owners while its lease is live. owner must not be empty.
	ClaimNegotiation(ctx context.Context, owner string, now time.Time, ttl time.Duration) (Negotiation, error)
	// UpdateNegotiation writes n.State and n.Data, as of n.UpdatedAt, if
	// the stored version is still expected; it bumps the version and emits
	// a KindNegotiation change. With an owner, the write also requires
	// that owner to hold an unexpired lease at now, and extends it to
	// now+ttl (a write that leaves the state other than running releases
	// the lease instead). Without one (""), the negotiation must not be
	// leased by anyone at now (an expired lease is cleared). It fails with
	// ErrNotFound, then ErrLeaseLost, then a *VersionConflictError
	// (ErrVersionConflict), checked in that order: a runner that lost its
	// lease is told so rather than invited to re-read and retry.
	UpdateNegotiation(ctx context.Context, n Negotiation, expected int64, owner string, now time.Time, ttl time.Duration) (Negotiation, error)
	// RenewNegotiationLease extends owner's unexpired lease to now+ttl
	// without a new version and emits no change; ErrLeaseLost if owner
	// does not hold it, ErrNotFound if there is no such negotiation.
	RenewNegotiationLease(ctx context.Context, id, owner string, now time.Time, ttl time.Duration) error
	// ReleaseNegotiationLease gives up owner's lease so that another
	// runner may claim it at once; a lease owner no longer holds is left
	// alone (no error), as is an unknown ID. It bumps no version and emits
	// no change.
	ReleaseNegotiationLease(ctx context.Context, id, owner string) error
}
