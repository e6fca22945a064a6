package store

import (
	"context"
	"encoding/json"
	"time"
)

// MCPStreamCall is the call a durable session stream answers (a POST of a
// session whose stream outlived its response: see mcpbridge's EventStore),
// and the replica that runs it. A client whose stream was cut resumes it
// with Last-Event-ID on whichever replica the balancer picks; that replica
// follows the stream in the store while its owner runs, and takes the call
// over when the owner stopped (package mcpbridge, takeover.go).
type MCPStreamCall struct {
	Session, Stream string
	// Owner is the replica that runs the call (an ID each replica makes
	// up when it starts).
	Owner string
	// Request is the POST's body: the JSON-RPC request the stream answers.
	Request json.RawMessage
	// OwnerSeen is the owner's last heartbeat (MCPReplicas.BeatMCPReplica);
	// zero if it never beat, or stopped (EndMCPReplica).
	OwnerSeen time.Time
}

// MCPReplicas records which replica runs which durable session stream's
// call, and when each replica was last heard of, so that another replica
// can tell a call whose replica stopped from one still running.
type MCPReplicas interface {
	// BeatMCPReplica records that replica id is running at at.
	BeatMCPReplica(ctx context.Context, id string, at time.Time) error
	// EndMCPReplica records that replica id stopped: its calls may be taken
	// over at once.
	EndMCPReplica(ctx context.Context, id string) error
	// GetMCPStreamCall reads the call of a stream, with its owner's last
	// heartbeat. ErrNotFound if the stream has no call recorded (it is
	// the session's standalone stream, or only ever lived in a replica's
	// memory, or its session ended).
	GetMCPStreamCall(ctx context.Context, session, stream string) (MCPStreamCall, error)
	// TakeMCPStreamCall makes replica to the owner of a stream's call, if
	// from still owns it. ErrVersionConflict if another replica owns it
	// now; ErrNotFound if the stream has no call.
	TakeMCPStreamCall(ctx context.Context, session, stream, from, to string) error
	// SweepMCPReplicas forgets the replicas last heard of before since.
	SweepMCPReplicas(ctx context.Context, since time.Time) (int64, error)
}
