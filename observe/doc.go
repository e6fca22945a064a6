// Package observe is the set-up Parley's packages share to be watched:
// Prometheus metrics (Metrics: one registry per gateway, served at
// /metrics) and OpenTelemetry tracing (the tracer provider and the trace
// context in logs).
//
// It owns the plumbing only. Instruments are created where they are
// used: each package that counts something makes its counters and
// histograms on the Metrics it is given, in a file of its own
// (metrics.go), so that the names and labels sit next to the code they
// describe. Nothing of Parley's is imported here.
package observe
