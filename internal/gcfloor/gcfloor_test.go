package gcfloor

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name        string
		floor       int64
		base        int
		live, roots uint64
		want        int
	}{
		{"small heap: the goal is raised to the floor", 64 * mib, 100, 4 * mib, 0, 1500},
		{"roots count as scanned", 64 * mib, 100, 4 * mib, 4 * mib, 750},
		{"rounded up, never below the floor", 10 * mib, 100, 3 * mib, 0, 234},
		{"the base already reaches the floor", 64 * mib, 100, 32 * mib, 0, 100},
		{"live heap above the floor", 64 * mib, 100, 100 * mib, 0, 100},
		{"a higher base is kept", 64 * mib, 2000, 4 * mib, 0, 2000},
		{"GOGC=off stays off", 64 * mib, -1, 4 * mib, 0, -1},
		{"no floor", 0, 100, 4 * mib, 0, 100},
		{"nothing scanned yet", 64 * mib, 100, 0, 0, maxPercent},
		{"bounded", 1 << 40, 100, 1, 0, maxPercent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percent(tc.floor, tc.base, tc.live, tc.roots); got != tc.want {
				t.Errorf("Percent(%d, %d, %d, %d) = %d, want %d", tc.floor, tc.base, tc.live, tc.roots, got, tc.want)
			}
		})
	}
}

// A hold raises the GC percent after the next cycle, the highest floor
// held wins, and the percent is back to what it was once the last hold
// is released.
func TestHold(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })

	adjusted := make(chan int, 1)
	state.mu.Lock()
	state.adjusted = func(p int) {
		select {
		case adjusted <- p:
		default:
		}
	}
	state.mu.Unlock()
	t.Cleanup(func() {
		state.mu.Lock()
		state.adjusted = nil
		state.mu.Unlock()
	})
	// next runs collections until a cycle's adjustment is reported: the
	// cleanup runs on the runtime's goroutine after a cycle ends.
	next := func() int {
		for {
			runtime.GC()
			select {
			case p := <-adjusted:
				return p
			default:
			}
		}
	}

	releaseLow := Hold(256 << 20)
	low := next()
	if low <= 100 {
		t.Fatalf("percent with a 256 MiB floor = %d, want above 100 for this test's heap", low)
	}
	if got := currentPercent(); got != low {
		t.Errorf("GC percent in force = %d, want %d", got, low)
	}
	releaseHigh := Hold(1 << 30)
	if high := next(); high <= low {
		t.Errorf("percent with a 1 GiB floor held too = %d, want above %d", high, low)
	}
	releaseHigh()
	releaseHigh() // idempotent
	if again := next(); again >= low*2 {
		t.Errorf("percent after the 1 GiB hold ended = %d, want about %d", again, low)
	}
	releaseLow()
	if got := currentPercent(); got != 100 {
		t.Errorf("GC percent after the last release = %d, want 100", got)
	}
	// The armed cleanup stops at the next cycle.
	runtime.GC()
	runtime.GC()
	if got := currentPercent(); got != 100 {
		t.Errorf("GC percent two cycles after the last release = %d, want 100", got)
	}
}

func TestHoldNothing(t *testing.T) {
	before := currentPercent()
	Hold(0)()
	Hold(-1)()
	if got := currentPercent(); got != before {
		t.Errorf("GC percent = %d, want %d", got, before)
	}
}
