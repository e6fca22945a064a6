// Package stats summarises the latencies a benchmark collected.
package stats

import (
	"slices"
	"time"
)

// Percentile is the nearest-rank percentile (0–100) of sorted.
func Percentile(sorted []time.Duration, pct float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(pct/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// Ms is d in milliseconds.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Latencies are the usual percentiles, in milliseconds.
type Latencies struct {
	P50Ms float64 `json:"p50_ms"`
	P90Ms float64 `json:"p90_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}

// Summarise sorts lat in place and returns its percentiles.
func Summarise(lat []time.Duration) Latencies {
	if len(lat) == 0 {
		return Latencies{}
	}
	slices.Sort(lat)
	return Latencies{
		P50Ms: Ms(Percentile(lat, 50)), P90Ms: Ms(Percentile(lat, 90)),
		P99Ms: Ms(Percentile(lat, 99)), MaxMs: Ms(lat[len(lat)-1]),
	}
}
