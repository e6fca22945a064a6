// Package gcfloor keeps the Go heap's collection goal from falling below a
// floor while the live heap is small.
//
// The runtime's default pacing (GOGC=100) collects when the heap has grown
// by as much as survived the last cycle, with a 4 MiB minimum. A gateway's
// live heap is a few MiB, while each request allocates tens of KiB that
// die with it (go-sdk decodes every message with a 32 KiB buffer): at the
// default the collector runs every few dozen requests, and each cycle's
// fixed work (scanning every goroutine's stack and the globals, starting
// and stopping) is then a large part of the process's CPU. With a floor,
// the heap may grow to the floor before a cycle, and cycles are rarer by
// as much.
//
// The floor costs memory up to its size, never more: once twice the live
// heap is above the floor, the runtime's own pacing (GOGC) applies
// unchanged, and a memory limit (GOMEMLIMIT) always wins over both.
//
// The adjustment is made once per collection cycle, from the runtime's
// figures for that cycle (live heap, stacks and globals scanned), by a
// cleanup the runtime runs after each cycle: no goroutine and no timer.
package gcfloor

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// maxPercent bounds the GC percent the floor sets, whatever the live heap.
const maxPercent = 100_000

// state is the process's one floor: the GC percent is process-wide, so
// several holders (two gateways in one test process) share it, and the
// highest floor held is the one kept.
var state struct {
	mu     sync.Mutex
	holds  map[*int64]struct{}
	base   int  // the GC percent before the first hold, restored after the last
	active bool // a cleanup is armed
	set    int  // the percent last set, or base
	// adjusted, if set (tests), is called after each cycle's adjustment
	// with the percent then in force.
	adjusted func(percent int)
}

// Hold keeps the heap's collection goal at floor bytes or more until
// release is called; release is idempotent. A floor of zero or less holds
// nothing.
func Hold(floor int64) (release func()) {
	if floor <= 0 {
		return func() {}
	}
	h := &floor
	state.mu.Lock()
	defer state.mu.Unlock()
	if state.holds == nil {
		state.holds = make(map[*int64]struct{})
	}
	if len(state.holds) == 0 {
		state.base = currentPercent()
		state.set = state.base
	}
	state.holds[h] = struct{}{}
	if !state.active && state.base >= 0 {
		state.active = true
		arm()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			state.mu.Lock()
			defer state.mu.Unlock()
			delete(state.holds, h)
			if len(state.holds) == 0 && state.set != state.base {
				debug.SetGCPercent(state.base)
				state.set = state.base
			}
		})
	}
}

// sentinel is the object whose cleanup runs after the cycle that finds it
// unreachable. Not a tiny allocation (at most 16 pointer-free bytes),
// which the runtime may batch with a live one, so that its cleanup would
// never run.
type sentinel [64]byte

// arm allocates a sentinel that is dropped at once: the next cycle finds it
// unreachable, and its cleanup adjusts the percent and arms the next.
func arm() {
	runtime.AddCleanup(new(sentinel), func(struct{}) { cycleDone() }, struct{}{})
}

// currentPercent is the GC percent in force (GOGC, or what SetGCPercent
// last set; -1 when off).
func currentPercent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 100
	}
	return int(int64(s[0].Value.Uint64()))
}

var samples = []metrics.Sample{
	{Name: "/gc/heap/live:bytes"},
	{Name: "/gc/scan/stack:bytes"},
	{Name: "/gc/scan/globals:bytes"},
}

// cycleDone runs after a collection cycle: it sets the percent for the
// next one and arms the cleanup again, or stops once nothing is held.
func cycleDone() {
	state.mu.Lock()
	defer state.mu.Unlock()
	if len(state.holds) == 0 {
		state.active = false
		return
	}
	var floor int64
	for h := range state.holds {
		floor = max(floor, *h)
	}
	metrics.Read(samples)
	p := Percent(floor, state.base, samples[0].Value.Uint64(), samples[1].Value.Uint64()+samples[2].Value.Uint64())
	if p != state.set {
		debug.SetGCPercent(p)
		state.set = p
	}
	if state.adjusted != nil {
		state.adjusted(p)
	}
	arm()
}

// Percent is the GC percent that puts the next cycle's goal at floor bytes,
// or base if base already puts it there or beyond. The runtime's goal is
// live + (live + roots) × percent / 100, where roots are the stacks and
// globals the last cycle scanned.
func Percent(floor int64, base int, live, roots uint64) int {
	if base < 0 || floor <= 0 || live >= uint64(floor) {
		return base
	}
	scanned := float64(live + roots)
	if scanned == 0 {
		return maxPercent
	}
	p := math.Ceil(float64(uint64(floor)-live) * 100 / scanned)
	if p <= float64(base) {
		return base
	}
	return int(min(p, maxPercent))
}
