package api

// AuditVerification is the result of verifying the audit chain,
// GET /api/v1/audit/verify.
type AuditVerification struct {
	OK bool `json:"ok"`
	// Records is how many records were verified intact.
	Records int64 `json:"records"`
	// FirstBad is the seq of the first record found altered, removed or
	// inserted; Problem says which.
	FirstBad int64  `json:"first_bad,omitempty"`
	Problem  string `json:"problem,omitempty"`
	// Summary is the one-line report for a person.
	Summary string `json:"summary"`
	// Pending counts records of committed writes not yet chained.
	Pending int64 `json:"pending,omitempty"`
}
