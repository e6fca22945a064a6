package stats

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	lat := make([]time.Duration, 100)
	for i := range lat {
		lat[i] = time.Duration(100-i) * time.Millisecond
	}
	got := Summarise(lat)
	want := Latencies{P50Ms: 50, P90Ms: 90, P99Ms: 99, MaxMs: 100}
	if got != want {
		t.Errorf("Summarise = %+v, want %+v", got, want)
	}
	if Percentile(nil, 50) != 0 {
		t.Error("empty: want 0")
	}
}
