package app_test

import (
	"net/http"
	"runtime"
	"runtime/metrics"
	"testing"
)

// gcPercent is the GC percent in force.
func gcPercent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(int64(s[0].Value.Uint64()))
}

// raisedWithin runs up to n collection cycles and reports whether the GC
// percent went above base after one of them (the floor is adjusted by a
// cleanup the runtime runs after a cycle).
func raisedWithin(n, base int) bool {
	for range n {
		runtime.GC()
		runtime.Gosched()
		if gcPercent() > base {
			return true
		}
	}
	return false
}

// TestRunHoldsGCFloor: while the gateway runs, the GC percent is raised so
// that the heap may grow to the configured floor between cycles; once Run
// returns it is back to what it was; a GOGC in the environment turns the
// floor off.
func TestRunHoldsGCFloor(t *testing.T) {
	base := gcPercent()
	for _, tc := range []struct {
		name   string
		gogc   string
		floor  int64
		raised bool
	}{
		{name: "floor held", floor: 1 << 30, raised: true},
		{name: "GOGC set", gogc: "100", floor: 1 << 30},
		{name: "floor off", floor: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.gogc != "" {
				t.Setenv("GOGC", tc.gogc)
			}
			cfg := testConfig(t)
			cfg.GCHeapFloorBytes = tc.floor
			a := runApp(t, cfg) // stopped, and Run returned, when the subtest ends
			// Run holds the floor before it serves: once /readyz answers,
			// it is held (Build bound the listener, so the request waits
			// in the backlog until Run serves).
			resp, err := http.Get(a.URL + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := raisedWithin(50, base); got != tc.raised {
				t.Errorf("GC percent raised above %d while running: %t, want %t (now %d)", base, got, tc.raised, gcPercent())
			}
		})
		if got := gcPercent(); got != base {
			t.Errorf("%s: GC percent after Run = %d, want %d", tc.name, got, base)
		}
	}
}
