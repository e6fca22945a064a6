// Package agents holds three example A2A agents for Parley's support
// pipeline, each a real a2a-go v2 server with a deterministic policy and
// no model. Each serves A2A 1.0 on JSON-RPC (at the root) and HTTP+JSON
// (under /rest), and A2A 0.3 JSON-RPC (at /v0.3, and at the root for a
// request without an A2A-Version header), with a card at the well-known
// path that lists every interface and carries the 0.3 fields too:
//
//   - triage reads a ticket (a text part, or a data part holding a ticket
//     object or a summary) and answers with a completed task whose
//     artifact holds its category, priority, sentiment and rationale, as a
//     data part and as text.
//   - billing and escalation negotiate a refund through Parley's
//     negotiation extension (urn:parley:a2a:negotiation:v1, see
//     NEGOTIATION.md and api/negotiation.schema.json), which their cards
//     declare. Each turn is a blocking SendMessage (0.3: message/send)
//     carrying a parley.negotiation.turn data part; the agent answers with
//     a message holding one parley.negotiation.move data part (and a text
//     part saying the same for people), always with a move in
//     allowed_moves.
//
// # Policies
//
// Customers come from a built-in table keyed by the ticket's customer name
// (case-insensitive; see [Customers]), or, for a name not in it, from a
// profile derived from a hash of the name, so every name always gets the
// same tenure and lifetime value. A customer is high-value with 5 or more
// years of tenure or 10,000 or more lifetime value, new with less than a
// year and less than 1,000, standard otherwise.
//
// billing opens by proposing the refund the ticket asks for
// (subject.snapshot.refund_amount), giving the customer's tenure and
// lifetime value as its rationale. Facing terms of the other side it
// accepts when the standing amount is at least AcceptRatio (default 0.6)
// of its own last ask (its last proposal or counter, or the refund asked
// for), and otherwise counters at the midpoint between its last ask and
// the standing amount, rounded to cents.
//
// escalation approves up to a limit: BaseLimit (default 200) times
// HighValueFactor (default 1.75) for a high-value customer, times
// NewCustomerFactor (default 0.5) for a new one. It accepts standing terms
// at or under its limit, counters with its limit above it, and rejects
// anything over HardCap (default 2000). Opening, it proposes its limit, or
// the refund asked for when that is lower. With ConcessionStep > 0 it
// concedes gradually instead: on its k-th move it goes up to
// min(limit, k×ConcessionStep), accepting at or under that and otherwise
// countering with it.
//
// # The demo negotiation (3 moves)
//
// Ticket T-42 of customer "acme" (a 6-year customer with 12,000 lifetime
// value: high-value, so escalation's limit is 200×1.75 = 350) asks for a
// refund of 500, billing opening, default options:
//
//	round 1 billing    propose 500.00  (6-year customer, 12k lifetime value)
//	round 2 escalation counter 350.00  (policy cap for a high-value customer)
//	round 3 billing    accept  350.00  (350 ≥ 0.6×500)
//
// # A 6-move negotiation
//
// The same ticket with billing's AcceptRatio 0.9 and escalation's
// ConcessionStep 120 (everything else default) takes exactly 6 moves, the
// most the default max_rounds allows, and ends in agreement on 275.00:
//
//	round 1 billing    propose 500.00
//	round 2 escalation counter 120.00  (step 1: up to 120)
//	round 3 billing    counter 310.00  (120 < 0.9×500: midpoint of 500 and 120)
//	round 4 escalation counter 240.00  (step 2: up to 240)
//	round 5 billing    counter 275.00  (240 < 0.9×310: midpoint of 310 and 240)
//	round 6 escalation accept  275.00  (step 3: up to min(350, 360) = 350)
//
// [SixMoveOptions] returns these options.
//
// # Resends, corrective turns, the journal
//
// A turn resent with the same messageId (Parley retries after a transport
// failure or a timeout) is answered from a bounded cache with the same
// move, without deciding again; a resend that arrives while the first copy
// is still being decided waits for it. A corrective turn (messageId ending
// in /c1) is decided afresh; if it carries no turn data part the agent
// decides on the turn it corrects. Every turn actually decided writes one
// JSON line to Options.Journal: {"agent", "message_id", "negotiation_id",
// "round", "move", "terms"}, so a test can prove that no messageId was
// acted on twice. A message that is not a negotiation turn gets a plain
// text answer.
package agents
